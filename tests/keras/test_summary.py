"""TrainingSummary: one summary event at the end of fit."""

from __future__ import annotations

from typing import Any

import pytest

from alertcb.events import Event
from alertcb.keras import PlateauAlert, TrainingSummary
from tests.keras.helpers import fit, mlp, regression


@pytest.mark.core
def test_summary_after_a_completed_fit(notifier: Any, events: list[Event]) -> None:
    """A completed fit emits exactly one summary with the run's epochs and best metric."""
    x, y = regression(256)
    fit(mlp(), x, y, [TrainingSummary(notifier)], epochs=3, validation_split=0.25)
    summaries = [e for e in events if e.kind == "summary"]
    assert 1 == len(summaries)
    details = summaries[0].details
    assert ("completed", 3, 3) == (details["status"], details["epochs_done"], details["epochs_planned"])
    assert "val_loss" == details["monitor"]["name"]
    assert details["monitor"]["best_value"] is not None
    assert details["batch_loss"]["values"]  # the de-averaged per-batch loss curve


def test_summary_reports_an_early_stop(notifier: Any, events: list[Event]) -> None:
    """When PlateauAlert stops training, the summary says it stopped early."""
    x, y = regression(128, seed=4)
    callbacks = [
        PlateauAlert(notifier, "loss", patience=1, min_delta=0.05, stop_training=True),
        TrainingSummary(notifier),
    ]
    history = fit(mlp(lr=0.003), x, y, callbacks, epochs=40)
    assert len(history.history["loss"]) < 40
    summary = [e for e in events if e.kind == "summary"][0]
    assert "stopped_early" == summary.details["status"]
