"""Epoch-level detection on real fits: val_loss anomaly, overfitting, unknown monitor names, steps."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from alertcb.events import Event
from alertcb.keras import PlateauAlert, ThresholdAlert, TrainingSummary, ValAnomalyAlert, default_callbacks
from tests.keras.conftest import firing
from tests.keras.helpers import fit, keras, mlp, regression


def corrupt_from(x: np.ndarray, y: np.ndarray, start: int) -> tuple[Any, Any]:
    """A validation PyDataset whose targets are corrupted from epoch ``start`` (0-based), and the
    callback telling it the epoch (Keras 3 only: PyDataset)."""

    class CorruptFrom(keras.utils.PyDataset):  # type: ignore[misc,name-defined,unused-ignore]
        def __init__(self) -> None:
            super().__init__()
            self.epoch = 0

        def __len__(self) -> int:
            return 4

        def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
            sl = slice(i * 16, (i + 1) * 16)
            targets = y[sl]
            if self.epoch >= start:
                targets = -3.0 * targets + 5.0  # corrupted labels
            return x[sl], targets

    data = CorruptFrom()

    class TellEpoch(keras.callbacks.Callback):  # type: ignore[misc,name-defined,unused-ignore]
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            data.epoch = epoch

    return data, TellEpoch()


@pytest.mark.skipif(not hasattr(keras.utils, "PyDataset"), reason="PyDataset is Keras 3 only")
def test_corrupted_validation_labels_alert_at_that_epoch(notifier: Any, events: list[Event]) -> None:
    """Validation labels corrupted from epoch index 5: val_anomaly at that epoch's end, with its global step."""
    x, y = regression(576, seed=1)
    val, tell = corrupt_from(x[512:], y[512:], start=5)
    callbacks = [tell, *default_callbacks(notifier, hang=False)]
    fit(mlp(), x[:512], y[:512], callbacks, epochs=7, validation_data=val)
    alerts = firing(events, "val_anomaly")
    assert [(5, 6 * 32 - 1)] == [(e.epoch, e.step) for e in alerts]
    assert "at epoch 6 " in alerts[0].message  # people count epochs from 1
    assert alerts[0].details["value"] > 3 * alerts[0].details["baseline"]
    assert [] == firing(events, "spike") + firing(events, "divergence") + firing(events, "nonfinite")


def test_clean_fit_with_validation_is_quiet(notifier: Any, events: list[Event]) -> None:
    """A clean fit with a small validation split raises no alert of any kind."""
    x, y = regression(640, seed=2)
    fit(mlp(), x, y, default_callbacks(notifier, hang=False, overfitting=True), epochs=6, validation_split=0.1)
    assert [] == [e for e in firing(events) if e.kind not in ("summary",)]


@pytest.mark.core
@pytest.mark.parametrize(
    "make",
    [
        lambda n: ThresholdAlert(n, "val_los", above=1.0),
        lambda n: TrainingSummary(n, monitor="val_los"),
        lambda n: ValAnomalyAlert(n, monitor="val_los"),
        lambda n: PlateauAlert(n, monitor="val_los"),
    ],
    ids=["threshold", "summary", "val_anomaly", "plateau"],
)
def test_unknown_monitor_reported_once(notifier: Any, caplog: pytest.LogCaptureFixture, make: Any) -> None:
    """A monitor typo ('val_los') warns once, at the first epoch end lacking it, naming what exists;
    nothing raises and nothing alerts."""
    x, y = regression(256)
    with caplog.at_level("WARNING", logger="alertcb"):
        fit(mlp(), x, y, [make(notifier)], epochs=3, validation_split=0.25)
    warnings = [r.getMessage() for r in caplog.records if "'val_los'" in r.getMessage()]
    assert 1 == len(warnings)
    assert "val_loss" in warnings[0]


def test_summary_without_validation_does_not_warn(notifier: Any, caplog: pytest.LogCaptureFixture) -> None:
    """The summary's default monitor (val_loss) is not a typo when no validation runs."""
    x, y = regression(256)
    with caplog.at_level("WARNING", logger="alertcb"):
        fit(mlp(), x, y, default_callbacks(notifier, hang=False), epochs=2)
    assert [] == [r.getMessage() for r in caplog.records if "not in the" in r.getMessage()]
