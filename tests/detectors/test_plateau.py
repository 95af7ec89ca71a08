"""PlateauDetector: EarlyStopping's decision, as an alert."""

from __future__ import annotations

import math

import pytest

from alertcb import ConfigError
from alertcb.detectors import PlateauDetector, infer_mode


def first_alert(d: PlateauDetector, values: list[float | None]) -> int | None:
    for epoch, value in enumerate(values):
        event = d.observe(epoch, value)
        if event is not None and not event.resolved:
            return epoch
    return None


def test_patience_counts_epochs_without_improvement() -> None:
    """With patience=2 the alert comes at the second epoch without improvement."""
    d = PlateauDetector("val_loss", patience=2)
    assert 4 == first_alert(d, [1.0, 0.8, 0.7, 0.75, 0.71, 0.6])
    assert 4 == d.stopped_epoch and d.should_stop


def test_min_delta_requires_a_large_enough_improvement() -> None:
    """An improvement smaller than min_delta counts as no improvement."""
    d = PlateauDetector("val_loss", patience=1, min_delta=0.05)
    assert 1 == first_alert(d, [1.0, 0.97, 0.5])


def test_mode_max_for_accuracy() -> None:
    """mode auto treats *accuracy as maximised."""
    d = PlateauDetector("val_accuracy", patience=1)
    assert "max" == d.direction
    assert 2 == first_alert(d, [0.5, 0.6, 0.55])


def test_baseline_must_be_beaten() -> None:
    """With a baseline, improvements that do not beat it still count toward patience."""
    d = PlateauDetector("val_loss", patience=2, baseline=0.5)
    # 0.9, 0.8, 0.7 improve on the best but not on the baseline; keras stops only on a
    # non-improving epoch once wait >= patience.
    assert 3 == first_alert(d, [0.9, 0.8, 0.7, 0.75])


def test_start_from_epoch_ignores_early_epochs() -> None:
    """Epochs before start_from_epoch are not counted."""
    d = PlateauDetector("loss", patience=0, start_from_epoch=3)
    assert 4 == first_alert(d, [1.0, 2.0, 3.0, 0.5, 0.6])


def test_patience_zero_never_fires_at_epoch_zero() -> None:
    """Like Keras, the stop condition needs epoch > 0."""
    d = PlateauDetector("loss", patience=0)
    assert d.observe(0, 1.0) is None


def test_nan_never_becomes_best() -> None:
    """A NaN is never an improvement: the finite best survives and NaN epochs count as waiting."""
    d = PlateauDetector("val_loss", patience=2)
    assert 2 == first_alert(d, [1.0, math.nan, math.nan, 0.5])
    assert 1.0 == d.best


def test_nan_first_value_is_not_best() -> None:
    """Unlike Keras 3, a NaN first value does not become best; the next finite value does."""
    d = PlateauDetector("val_loss", patience=5)
    d.observe(0, math.nan)
    d.observe(1, 2.0)
    assert 2.0 == d.best


def test_missing_values_are_skipped() -> None:
    """None (metric absent that epoch) changes nothing."""
    d = PlateauDetector("val_loss", patience=1)
    assert 3 == first_alert(d, [1.0, None, 0.9, 0.95])


def test_one_alert_then_resolved_on_improvement() -> None:
    """After the alert, further flat epochs are quiet; an improvement resolves it."""
    d = PlateauDetector("loss", patience=1)
    events = [d.observe(e, v) for e, v in enumerate([1.0, 1.0, 1.0, 1.0, 0.5])]
    assert [None, "firing", None, None, "resolved"] == [e.status if e else None for e in events]
    assert "loss stopped improving" == events[1].title  # type: ignore[union-attr]
    assert "loss has not decreased for 1 epoch(s): 1 at epoch 2, best 1 at epoch 1" == events[1].message  # type: ignore[union-attr]


def test_reset_allows_reuse() -> None:
    """reset() starts a fresh fit."""
    d = PlateauDetector("loss", patience=1)
    first_alert(d, [1.0, 1.0])
    d.reset()
    assert (0, None, 0) == (d.wait, d.best, d.stopped_epoch)


def test_float32_comparison_like_keras3() -> None:
    """With float32_compare, a difference invisible in float32 is no improvement."""
    d32 = PlateauDetector("loss", patience=0, float32_compare=True)
    d64 = PlateauDetector("loss", patience=0)
    for d in (d32, d64):
        d.observe(0, 0.3)
    assert d32.observe(1, 0.3 - 1e-12) is not None
    assert d64.observe(1, 0.3 - 1e-12) is None


@pytest.mark.parametrize(
    ("name", "mode"),
    [
        ("loss", "min"),
        ("val_loss", "min"),
        ("val_accuracy", "max"),
        ("acc", "max"),
        ("val_auc", "max"),
        ("mae", "min"),
    ],
)
def test_infer_mode(name: str, mode: str) -> None:
    """auto mode follows the metric name."""
    assert mode == infer_mode(name)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"mode": "up"}, "mode"),
        ({"patience": -1}, "patience"),
        ({"patience": 1.5}, "patience"),
        ({"min_delta": "a"}, "min_delta"),
    ],
)
def test_bad_arguments_name_the_field(kwargs: dict[str, object], field: str) -> None:
    """Invalid arguments raise ConfigError naming the field."""
    with pytest.raises(ConfigError) as info:
        PlateauDetector("loss", **kwargs)  # type: ignore[arg-type]
    assert field == info.value.field
