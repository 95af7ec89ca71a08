"""ThresholdDetector: user rules such as val_loss > 10."""

from __future__ import annotations

import math

import pytest

from alertcb import ConfigError
from alertcb.detectors import ThresholdDetector


def test_above_fires_then_resolves() -> None:
    """val_loss above 10 fires once and resolves when back under."""
    d = ThresholdDetector("val_loss", above=10)
    events = [d.observe(v, epoch=i) for i, v in enumerate([5.0, 12.0, 15.0, 9.0])]
    fired = [(e.status, e.epoch, e.title) for e in events if e is not None]
    assert [("firing", 1, "val_loss above 10"), ("resolved", 3, "val_loss above 10")] == fired
    assert "val_loss 12 at epoch 2 is above the threshold 10" == events[1].message  # type: ignore[union-attr]


def test_below_with_patience() -> None:
    """below= with patience=2 needs two values in a row."""
    d = ThresholdDetector("val_accuracy", below=0.5, patience=2, severity="critical")
    events = [d.observe(v, epoch=i) for i, v in enumerate([0.4, 0.6, 0.4, 0.3])]
    fired = [e for e in events if e is not None]
    assert [3] == [e.epoch for e in fired]
    assert "critical" == str(fired[0].severity)


def test_boundary_is_not_crossed() -> None:
    """Comparisons are strict: exactly the threshold does not fire."""
    assert ThresholdDetector("loss", above=1.0).observe(1.0) is None


def test_nan_and_none_are_ignored() -> None:
    """NaN and missing values neither fire nor resolve."""
    d = ThresholdDetector("loss", above=1.0)
    assert d.observe(math.nan) is None
    assert d.observe(None) is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({}, "above"),
        ({"above": 1, "below": 2}, "below"),
        ({"above": 1, "level": "step"}, "level"),
        ({"above": "x"}, "above"),
    ],
)
def test_bad_arguments_name_the_field(kwargs: dict[str, object], field: str) -> None:
    """Invalid arguments raise ConfigError naming the field."""
    with pytest.raises(ConfigError) as info:
        ThresholdDetector("loss", **kwargs)  # type: ignore[arg-type]
    assert field == info.value.field
