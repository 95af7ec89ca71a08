"""What the engine reads from a Keras model: the all-weights-finite check and the learning rate."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from alertcb.events import to_float
from alertcb.keras._compat import BACKEND, FLAVOUR, keras_module


def make_weights_check(model: Any) -> Callable[[], bool]:
    """A function returning whether every trainable variable of ``model`` is finite.

    One on-device reduction over all variables and one device-to-host transfer of a
    single boolean (a ``tf.function`` on TensorFlow; ``keras.ops`` elsewhere).
    """
    variables = list(model.trainable_variables)
    if not variables:
        return lambda: True
    if BACKEND == "tensorflow":
        import tensorflow as tf

        tensors = [getattr(v, "value", v) if FLAVOUR == "keras" else v for v in variables]

        @tf.function(reduce_retracing=True)
        def all_finite() -> Any:
            return tf.reduce_all(tf.stack([tf.reduce_all(tf.math.is_finite(t)) for t in tensors]))

        return lambda: bool(all_finite())
    ops = keras_module.ops

    def all_finite_ops() -> bool:
        return bool(ops.all(ops.stack([ops.all(ops.isfinite(v)) for v in variables])))

    return all_finite_ops


_checks: weakref.WeakKeyDictionary[Any, tuple[tuple[int, ...], Callable[[], bool]]] = weakref.WeakKeyDictionary()


def cached_weights_check(model: Any) -> Callable[[], bool]:
    """`make_weights_check`, built (and traced) once per model and set of trainable variables."""
    key = tuple(id(v) for v in model.trainable_variables)
    cached = _checks.get(model)
    if cached is None or cached[0] != key:
        cached = (key, make_weights_check(model))
        _checks[model] = cached
    return cached[1]


def current_learning_rate(model: Any) -> float | None:
    """The optimizer's learning rate now (schedules evaluated), or None."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    lr = getattr(optimizer, "learning_rate", None)
    if lr is None:
        lr = getattr(optimizer, "lr", None)
    if callable(lr) and not hasattr(lr, "numpy"):
        try:
            lr = lr(optimizer.iterations)
        except Exception:  # noqa: BLE001 - a schedule we cannot evaluate
            return None
    return to_float(lr)
