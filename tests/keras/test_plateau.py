"""PlateauAlert decides exactly as keras.callbacks.EarlyStopping does."""

from __future__ import annotations

import types
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alertcb.detectors import PlateauDetector
from alertcb.events import Event
from alertcb.keras import PlateauAlert
from tests.keras.conftest import firing
from tests.keras.helpers import FLAVOUR, fit, keras, mlp, regression

CONFIGS = [
    {"monitor": "loss", "patience": 2, "min_delta": 0.02},
    {"monitor": "val_loss", "patience": 1, "min_delta": 0.01},
    {"monitor": "loss", "patience": 1, "min_delta": 0.02, "baseline": 0.5, "start_from_epoch": 2},
    {"monitor": "val_loss", "patience": 3, "min_delta": 0.01, "baseline": 0.1},
    {"monitor": "val_loss", "patience": 0, "mode": "max"},
]


def slow_learner() -> Any:
    """Loss falls fast, then by ever smaller steps (about 0.01 per epoch after 25 epochs)."""
    return mlp(lr=0.01)


@pytest.mark.core
@pytest.mark.parametrize("params", CONFIGS, ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()))
def test_alert_epoch_matches_early_stopping(
    notifier: Any, events: list[Event], params: dict[str, Any]
) -> None:
    """In the same fit, PlateauAlert fires at exactly the epoch EarlyStopping stops."""
    x, y = regression(128, seed=4)
    early = keras.callbacks.EarlyStopping(**params)
    alert = PlateauAlert(notifier, **params)
    fit(slow_learner(), x, y, [alert, early], epochs=40, validation_split=0.25)
    assert early.stopped_epoch > 0, "the configuration must make EarlyStopping stop"
    assert [early.stopped_epoch] == [e.epoch for e in firing(events, "plateau")]


@pytest.mark.core
def test_stop_training_stops_like_early_stopping(notifier: Any, events: list[Event]) -> None:
    """With stop_training=True training ends at the alert epoch, as EarlyStopping would end it."""
    x, y = regression(128, seed=4)
    history = fit(
        slow_learner(),
        x,
        y,
        [PlateauAlert(notifier, "loss", patience=2, min_delta=0.02, stop_training=True)],
        epochs=40,
    )
    alerts = firing(events, "plateau")
    assert 1 == len(alerts)
    assert len(history.history["loss"]) == (alerts[0].epoch or 0) + 1
    assert "loss stopped improving" == alerts[0].title
    assert alerts[0].details["wait"] >= 2


def test_auto_mode_for_accuracy_is_max(notifier: Any, events: list[Event]) -> None:
    """mode='auto' on an accuracy metric uses the direction Keras infers (maximise)."""
    x, y = regression(128, seed=5)
    labels = (y > 0).astype("float32")
    early = keras.callbacks.EarlyStopping(monitor="accuracy", patience=1)
    alert = PlateauAlert(notifier, "accuracy", patience=1)
    fit(
        mlp(activation="sigmoid", loss="binary_crossentropy", metrics=["accuracy"]),
        x,
        labels,
        [alert, early],
        epochs=30,
    )
    assert "max" == alert.detector.direction
    assert early.stopped_epoch > 0
    assert [early.stopped_epoch] == [e.epoch for e in firing(events, "plateau")]


class _FakeModel:
    stop_training = False
    metrics: list[Any] = []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(st.floats(0.0, 2.0, width=32), min_size=1, max_size=12),
    patience=st.integers(0, 3),
    min_delta=st.sampled_from([0.0, 0.001, 0.1]),
    baseline=st.one_of(st.none(), st.floats(0.25, 1.5, width=32)),
    start_from_epoch=st.integers(0, 3),
    mode=st.sampled_from(["min", "max"]),
)
def test_same_decision_as_early_stopping_on_any_sequence(
    values: list[float],
    patience: int,
    min_delta: float,
    baseline: float | None,
    start_from_epoch: int,
    mode: str,
) -> None:
    """For any finite sequence and parameters, the first alert epoch equals EarlyStopping's first stop epoch."""
    params = {
        "patience": patience,
        "min_delta": min_delta,
        "baseline": baseline,
        "start_from_epoch": start_from_epoch,
        "mode": mode,
    }
    early = keras.callbacks.EarlyStopping(monitor="m", **params)
    early.set_model(types.SimpleNamespace(stop_training=False, metrics=[]))
    early.on_train_begin()
    detector = PlateauDetector("m", float32_compare=FLAVOUR == "keras", **params)  # type: ignore[arg-type]
    stopped = alerted = None
    for epoch, value in enumerate(values):
        early.on_epoch_end(epoch, {"m": value})
        if stopped is None and early.model.stop_training:
            stopped = epoch
        event = detector.observe(epoch, value)
        if alerted is None and event is not None and not event.resolved:
            alerted = epoch
    assert stopped == alerted


def test_nan_is_never_best(notifier: Any, events: list[Event]) -> None:
    """A NaN epoch value never becomes the best value."""
    alert = PlateauAlert(notifier, "val_loss", patience=5)
    alert.set_model(_FakeModel())
    alert.on_train_begin()
    for epoch, value in enumerate([np.float32("nan"), 1.0, 0.9]):
        alert.on_epoch_end(epoch, {"val_loss": value})
    assert 0.9 == pytest.approx(alert.detector.best)
