"""`HangWatchdog`: alerts while training is stuck, from a background scheduler job."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alertcb.detectors.hang import (
    DEFAULT_CHECKPOINT_TIMEOUT_S,
    DEFAULT_FIRST_STEP_TIMEOUT_S,
    DEFAULT_INTERVAL_S,
    DEFAULT_MIN_TIMEOUT_S,
    DEFAULT_TIMEOUT_MULTIPLIER,
    DEFAULT_VALIDATION_TIMEOUT_S,
    HangMonitor,
    schedule_hang_check,
)
from alertcb.errors import ConfigError
from alertcb.keras._base import AlertCallback
from alertcb.validate import check_number


class HangWatchdog(AlertCallback):
    """Alerts when no batch finished for too long — while the training thread is still stuck.

    Batch hooks only record a timestamp (O(1)). The check runs every ``interval_s`` on
    an APScheduler job of ``notifier.scheduler``, so it fires even when the training
    thread never returns (a sleeping data generator, a hung collective). The alert
    carries the training thread's Python stack (and other busy threads', e.g. the
    ``tf.data`` thread running a generator) in ``details["stack"]`` and the message.
    A ``resolved`` event follows when batches finish again.

    Args:
        notifier: the `alertcb.Notifier` (its ``scheduler`` runs the check).
        timeout_s: fixed timeout between batches; None (default) is adaptive:
            ``timeout_multiplier`` x the median recent step time, at least ``min_timeout_s``.
        timeout_multiplier: defaults to 20.
        min_timeout_s: defaults to 120.
        first_step_timeout_s: budget until the first batch (tracing, compilation). Defaults to 900.
        validation_timeout_s: budget between validation batches. Defaults to 600.
        checkpoint_timeout_s: budget from an epoch's last batch to the next epoch's first
            (epoch-end callbacks, checkpoint saving). Defaults to 600.
        interval_s: how often the check runs. Defaults to 5.
        verbose: 1 also logs alerts. Defaults to 0.

    Example:
        >>> model.fit(x, y, callbacks=[HangWatchdog(notifier, timeout_s=600)])  # doctest: +SKIP
    """

    def __init__(
        self,
        notifier: Any,
        *,
        timeout_s: float | None = None,
        timeout_multiplier: float = DEFAULT_TIMEOUT_MULTIPLIER,
        min_timeout_s: float = DEFAULT_MIN_TIMEOUT_S,
        first_step_timeout_s: float = DEFAULT_FIRST_STEP_TIMEOUT_S,
        validation_timeout_s: float = DEFAULT_VALIDATION_TIMEOUT_S,
        checkpoint_timeout_s: float = DEFAULT_CHECKPOINT_TIMEOUT_S,
        interval_s: float = DEFAULT_INTERVAL_S,
        verbose: int = 0,
    ) -> None:
        super().__init__(notifier, verbose=verbose)
        self.interval_s = check_number("interval_s", interval_s, minimum=0, strict_minimum=True)
        self.monitor = HangMonitor(
            timeout_s=timeout_s,
            timeout_multiplier=timeout_multiplier,
            min_timeout_s=min_timeout_s,
            first_step_timeout_s=first_step_timeout_s,
            validation_timeout_s=validation_timeout_s,
            checkpoint_timeout_s=checkpoint_timeout_s,
            run=self.run,
        )
        if not hasattr(notifier, "scheduler"):
            raise ConfigError(
                "notifier", "expected an alertcb.Notifier (it needs .scheduler for the watchdog job)"
            )
        self._job: Any = None

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        try:
            with self._lock:
                self._begin_training()
                self.monitor.start()
                if self._job is None:
                    self._job = schedule_hang_check(
                        self.notifier.scheduler, self.monitor, self._emit, interval_s=self.interval_s
                    )
        except Exception as exc:  # noqa: BLE001
            self._internal_error("on_train_begin", exc)

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        with self._lock:
            self._begin_epoch(epoch)

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        with self._lock:
            step = self._global_step(batch)
            epoch = self._epoch
        self.monitor.beat(step, epoch)

    def on_test_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        if self._training:
            self.monitor.phase("validation")

    def on_test_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self._training:
            self.monitor.validation_beat()

    def on_test_end(self, logs: Mapping[str, Any] | None = None) -> None:
        if self._training:
            self.monitor.phase("checkpoint")

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self._training:
            self.monitor.phase("checkpoint")

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        try:
            self._training = False
            self.monitor.stop()
            self._emit(self.monitor.check())  # resolves an open hang incident
            job, self._job = self._job, None
            if job is not None:
                job.remove()
        except Exception as exc:  # noqa: BLE001
            self._internal_error("on_train_end", exc)
