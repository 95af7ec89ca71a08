"""`TrainingSummary`: the end-of-training summary, via `alertcb.report.tracker.SummaryTracker`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alertcb.detectors.spike import RunningMeanDecoder
from alertcb.events import to_float
from alertcb.keras._base import AlertCallback
from alertcb.report.tracker import SummaryTracker


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


class TrainingSummary(AlertCallback):
    """Sends one summary at the end of ``fit``: status, epochs, best metric, loss curve, alerts.

    Args:
        notifier: the `alertcb.Notifier`.
        monitor: the metric whose best value is reported. Defaults to ``"val_loss"``
            (``"loss"`` when there is no validation).
        mode: ``"auto"``, ``"min"`` or ``"max"``. Defaults to ``"auto"``.
        keep_batch_losses: points of the per-batch loss curve kept. Defaults to 2000.
        verbose: unused, for symmetry. Defaults to 0.

    Example:
        >>> model.fit(x, y, callbacks=[TrainingSummary(notifier)])  # doctest: +SKIP
    """

    def __init__(
        self,
        notifier: Any,
        *,
        monitor: str = "val_loss",
        mode: str = "auto",
        keep_batch_losses: int = 2000,
        verbose: int = 0,
    ) -> None:
        super().__init__(notifier, verbose=verbose)
        self.tracker = SummaryTracker(
            notifier, monitor=monitor, mode=mode, keep_batch_losses=keep_batch_losses
        )
        self._decoder = RunningMeanDecoder()
        self._epochs_done = 0

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        try:
            with self._lock:
                self._begin_training()
                self._decoder = RunningMeanDecoder(self._steps_per_epoch)
                self._epochs_done = 0
            params = getattr(self, "params", None)
            self.tracker.train_begin(dict(params) if isinstance(params, Mapping) else {})
        except Exception as exc:  # noqa: BLE001
            self._internal_error("on_train_begin", exc)

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        with self._lock:
            self._begin_epoch(epoch)
            self._decoder.reset(self._epoch)

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        try:
            mean = self._value(logs, "loss")
            with self._lock:
                step = self._global_step(batch)
                decoded = self._decoder.decode(batch, mean, self._epoch) if mean is not None else None
            if mean is None or decoded is not None:
                self.tracker.batch_end(step, decoded[0] if decoded is not None else None)
        except Exception as exc:  # noqa: BLE001
            self._internal_error("on_train_batch_end", exc)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        try:
            with self._lock:
                self._epochs_done += 1
            self.tracker.epoch_end(epoch, logs or {}, lr=current_learning_rate(getattr(self, "model", None)))
        except Exception as exc:  # noqa: BLE001
            self._internal_error("on_epoch_end", exc)

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        try:
            params = getattr(self, "params", None) or {}
            planned = params.get("epochs") if isinstance(params, Mapping) else None
            model = getattr(self, "model", None)
            stopped = bool(getattr(model, "stop_training", False))
            if isinstance(planned, int) and planned > 0:
                initial = max(0, self._epoch + 1 - self._epochs_done) if self._epochs_done else 0
                stopped = stopped or initial + self._epochs_done < planned
            self._training = False
            self.tracker.train_end(stopped_early=stopped)
        except Exception as exc:  # noqa: BLE001
            self._internal_error("on_train_end", exc)
