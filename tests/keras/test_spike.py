"""LossSpikeAlert and DivergenceAlert on real fits."""

from __future__ import annotations

from typing import Any

import pytest

from alertcb.events import Event
from alertcb.keras import DivergenceAlert, LossSpikeAlert
from tests.keras.conftest import firing
from tests.keras.helpers import LrAt, fit, mlp, regression


@pytest.mark.core
def test_poisoned_batch_fires_once_then_resolves(notifier: Any, events: list[Event]) -> None:
    """Targets x10 in one batch late in an epoch: one spike alert at that batch, then a resolved event."""
    x, y = regression(3200)  # 200 batches of 16
    y[160 * 16 : 161 * 16] *= 10
    fit(mlp(), x, y, [LossSpikeAlert(notifier)])
    spikes = [e for e in events if e.kind == "spike"]
    assert ["firing", "resolved"] == [e.status for e in spikes]
    alert, resolved = spikes
    assert (160, 0, "loss spike", "warning") == (alert.step, alert.epoch, alert.title, str(alert.severity))
    assert alert.details["ratio"] > 100
    assert f"at step 160 is {alert.details['ratio']:,.0f}x the median" in alert.message
    assert alert.details["value"] > 100 * alert.details["baseline"]  # the de-averaged batch loss vs its baseline
    assert alert.details["lr"] == pytest.approx(0.01)  # read from the optimizer when the alert fires
    assert "loss" in alert.metrics
    assert resolved.step is not None and 165 <= resolved.step < 200
    assert alert.fingerprint == resolved.fingerprint


def test_clean_run_is_quiet(notifier: Any, events: list[Event]) -> None:
    """A clean small-batch run raises no spike or divergence alert."""
    x, y = regression(1600, seed=3)
    fit(mlp(), x, y, [LossSpikeAlert(notifier), DivergenceAlert(notifier)], epochs=3, batch_size=8)
    assert [] == firing(events)


def test_steps_per_execution_chunks(notifier: Any, events: list[Event]) -> None:
    """With steps_per_execution=4 a poisoned batch is found in its chunk (step = the chunk's last batch)."""
    x, y = regression(1600, seed=1)
    y[150 * 8 : 151 * 8] *= 100  # batch 150 of 200 (batch size 8), chunk 148..151
    model = mlp(steps_per_execution=4)
    fit(model, x, y, [LossSpikeAlert(notifier)], batch_size=8)
    assert [151] == [e.step for e in firing(events, "spike")]


def test_learning_rate_blowup_diverges(notifier: Any, events: list[Event]) -> None:
    """Adam's learning rate x1000 mid-run: the loss jumps and stays far above its best, a divergence alert follows."""
    x, y = regression(1600, seed=2)
    callbacks = [LrAt(150, 1000.0, 100), DivergenceAlert(notifier), LossSpikeAlert(notifier)]
    fit(mlp(lr=1e-3, optimizer="adam"), x, y, callbacks, epochs=3)
    diverging = firing(events, "divergence")
    assert 1 == len(diverging)
    assert ("loss diverging", "critical") == (diverging[0].title, str(diverging[0].severity))
    assert 150 < (diverging[0].step or 0) < 220
    assert diverging[0].details["ratio"] > 5
    # the first batch trained with the new rate (151) jumps: that is a spike too
    assert [151] == [e.step for e in firing(events, "spike")]
