"""Construction helpers of `Monitor`: detector arguments and the summary tracker."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from typing import Any

from alertcb.detectors.defaults import VAL_MONITOR
from alertcb.detectors.hang import HangMonitor, schedule_hang_check
from alertcb.detectors.nonfinite import NonFiniteError
from alertcb.errors import ConfigError
from alertcb.events import Event
from alertcb.validate import check_number

logger = logging.getLogger("alertcb")
#: Event kinds whose details get the learning rate (``details["lr"]``) when it is readable.
LR_KINDS = frozenset({"spike", "divergence", "val_anomaly", "overfitting"})


def instance(field: str, value: Any, cls: type[Any]) -> Any:
    """``value`` if it is None or a ``cls``; else ConfigError naming ``field``."""
    if value is not None and not isinstance(value, cls):
        raise ConfigError(field, f"expected a {cls.__name__} or None, got {value!r}")
    return value


def hang_from(hang: Any, timeout_s: float | None) -> HangMonitor | None:
    """The watchdog from ``hang=`` or ``hang_timeout_s=`` (not both)."""
    if hang is not None and timeout_s is not None:
        raise ConfigError("hang_timeout_s", "pass either hang_timeout_s or hang, not both")
    if hang is None and timeout_s is not None:
        return HangMonitor(timeout_s=check_number("hang_timeout_s", timeout_s, minimum=0, strict_minimum=True))
    result: HangMonitor | None = instance("hang", hang, HangMonitor)
    return result


def with_lr(events: list[Event], reader: Callable[[], float | None] | None) -> list[Event]:
    """Put the current learning rate in ``details["lr"]`` of firing spike/divergence/epoch alerts."""
    if reader is None or not any(e.kind in LR_KINDS and not e.resolved for e in events):
        return events
    try:
        lr = reader()
    except Exception:  # noqa: BLE001 - an optimizer we cannot read
        return events
    if lr is None:
        return events
    return [
        dataclasses.replace(e, details={**e.details, "lr": lr}) if e.kind in LR_KINDS and not e.resolved else e
        for e in events
    ]


def expects(name: str, values: Mapping[str, float]) -> bool:
    """Whether ``name`` should be in these epoch logs: the default ``val_loss`` only once
    validation runs (some ``val_*`` present); any other name always (else a typo)."""
    return name in values or name != VAL_MONITOR or any(k.startswith("val_") for k in values)


class MissingNames:
    """Reports once per name that a monitored metric is not in the logs (``val_los``)."""

    def __init__(self) -> None:
        self.reported: set[str] = set()

    def report(self, name: str, values: Mapping[str, float], where: str) -> None:
        if name in self.reported or not values:
            return
        self.reported.add(name)
        logger.warning(
            "alertcb: %r is not in the %s logs, so nothing watches it (available: %s)",
            name,
            where,
            ", ".join(sorted(values)),
        )


def pick(field: str, value: Any, cls: type[Any], **defaults: Any) -> Any:
    """None for False/None, ``cls(**defaults)`` for True, ``value`` if it is a ``cls``; else ConfigError."""
    if value is True:
        return cls(**defaults)
    if value is False or value is None:
        return None
    if isinstance(value, cls):
        return value
    raise ConfigError(field, f"expected True, False or a {cls.__name__}, got {value!r}")


def tracker(notifier: Any, summary: Any) -> Any:
    """The `SummaryTracker` for ``summary=`` (True, False, a tracker or a dict of its arguments)."""
    if summary is False or summary is None:
        return None
    from alertcb.report.tracker import SummaryTracker

    if summary is True:
        return SummaryTracker(notifier)
    if isinstance(summary, SummaryTracker):
        return summary
    if isinstance(summary, Mapping):
        try:
            return SummaryTracker(notifier, **summary)
        except ConfigError as exc:
            raise exc.with_prefix("summary") from None
        except TypeError as exc:
            raise ConfigError("summary", f"bad arguments for SummaryTracker: {exc}") from None
    raise ConfigError("summary", f"expected True, False, a SummaryTracker or a dict, got {summary!r}")


class WatchdogHooks:
    """`Monitor`'s hang-watchdog plumbing: slow phases and the scheduler job."""

    hang: HangMonitor | None
    notifier: Any
    hang_interval_s: float
    _job: Any

    def _emit(self, event: Event | None) -> None:
        raise NotImplementedError

    def phase(self, name: str) -> None:
        """Tell the hang watchdog about a slow phase: ``"validation"``, ``"checkpoint"``, ``"train"``."""
        if self.hang is not None:
            self.hang.phase(name)

    def validation_batch_end(self) -> None:
        """One validation batch finished (the watchdog's validation budget restarts)."""
        if self.hang is not None:
            self.hang.validation_beat()

    def _schedule(self) -> None:
        if self._job is None and self.hang is not None:
            self._job = schedule_hang_check(
                self.notifier.scheduler, self.hang, self._emit, interval_s=self.hang_interval_s
            )

    def _unschedule(self) -> None:
        job, self._job = self._job, None
        if job is not None:
            try:
                job.remove()
            except Exception:  # noqa: BLE001 - the scheduler may already be shut down
                pass


class PolicyHooks:
    """`Monitor`'s reaction to the events it raised: emit, learning rate, stop/raise policies."""

    lr: Callable[[], float | None] | None
    on_nonfinite: str
    stop_on_plateau: bool
    plateau: Any
    _stop: bool
    _lock: Any

    def _emit(self, event: Event | None) -> None:
        raise NotImplementedError

    @property
    def should_stop(self) -> bool:
        """True once a policy asks training to stop (``on_nonfinite="stop"``, ``stop_on_plateau``),
        or the plateau detector says ``EarlyStopping`` would stop."""
        return self._stop or (self.plateau is not None and self.plateau.should_stop)

    def take_stop(self) -> bool:
        """Whether a policy asked to stop since the last call (the adapters' hook)."""
        if not self._stop:  # the common case, without a second lock per batch
            return False
        with self._lock:
            stop, self._stop = self._stop, False
        return stop

    def _finish(self, events: list[Event | None]) -> list[Event]:
        out = [e for e in events if e is not None]
        if not out:
            return out
        out = with_lr(out, self.lr)
        raise_for: Event | None = None
        for event in out:
            self._emit(event)
            if event.resolved:
                continue
            if event.kind == "nonfinite" and self.on_nonfinite != "alert":
                self._stop = True
                if self.on_nonfinite == "raise":
                    raise_for = raise_for or event
            elif event.kind == "plateau" and self.stop_on_plateau:
                self._stop = True
        if raise_for is not None:
            raise NonFiniteError(f"{raise_for.title}: {raise_for.message}")
        return out
