"""`NonFiniteAlert`: NaN/Inf in the loss or a metric, and NaN weights behind a finite loss."""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Mapping
from math import isfinite
from typing import Any

from alertcb.detectors.nonfinite import NonFiniteDetector, NonFiniteError
from alertcb.errors import ConfigError
from alertcb.events import Event, to_float
from alertcb.keras._base import AlertCallback
from alertcb.keras._compat import BACKEND, FLAVOUR, keras_module
from alertcb.validate import check_number

POLICIES = ("alert", "stop", "raise")
DEFAULT_CHECK_WEIGHTS_EVERY = 100
DEFAULT_CHECK_WEIGHTS_MIN_INTERVAL_S = 10.0


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


class NonFiniteAlert(AlertCallback):
    """Alerts in the same batch the loss or any metric becomes NaN or Inf.

    Also checks that all trainable weights are finite (one on-device reduction, one
    boolean to the host), which catches a model that is already NaN while its reported
    loss still looks healthy. The check runs when at least ``check_weights_every``
    batches *and* ``check_weights_min_interval_s`` seconds have passed since the last
    one (so fast small models are not checked 10 times a second), and at each epoch end.

    Args:
        notifier: the `alertcb.Notifier`.
        monitor: the metric named first in titles. Defaults to ``"loss"``.
        on_nonfinite: ``"alert"`` (default), ``"stop"`` (also sets
            ``model.stop_training``) or ``"raise"`` (raises `NonFiniteError` after the
            alert, like ``TerminateOnNaN(raise_error=True)``).
        check_weights_every: minimum batches between weight checks; 0 disables. Defaults to 100.
        check_weights_min_interval_s: minimum seconds between weight checks. Defaults to 10.
        verbose: 1 also logs alerts. Defaults to 0.

    Example:
        >>> model.fit(x, y, callbacks=[NonFiniteAlert(notifier, on_nonfinite="stop")])  # doctest: +SKIP
    """

    def __init__(
        self,
        notifier: Any,
        *,
        monitor: str = "loss",
        on_nonfinite: str = "alert",
        check_weights_every: int = DEFAULT_CHECK_WEIGHTS_EVERY,
        check_weights_min_interval_s: float = DEFAULT_CHECK_WEIGHTS_MIN_INTERVAL_S,
        verbose: int = 0,
    ) -> None:
        super().__init__(notifier, verbose=verbose)
        if on_nonfinite not in POLICIES:
            raise ConfigError("on_nonfinite", f"expected 'alert', 'stop' or 'raise', got {on_nonfinite!r}")
        if not isinstance(monitor, str) or not monitor:
            raise ConfigError("monitor", f"expected a metric name such as 'loss', got {monitor!r}")
        self.monitor = monitor
        self.on_nonfinite = on_nonfinite
        self.check_weights_every = check_number(
            "check_weights_every", check_weights_every, minimum=0, integer=True
        )
        self.check_weights_min_interval_s = check_number(
            "check_weights_min_interval_s", check_weights_min_interval_s, minimum=0
        )
        self.detector = NonFiniteDetector(monitor=monitor, run=self.run)
        self._batches = 0
        self._since_check = 0
        self._last_check = 0.0

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        with self._lock:
            self._begin_training()
            self.detector.reset()
            self._batches = 0
            self._since_check = 0
            self._last_check = time.monotonic()

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        with self._lock:
            self._begin_epoch(epoch)

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        event: Event | None = None
        try:
            # Hot path: one float check per logged value, no allocation.
            bad = False
            if logs:
                for value in logs.values():
                    number = value if type(value) is float else to_float(value)
                    if number is not None and not isfinite(number):
                        bad = True
                        break
            with self._lock:
                step = self._global_step(batch)
                detector = self.detector
                if bad or detector.is_open("train"):
                    event = detector.observe(step, self._floats(logs), epoch=self._epoch, scope="train")
                self._batches += 1
                self._since_check += 1
                every = self.check_weights_every
                if every and self._since_check >= every and not detector.active:
                    now = time.monotonic()
                    if now - self._last_check >= self.check_weights_min_interval_s:
                        event = self._check_weights(step, self._floats(logs)) or event
        except Exception as exc:  # noqa: BLE001
            self._internal_error("on_train_batch_end", exc)
            return
        self._act(event)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        event: Event | None = None
        try:
            with self._lock:
                step = self._last_step
                values = self._floats(logs)
                event = self.detector.observe(step, values, epoch=epoch)
                due = time.monotonic() - self._last_check >= self.check_weights_min_interval_s
                if event is None and self.check_weights_every and due and not self.detector.active:
                    # Also at epoch ends (short epochs may never reach check_weights_every), under
                    # the same time floor, so a short fit pays neither the check nor its tracing.
                    event = self._check_weights(step, values)
        except Exception as exc:  # noqa: BLE001
            self._internal_error("on_epoch_end", exc)
            return
        self._act(event)

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        """A last weight check if batches ran since the previous one: a short fit (under the
        time floor) still learns that it ends with NaN weights before they are saved."""
        event: Event | None = None
        try:
            with self._lock:
                if self.check_weights_every and self._since_check and not self.detector.active:
                    event = self._check_weights(self._last_step, self._floats(logs))
        except Exception as exc:  # noqa: BLE001
            self._internal_error("on_train_end", exc)
            return
        self._act(event)

    def _floats(self, logs: Mapping[str, Any] | None) -> dict[str, float]:
        if not logs:
            return {}
        out: dict[str, float] = {}
        for key, value in logs.items():
            number = value if type(value) is float else to_float(value)
            if number is not None:
                out[key] = number
        return out

    def _check_weights(self, step: int, values: dict[str, float]) -> Event | None:
        self._since_check = 0
        self._last_check = time.monotonic()
        model = getattr(self, "model", None)
        if model is None:
            return None
        return self.detector.check_weights(step, cached_weights_check(model)(), epoch=self._epoch, metrics=values)

    def _act(self, event: Event | None) -> None:
        if event is None:
            return
        self._emit(event)
        if event.resolved:
            return
        if self.on_nonfinite == "stop":
            self._stop_training()
        elif self.on_nonfinite == "raise":
            raise NonFiniteError(f"{event.title}: {event.message}")
