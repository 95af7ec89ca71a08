"""What the summary tracker hears from the notifier: alerts, markers, lifecycle entries, the error."""

from __future__ import annotations

import logging
from typing import Any

from alertcb.events import Event
from alertcb.report.parts import Alert, ErrorInfo, Marker
from alertcb.report.status import MAX_MESSAGE_CHARS, error_info, terminal_status
from alertcb.report.timeline import TimelineEntry

logger = logging.getLogger("alertcb")

_MAX_FIRST = 50  # first occurrences kept (one per kind+title)
_MAX_MARKERS = 200  # alert markers kept for the plot
_MAX_TIMELINE = 500  # lifecycle entries kept


class AlertLog:
    """Counts alerts, keeps the first of each (kind, title), markers, the timeline and the error.

    Not thread-safe: the tracker holds its lock.
    """

    def __init__(self) -> None:
        self.total = 0
        self.by_kind: dict[str, int] = {}
        self._first: dict[tuple[str, str], dict[str, Any]] = {}
        self.markers: list[Marker] = []
        self.timeline: list[TimelineEntry] = []
        self.early_stop_seen = False
        self.firing: dict[str, dict[str, Any]] = {}
        self.error: dict[str, Any] | None = None

    def alert(self, event: Event, step: int | None) -> str | None:
        """Record an alert fired at global batch ``step``. Returns ``crashed``/``interrupted``
        when it ends the run, else None."""
        if event.resolved:
            self.firing.pop(event.fingerprint, None)
            return None
        self.total += 1
        self.by_kind[event.kind] = self.by_kind.get(event.kind, 0) + 1
        key = (event.kind, event.title)
        if key not in self._first and len(self._first) < _MAX_FIRST:
            self._first[key] = {
                "kind": event.kind,
                "title": event.title,
                "severity": str(event.severity),
                "epoch": event.epoch,
                "step": step,
                "time": event.time,
                "message": event.message[:MAX_MESSAGE_CHARS],
                "count": 0,
            }
        if key in self._first:
            self._first[key]["count"] += 1
        if len(self.markers) < _MAX_MARKERS:
            self.markers.append(Marker(event.kind, str(event.severity), event.title, event.epoch, step))
        self.firing[event.fingerprint] = {"kind": event.kind, "title": event.title}
        if event.kind not in ("crash", "interrupted"):
            return None
        status = terminal_status(event)
        if self.error is None or status == "crashed":
            self.error = error_info(event)
        return status

    def lifecycle(self, event: Event, step: int | None) -> None:
        """Record an ``early_stop`` / ``lr_change`` / ``checkpoint`` event in the timeline."""
        if event.kind == "early_stop":
            self.early_stop_seen = True
        if len(self.timeline) >= _MAX_TIMELINE:
            logger.debug("alertcb: summary timeline full, %s event not listed", event.kind)
            return
        entry = TimelineEntry.from_event(event)
        if step != entry.step:
            entry = TimelineEntry(entry.kind, entry.time, entry.epoch, step, entry.title, entry.details)
        self.timeline.append(entry)

    def by_kind_sorted(self) -> dict[str, int]:
        return dict(sorted(self.by_kind.items(), key=lambda kv: (-kv[1], kv[0])))

    def first(self) -> list[Alert]:
        return [Alert(**a) for a in sorted(self._first.values(), key=lambda a: a["time"])]

    def still_firing(self) -> list[Marker]:
        return [Marker(f["kind"], title=f["title"]) for f in self.firing.values()]

    def error_info(self) -> ErrorInfo | None:
        return ErrorInfo(**self.error) if self.error is not None else None
