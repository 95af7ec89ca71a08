"""`HangWatchdog`: alerts while training is stuck, from a background scheduler job."""

from __future__ import annotations

from typing import Any

from alertcb.detectors.hang import (
    DEFAULT_CHECKPOINT_TIMEOUT_S,
    DEFAULT_FIRST_STEP_TIMEOUT_S,
    DEFAULT_INTERVAL_S,
    DEFAULT_MIN_TIMEOUT_S,
    DEFAULT_TIMEOUT_MULTIPLIER,
    DEFAULT_VALIDATION_TIMEOUT_S,
    HangMonitor,
)
from alertcb.errors import ConfigError
from alertcb.keras._preset import Preset
from alertcb.validate import check_number


def parts(notifier: Any, *, interval_s: float = DEFAULT_INTERVAL_S, **options: Any) -> dict[str, Any]:
    """`Monitor` arguments of `HangWatchdog`: ``options`` are `HangMonitor` arguments."""
    interval = check_number("interval_s", interval_s, minimum=0, strict_minimum=True)
    monitor = HangMonitor(**options)
    if notifier is not None and not hasattr(notifier, "scheduler"):
        raise ConfigError("notifier", "expected an alertcb.Notifier (it needs .scheduler for the watchdog job)")
    return {"hang": monitor, "hang_interval_s": interval}


class HangWatchdog(Preset):
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
        super().__init__(
            notifier,
            parts,
            timeout_s=timeout_s,
            timeout_multiplier=timeout_multiplier,
            min_timeout_s=min_timeout_s,
            first_step_timeout_s=first_step_timeout_s,
            validation_timeout_s=validation_timeout_s,
            checkpoint_timeout_s=checkpoint_timeout_s,
            interval_s=interval_s,
            verbose=verbose,
        )
        self.monitor: HangMonitor = self.engine.hang  # type: ignore[assignment]
        self.interval_s = self.engine.hang_interval_s
