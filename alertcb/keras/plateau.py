"""`PlateauAlert`: ``EarlyStopping`` semantics, but it alerts (and optionally stops)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from alertcb.detectors.plateau import PlateauDetector, infer_mode
from alertcb.keras._base import AlertCallback
from alertcb.keras._compat import FLAVOUR

logger = logging.getLogger("alertcb")


def keras_direction(model: Any, monitor: str) -> str | None:
    """The direction Keras itself infers for ``mode="auto"``, or None if it cannot.

    Keras 3: ``loss`` is minimised; otherwise the compiled metric of that name says
    (``_direction``). tf_keras: names ending in ``acc``/``accuracy``/``auc`` are
    maximised, everything else minimised.
    """
    if FLAVOUR == "tf_keras":
        return "max" if monitor.endswith(("acc", "accuracy", "auc")) else "min"
    name = monitor.removeprefix("val_")
    direction = "min" if name == "loss" else None
    metrics: list[Any] = []
    for metric in getattr(model, "metrics", None) or []:
        inner = getattr(metric, "metrics", None)
        if isinstance(inner, (list, tuple)):
            metrics.extend(inner)
    for metric in metrics:
        if getattr(metric, "name", None) == name and hasattr(metric, "_direction"):
            direction = "max" if metric._direction == "up" else "min"
    return direction


class PlateauAlert(AlertCallback):
    """Alerts at the epoch at which ``keras.callbacks.EarlyStopping`` would stop training.

    Same parameters and the same decision as ``EarlyStopping`` (see
    `alertcb.detectors.PlateauDetector`), except that a NaN never becomes the best
    value. One alert per plateau; a ``resolved`` event if the metric improves again.

    Args:
        notifier: the `alertcb.Notifier`.
        monitor: quantity in the epoch logs. Defaults to ``"val_loss"``.
        min_delta: smallest change counted as an improvement. Defaults to 0.
        patience: epochs without improvement before alerting. Defaults to 0.
        verbose: 1 also logs alerts. Defaults to 0.
        mode: ``"auto"``, ``"min"`` or ``"max"``. Defaults to ``"auto"`` (as Keras infers it).
        baseline: a value the metric must beat. Defaults to None.
        start_from_epoch: epochs ignored at the start. Defaults to 0.
        stop_training: also stop training, as ``EarlyStopping`` would. Defaults to False.
        severity: defaults to ``"warning"``.

    Example:
        >>> PlateauAlert(notifier, monitor="val_loss", patience=5, min_delta=1e-3)  # doctest: +SKIP
    """

    def __init__(
        self,
        notifier: Any,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        start_from_epoch: int = 0,
        *,
        stop_training: bool = False,
        severity: str = "warning",
    ) -> None:
        super().__init__(notifier, verbose=verbose)
        self.detector = PlateauDetector(
            monitor,
            mode=mode,
            min_delta=min_delta,
            patience=patience,
            baseline=baseline,
            start_from_epoch=start_from_epoch,
            float32_compare=FLAVOUR == "keras",
            severity=severity,
            run=self.run,
        )
        self.monitor = monitor
        self.mode = mode
        self.stop_training = bool(stop_training)
        self._direction_set = mode != "auto"
        self._warned_missing = False

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        with self._lock:
            self._begin_training()
            self.detector.reset()

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        with self._lock:
            self._begin_epoch(epoch)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        try:
            with self._lock:
                if not self._direction_set:
                    direction = keras_direction(getattr(self, "model", None), self.monitor)
                    if direction is None:
                        direction = infer_mode(self.monitor)
                        logger.warning(
                            "alertcb PlateauAlert: cannot tell whether %r should go up or down; assuming "
                            "mode=%r (pass mode='min' or mode='max')",
                            self.monitor,
                            direction,
                        )
                    self.detector.set_direction(direction)
                    self._direction_set = True
                value = self._value(logs, self.monitor)
                if value is None:
                    if not self._warned_missing and logs:
                        self._warned_missing = True
                        logger.warning(
                            "alertcb PlateauAlert: %r is not in the epoch logs (available: %s)",
                            self.monitor,
                            ", ".join(sorted(map(str, logs))),
                        )
                    return
                event = self.detector.observe(epoch, value, step=self._last_step, metrics=logs)
        except Exception as exc:  # noqa: BLE001
            self._internal_error("on_epoch_end", exc)
            return
        if event is not None:
            self._emit(event)
            if self.stop_training and not event.resolved:
                self._stop_training()
