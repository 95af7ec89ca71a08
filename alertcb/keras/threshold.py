"""`ThresholdAlert`: rules such as "warn when val_loss > 10"."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alertcb.detectors.threshold import ThresholdDetector
from alertcb.errors import ConfigError
from alertcb.keras._base import AlertCallback


class ThresholdAlert(AlertCallback):
    """Alerts when ``monitor`` goes above ``above`` or below ``below``; resolves when back.

    Args:
        notifier: the `alertcb.Notifier`.
        monitor: the metric. Defaults to ``"val_loss"``.
        above: alert when the value is greater than this.
        below: alert when the value is less than this.
        level: ``"epoch"`` (epoch logs, default) or ``"batch"`` (batch logs: Keras reports
            the running mean of the epoch so far).
        patience: consecutive observations outside the bounds before alerting. Defaults to 1.
        severity: ``"info"``, ``"warning"`` (default) or ``"critical"``.
        verbose: 1 also logs alerts. Defaults to 0.

    Example:
        >>> ThresholdAlert(notifier, monitor="val_loss", above=10)  # doctest: +SKIP
    """

    def __init__(
        self,
        notifier: Any,
        monitor: str = "val_loss",
        *,
        above: float | None = None,
        below: float | None = None,
        level: str = "epoch",
        patience: int = 1,
        severity: str = "warning",
        verbose: int = 0,
    ) -> None:
        super().__init__(notifier, verbose=verbose)
        self.detector = ThresholdDetector(
            monitor, above=above, below=below, level=level, patience=patience, severity=severity, run=self.run
        )
        if level == "batch" and monitor.startswith("val_"):
            raise ConfigError("level", f"{monitor!r} is only in epoch logs; use level='epoch'")
        self.monitor = monitor
        self.level = level

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        with self._lock:
            self._begin_training()
            self.detector.reset()

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        with self._lock:
            self._begin_epoch(epoch)

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self.level != "batch":
            return
        try:
            value = self._value(logs, self.monitor)
            if value is None:
                return
            with self._lock:
                step = self._global_step(batch)
                event = self.detector.observe(value, step=step, epoch=self._epoch, metrics=logs)
        except Exception as exc:  # noqa: BLE001
            self._internal_error("on_train_batch_end", exc)
            return
        self._emit(event)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self.level != "epoch":
            return
        try:
            value = self._value(logs, self.monitor)
            with self._lock:
                event = self.detector.observe(value, step=self._last_step, epoch=epoch, metrics=logs)
        except Exception as exc:  # noqa: BLE001
            self._internal_error("on_epoch_end", exc)
            return
        self._emit(event)
