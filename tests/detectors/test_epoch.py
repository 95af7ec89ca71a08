"""ValAnomalyDetector and OverfittingDetector on plain number sequences."""

from __future__ import annotations

import random

import pytest

from alertcb import ConfigError
from alertcb.detectors import OverfittingDetector, ValAnomalyDetector
from alertcb.events import Event


def run(detector: ValAnomalyDetector, values: list[float]) -> list[Event]:
    events = [detector.observe(epoch, value, step=100 * (epoch + 1) - 1) for epoch, value in enumerate(values)]
    return [e for e in events if e is not None]


def test_corrupted_validation_labels_fire_at_that_epoch() -> None:
    """val_loss 0.33 -> 6.2 at epoch index 5: one alert at that epoch, with its step, 1-based in the text."""
    values = [0.9, 0.6, 0.45, 0.38, 0.33, 6.2, 6.3, 6.1]
    events = run(ValAnomalyDetector(), values)
    firing = [e for e in events if not e.resolved]
    assert [(5, 599, "val_loss jumped")] == [(e.epoch, e.step, e.title) for e in firing]
    assert "at epoch 6 " in firing[0].message
    assert 6.2 == firing[0].details["value"]
    assert firing[0].details["baseline"] == pytest.approx(0.38)


def test_val_set_shift_of_2x_fires() -> None:
    """A validation-set shift doubling val_loss after a settled run fires at that epoch."""
    values = [1.0, 0.7, 0.6, 0.55, 0.53, 0.52, 0.52, 1.1]
    assert [7] == [e.epoch for e in run(ValAnomalyDetector(), values) if not e.resolved]


def test_shift_during_a_steady_improvement_fires_at_that_epoch() -> None:
    """val_loss falling ~0.3 per epoch, then a val-set shift (1.8 -> 3.1) at epoch index 7.

    The falls are a trend, not noise: measured as plain epoch-to-epoch changes they set a
    scale of ~0.3, 6x of which hid this jump until the next epoch (a real recorded run).
    """
    values = [3.642, 3.244, 2.907, 2.607, 2.322, 2.056, 1.808, 3.090, 4.387, 6.113]
    assert [7] == [e.epoch for e in run(ValAnomalyDetector(), values) if not e.resolved][:1]


def test_noisy_small_validation_sets_stay_quiet() -> None:
    """1,000 clean epochs of a noisy val_loss (sd 15%, with a slow trend) give at most one alarm."""
    rng = random.Random(0)
    alarms = 0
    for _ in range(50):
        values = [0.5 * (1 + 2 * 0.7 ** (e / 3)) * (1 + rng.gauss(0, 0.15)) for e in range(20)]
        alarms += len([e for e in run(ValAnomalyDetector(), values) if not e.resolved])
    assert alarms <= 1


@pytest.mark.parametrize("values", [[0.0] * 30, [-1.5] * 30, [-(i % 3) - 2.0 for i in range(30)]])
def test_negative_and_constant_losses_never_raise_nor_alarm(values: list[float]) -> None:
    """Zero-variance and negative losses: no exception, no alert."""
    assert [] == run(ValAnomalyDetector(), values)


def test_accuracy_drop_fires_in_max_mode() -> None:
    """val_accuracy (mode inferred: max) collapsing from 0.9 to 0.3 fires."""
    values = [0.5, 0.7, 0.8, 0.85, 0.88, 0.3]
    assert [5] == [e.epoch for e in run(ValAnomalyDetector("val_accuracy"), values) if not e.resolved]


def test_recovery_resolves() -> None:
    """Back in the usual range: a resolved event."""
    events = run(ValAnomalyDetector(), [0.9, 0.6, 0.45, 0.38, 0.33, 6.2, 0.34])
    assert ["firing", "resolved"] == [e.status for e in events]


def test_overfitting_after_k_epochs() -> None:
    """Training loss keeps improving while val_loss keeps worsening for k=3 epochs: one warning."""
    d = OverfittingDetector(patience=3)
    train = [1.0, 0.8, 0.6, 0.5, 0.4, 0.35, 0.3]
    val = [1.0, 0.9, 0.95, 1.0, 1.1, 1.2, 1.3]
    events = [d.observe(e, {"loss": a, "val_loss": b}, step=e * 10) for e, (a, b) in enumerate(zip(train, val, strict=True))]
    fired = [e for e in events if e is not None]
    assert [(4, 40, "overfitting")] == [(e.epoch, e.step, e.kind) for e in fired]
    assert "at epoch 5 " in fired[0].message and "best 0.9 at epoch 2" in fired[0].message


def test_overfitting_needs_training_to_improve() -> None:
    """val_loss rising while the training loss rises too is not overfitting."""
    d = OverfittingDetector(patience=2)
    rows = [(1.0, 1.0), (0.9, 0.9), (1.0, 1.0), (1.1, 1.1), (1.2, 1.2)]
    assert all(d.observe(e, {"loss": a, "val_loss": b}) is None for e, (a, b) in enumerate(rows))


@pytest.mark.parametrize(
    ("cls", "kwargs", "field"),
    [
        (ValAnomalyDetector, {"sensitivity": 0}, "sensitivity"),
        (ValAnomalyDetector, {"mode": "up"}, "mode"),
        (ValAnomalyDetector, {"monitor": ""}, "monitor"),
        (ValAnomalyDetector, {"min_epochs": 1}, "min_epochs"),
        (OverfittingDetector, {"patience": 0}, "patience"),
        (OverfittingDetector, {"min_rise": -1}, "min_rise"),
    ],
)
def test_bad_arguments_name_the_field(cls: type, kwargs: dict[str, object], field: str) -> None:
    """Constructor errors are ConfigError naming the field."""
    with pytest.raises(ConfigError) as info:
        cls(**kwargs)
    assert field == info.value.field
