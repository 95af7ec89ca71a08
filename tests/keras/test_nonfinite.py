"""NonFiniteAlert on real fits: a NaN batch, the policies, and a silent NaN."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import tensorflow as tf

from alertcb import ConfigError
from alertcb.events import Event
from alertcb.keras import NonFiniteAlert, NonFiniteError
from tests.keras.conftest import firing
from tests.keras.helpers import fit, keras, mlp, regression


def nan_batch_data(batch: int, batch_size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """One NaN *target* in ``batch``: it reaches the loss on every CPU.

    A NaN *input* does not: on Intel AVX-512 with oneDNN the fused MatMul+ReLU turns
    NaN into 0, the loss stays finite and only the weights become NaN (the silent path).
    """
    x, y = regression(256)
    y[batch * batch_size] = np.nan
    return x, y


@pytest.mark.core
def test_nan_batch_alerts_in_the_same_batch(notifier: Any, events: list[Event]) -> None:
    """The batch with a NaN target fires 'loss is NaN' at its own step, once, with epoch and metrics."""
    x, y = nan_batch_data(5)
    history = fit(mlp(), x, y, [NonFiniteAlert(notifier)], epochs=2)
    alerts = firing(events, "nonfinite")
    assert [("loss is NaN", 5, 0)] == [(e.title, e.step, e.epoch) for e in alerts]
    assert "critical" == str(alerts[0].severity)
    assert "loss" in alerts[0].metrics
    assert "t" == alerts[0].run.name  # type: ignore[union-attr]
    assert 2 == len(history.history["loss"])  # "alert" does not stop


def test_stop_policy_stops_training(notifier: Any, events: list[Event]) -> None:
    """on_nonfinite='stop' sets model.stop_training at the NaN batch."""
    x, y = nan_batch_data(5)
    history = fit(mlp(), x, y, [NonFiniteAlert(notifier, on_nonfinite="stop")], epochs=3)
    assert 1 == len(history.history["loss"])
    assert 1 == len(firing(events, "nonfinite"))


def test_raise_policy_raises_after_alerting(notifier: Any, events: list[Event]) -> None:
    """on_nonfinite='raise' emits the alert first, then raises NonFiniteError out of fit()."""
    x, y = nan_batch_data(3)
    with pytest.raises(NonFiniteError, match="loss is NaN"):
        fit(mlp(), x, y, [NonFiniteAlert(notifier, on_nonfinite="raise")])
    assert 1 == len(firing(events, "nonfinite"))


def sanitised_bce_model() -> Any:
    """BCE classifier whose hidden activations go through a NaN-to-zero sanitiser."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Lambda(lambda t: tf.where(tf.math.is_finite(t), t, tf.zeros_like(t))),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="binary_crossentropy")
    return model


@pytest.mark.core
def test_silent_nan_weights_behind_a_finite_loss(notifier: Any, events: list[Event]) -> None:
    """NaN input + sanitised activations: loss stays finite (TerminateOnNaN silent), the weight check fires.

    Holds whether or not the CPU kernel masks NaN: with oneDNN's fused MatMul+ReLU the
    hidden activations are already 0, without it the sanitiser zeroes them; either way
    the loss is finite and the first kernel's gradient (x^T @ delta, x NaN) is NaN.
    """
    x, _ = regression(320)
    y = (x[:, :1] > 0).astype("float32")
    x[10 * 16 : 11 * 16] = np.nan
    model = sanitised_bce_model()
    history = fit(
        model,
        x,
        y,
        [
            keras.callbacks.TerminateOnNaN(),
            NonFiniteAlert(notifier, check_weights_every=5, check_weights_min_interval_s=0),
        ],
        epochs=2,
    )
    assert all(np.isfinite(history.history["loss"]))  # the loss never looked wrong
    assert 2 == len(history.history["loss"])  # TerminateOnNaN never fired
    assert not all(np.isfinite(w).all() for w in model.get_weights())
    alerts = firing(events, "nonfinite")
    assert ["model weights are not finite"] == [e.title for e in alerts]
    assert 10 <= (alerts[0].step or 0) < 15  # first check after the NaN batch
    assert "still looks finite" in alerts[0].message


def test_weights_check_sees_one_nan_weight(notifier: Any) -> None:
    """The weight check is True on a healthy model and False once one weight is NaN (its cost is in bench/)."""
    from alertcb.keras.nonfinite import make_weights_check

    model = mlp()
    check = make_weights_check(model)
    assert check() is True
    kernel = model.layers[0].kernel
    value = np.array(kernel.numpy())
    value[3, 2] = np.nan
    kernel.assign(value)
    assert check() is False


@pytest.mark.core
def test_nan_input_row_is_alerted_on_any_cpu(notifier: Any, events: list[Event]) -> None:
    """A NaN input row is alerted whether the kernel masks it (silent: weights) or not (loud: loss).

    On Intel AVX-512/oneDNN the loss stays finite and the weights go NaN; elsewhere the
    loss is NaN. Either way exactly one non-finite incident opens within a few batches.
    """
    x, y = regression(320)
    x[10 * 16] = np.nan
    fit(mlp(), x, y, [NonFiniteAlert(notifier, check_weights_every=1, check_weights_min_interval_s=0)])
    alerts = firing(events, "nonfinite")
    assert 1 == len(alerts), [e.title for e in alerts]
    assert alerts[0].title in ("loss is NaN", "model weights are not finite")
    assert 10 <= (alerts[0].step or 0) <= 11


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"on_nonfinite": "explode"}, "on_nonfinite"),
        ({"check_weights_every": -1}, "check_weights_every"),
        ({"check_weights_min_interval_s": -1}, "check_weights_min_interval_s"),
        ({"verbose": "x"}, "verbose"),
    ],
)
def test_bad_arguments_name_the_field(notifier: Any, kwargs: dict[str, Any], field: str) -> None:
    """Constructor arguments are validated at construction, naming the field."""
    with pytest.raises(ConfigError) as info:
        NonFiniteAlert(notifier, **kwargs)
    assert field == info.value.field
