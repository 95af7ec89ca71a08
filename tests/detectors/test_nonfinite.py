"""NonFiniteDetector: NaN/Inf in the loss or a metric, and silent NaN in the weights."""

from __future__ import annotations

import math

from alertcb.detectors import NonFiniteDetector
from alertcb.events import RunInfo

NAN = math.nan


def test_nan_loss_fires_in_the_same_batch() -> None:
    """The batch whose loss is NaN fires 'loss is NaN' (critical)."""
    d = NonFiniteDetector()
    assert d.observe(0, {"loss": 0.5}) is None
    event = d.observe(1, {"loss": NAN, "accuracy": 0.5}, epoch=0)
    assert event is not None
    assert ("loss is NaN", "critical", 1, 0) == (event.title, str(event.severity), event.step, event.epoch)
    assert "loss became NaN at step 1" == event.message


def test_inf_metric_fires_with_its_name() -> None:
    """A metric that becomes Inf is named in the title."""
    event = NonFiniteDetector().observe(3, {"loss": 1.0, "mae": math.inf})
    assert event is not None and "mae is Inf" == event.title


def test_one_alert_per_incident_then_resolved() -> None:
    """Repeated NaN batches give one alert; the first all-finite batch resolves it."""
    d = NonFiniteDetector()
    events = [d.observe(i, {"loss": v}) for i, v in enumerate([1.0, NAN, NAN, NAN, 0.7])]
    fired = [(e.status, e.step) for e in events if e is not None]
    assert [("firing", 1), ("resolved", 4)] == fired


def test_loss_named_first_when_several_are_nonfinite() -> None:
    """When loss and a metric are both NaN, the title names the loss and the message lists the other."""
    event = NonFiniteDetector().observe(0, {"mae": NAN, "loss": NAN})
    assert event is not None
    assert "loss is NaN" == event.title
    assert "also mae NaN" in event.message


def test_validation_is_a_separate_incident() -> None:
    """val_loss NaN at epoch end does not flap against finite training batches."""
    d = NonFiniteDetector()
    val = d.observe(9, {"loss": 0.5, "val_loss": NAN}, epoch=0)
    assert val is not None and "val_loss is NaN" == val.title
    assert d.observe(10, {"loss": 0.4}, epoch=1, scope="train") is None
    resolved = d.observe(19, {"loss": 0.4, "val_loss": 0.6}, epoch=1)
    assert resolved is not None and resolved.resolved and "val_loss is NaN" == resolved.title


def test_silent_nan_in_weights_while_loss_is_finite() -> None:
    """Non-finite weights fire even though the loss is 0.693 and finite."""
    d = NonFiniteDetector(run=RunInfo(name="r"))
    event = d.check_weights(500, False, epoch=2, metrics={"loss": 0.6931})
    assert event is not None
    assert "model weights are not finite" == event.title
    assert "while loss 0.693 still looks finite" in event.message
    assert event.details["silent"] is True
    assert d.check_weights(600, False) is None
    resolved = d.check_weights(700, True)
    assert resolved is not None and resolved.resolved


def test_all_finite_is_the_fast_path() -> None:
    """All-finite batches return None and open nothing."""
    d = NonFiniteDetector()
    for i in range(100):
        assert d.observe(i, {"loss": 0.1, "accuracy": 0.9}) is None
    assert not d.active
