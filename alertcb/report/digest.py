"""Progress digests: a short "where is training" message every so often.

`ProgressDigest` adds one interval job to the notifier's `alertcb.scheduling.Scheduler`.
Each digest carries the alerts raised and the lifecycle events (early stop, learning-rate
change, checkpoint) seen since the previous one. The job is coalesced (one instance at a
time) and its misfire grace is one interval, so after a stall (a suspended laptop, a GIL-bound step)
at most one digest runs, never a backlog of them.

Example:
    >>> tracker = SummaryTracker(notifier)  # doctest: +SKIP
    >>> digest = ProgressDigest(notifier, every_s=3600, tracker=tracker)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

from alertcb._guard import capture_internal_error
from alertcb.errors import ConfigError
from alertcb.events import Event, Severity
from alertcb.filters import fmt_duration, fmt_metrics
from alertcb.report.status import NOT_ALERTS
from alertcb.report.timeline import LIFECYCLE_KINDS, TimelineEntry
from alertcb.report.tracker import SummaryTracker
from alertcb.validate import check_duration

logger = logging.getLogger("alertcb")

PROGRESS_TITLE = "training progress"
MIN_INTERVAL_S = 1.0


def parse_interval(every: Any, *, field: str = "every") -> float:
    """Seconds from ``"1h"``, ``"30m"``, ``"90s"``, ``"1h30m"``, ``"2d"``, ``"90"`` or a number
    (`alertcb.validate.parse_duration`, the one duration syntax of alertcb).

    Raises:
        ConfigError: naming ``field`` (``every``), for anything else or an interval under 1 s.
    """
    seconds = check_duration(field, every)
    if seconds < MIN_INTERVAL_S:
        raise ConfigError(field, f"expected an interval of at least {MIN_INTERVAL_S:g} s, got {every!r}")
    return float(seconds)


class ProgressDigest:
    """Emits a ``kind="progress"`` event every interval: epoch x/y, metrics, ETA, new alerts and
    the lifecycle events since the previous digest.

    Args:
        notifier: the `Notifier` (its ``scheduler`` runs the job).
        every_s: the interval in seconds (at least 1), like every other ``*_s`` option.
        every: the same interval as a duration string: ``"1h"`` (default), ``"30m"``,
            ``"90s"``, ``"1h30m"`` (or seconds). Give ``every_s`` or ``every``, not both.
        tracker: the run's `SummaryTracker`, the source of progress (epochs, steps,
            metrics, ETA). Without one, digests report only uptime and alerts.
        start: schedule the job now. Defaults to True.

    Example:
        >>> digest = ProgressDigest(notifier, every_s=1800, tracker=tracker)  # doctest: +SKIP
        >>> digest.cancel()  # doctest: +SKIP
    """

    def __init__(
        self,
        notifier: Any,
        every: str | float | None = None,
        tracker: SummaryTracker | None = None,
        *,
        every_s: float | None = None,
        start: bool = True,
    ) -> None:
        if every is not None and every_s is not None:
            raise ConfigError("every_s", f"give every_s or every, not both (got {every_s!r} and {every!r})")
        if every_s is not None:
            if isinstance(every_s, bool) or not isinstance(every_s, (int, float)):
                raise ConfigError("every_s", f"expected seconds >= {MIN_INTERVAL_S:g} as a number, got {every_s!r}")
            self.interval_s = parse_interval(every_s, field="every_s")
        else:
            self.interval_s = parse_interval("1h" if every is None else every)
        if tracker is not None and not callable(getattr(tracker, "progress", None)):
            raise ConfigError("tracker", f"expected a SummaryTracker (with progress()), got {tracker!r}")
        self.notifier = notifier
        self.tracker = tracker
        self.job_id = f"alertcb-progress-{uuid.uuid4().hex[:8]}"
        self._lock = threading.Lock()
        self._created = time.monotonic()
        self._seen_by_kind: dict[str, int] = {}
        self._own_by_kind: dict[str, int] = {}
        self._own_lifecycle: list[TimelineEntry] = []
        self._timeline_seen = 0
        self._job: Any = None
        if tracker is None:
            add_listener = getattr(notifier, "add_listener", None)
            if callable(add_listener):
                add_listener(self._on_event)
        if start:
            self.start()

    def start(self) -> None:
        """Schedule the interval job (idempotent)."""
        with self._lock:
            if self._job is not None:
                return
            self._job = self.notifier.scheduler.add_interval_job(
                self._tick, self.interval_s, name="alertcb progress digest", job_id=self.job_id
            )

    def cancel(self) -> None:
        """Remove the job; no more digests. Safe to call twice or after the scheduler stopped."""
        with self._lock:
            job, self._job = self._job, None
        if job is not None:
            try:
                job.remove()
            except Exception as exc:  # noqa: BLE001 - JobLookupError / scheduler shut down
                logger.debug("alertcb: progress digest job already gone: %s", exc)

    def _on_event(self, event: Event) -> None:
        if not isinstance(event, Event) or event.kind in NOT_ALERTS or event.resolved:
            return
        with self._lock:
            if event.kind in LIFECYCLE_KINDS:
                if len(self._own_lifecycle) < 500:
                    self._own_lifecycle.append(TimelineEntry.from_event(event))
            else:
                self._own_by_kind[event.kind] = self._own_by_kind.get(event.kind, 0) + 1

    def _tick(self) -> None:
        try:
            self.emit_now()
        except Exception as exc:  # noqa: BLE001 - a scheduler job must not die
            capture_internal_error("progress digest", exc)

    def build_event(self) -> Event | None:
        """The digest event as of now, or None while training is not running."""
        if self.tracker is not None:
            snapshot = self.tracker.progress()
            if not snapshot.get("running"):
                return None
            by_kind = dict(snapshot.get("alerts_by_kind") or {})
            with self._lock:
                count, lifecycle = self.tracker.timeline_since(self._timeline_seen)
                self._timeline_seen = count
        else:
            with self._lock:
                by_kind = dict(self._own_by_kind)
                lifecycle, self._own_lifecycle = self._own_lifecycle, []
            snapshot = {
                "running": True,
                "elapsed_s": time.monotonic() - self._created,
                "alerts_total": sum(by_kind.values()),
                "alerts_by_kind": by_kind,
            }
        with self._lock:
            since = {k: v - self._seen_by_kind.get(k, 0) for k, v in by_kind.items()}
            since = {k: v for k, v in sorted(since.items(), key=lambda kv: (-kv[1], kv[0])) if v > 0}
            self._seen_by_kind = by_kind
        details: dict[str, Any] = dict(snapshot)
        details["alerts_since"] = {"total": sum(since.values()), "by_kind": since}
        details["lifecycle_since"] = [entry.to_dict() for entry in lifecycle[-50:]]
        details["interval_s"] = self.interval_s
        details["percent"] = _percent(snapshot)
        metrics = snapshot.get("metrics") or {}
        steps_done = snapshot.get("steps_done")
        return Event(
            kind="progress",
            title=PROGRESS_TITLE,
            message=progress_message(details),
            severity=Severity.INFO,
            epoch=snapshot.get("epoch"),
            step=steps_done - 1 if isinstance(steps_done, int) and steps_done > 0 else None,
            metrics=metrics,
            details=details,
        )

    def emit_now(self) -> Event | None:
        """Build and emit a digest now (what the job does). Returns it, or None when skipped."""
        event = self.build_event()
        if event is not None:
            self.notifier.emit(event)
        return event

    def __repr__(self) -> str:
        return f"ProgressDigest(every={self.interval_s:g}s, scheduled={self._job is not None})"


def _percent(snapshot: dict[str, Any]) -> float | None:
    for done_key, total_key in (("steps_done", "steps_planned"), ("epochs_done", "epochs_planned")):
        done, total = snapshot.get(done_key), snapshot.get(total_key)
        if isinstance(done, (int, float)) and isinstance(total, (int, float)) and total > 0:
            return max(0.0, min(100.0, 100.0 * done / total))
    return None


def progress_message(details: dict[str, Any]) -> str:
    """One line: ``epoch 4/10 (35%) · ETA 5m 2s · loss=0.12, val_loss=0.2 · 2 new alerts``."""
    parts: list[str] = []
    epoch, planned = details.get("epoch"), details.get("epochs_planned")
    if isinstance(epoch, int):
        current = min(epoch + 1, planned) if isinstance(planned, int) and planned > 0 else epoch + 1
        text = f"epoch {current}/{planned}" if planned else f"epoch {current}"
        percent = details.get("percent")
        if isinstance(percent, float):
            text += f" ({percent:.0f}%)"
        parts.append(text)
    eta = details.get("eta_s")
    if isinstance(eta, (int, float)):
        parts.append(f"ETA {fmt_duration(eta)}")
    elif isinstance(details.get("elapsed_s"), (int, float)):
        parts.append(f"running {fmt_duration(details['elapsed_s'])}")
    metrics = details.get("metrics")
    if metrics:
        parts.append(fmt_metrics(metrics, 6))
    new = details.get("alerts_since", {}).get("total", 0)
    parts.append(f"{new} new alert{'s' if new != 1 else ''}" if new else "no new alerts")
    lifecycle = details.get("lifecycle_since") or []
    if lifecycle:
        parts.append(TimelineEntry.from_dict(lifecycle[-1]).text + (f" (+{len(lifecycle) - 1})" if len(lifecycle) > 1 else ""))
    return " · ".join(parts)
