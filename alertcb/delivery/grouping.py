"""Incidents and routing: events grouped into few notifications, queued on their lanes.

The first event of an incident is sent at once when critical, or after
``group_wait_s`` otherwise (so a burst of related warnings goes out as one message).
Repeats are folded in and counted; a reminder goes out when a repeat arrives more
than ``repeat_interval_s`` after the last message. A ``resolved`` event closes the
incident and is sent once, with the number of repeats since the last message.

Memory is flat: one small record per open incident, at most ``max_incidents``.

`Router` is the dispatcher thread's event handling around the `Grouper`: `Router.handle`
records an event in the run directory (repeats beyond `MAX_LOGGED_REPEATS` only counted),
attaches the report to a summary and groups it; `Router.route` records the notifications
in the outbox (one transaction per batch) and queues each on the lanes that accept it.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from alertcb._guard import guarded
from alertcb.clock import SYSTEM_CLOCK, Clock
from alertcb.events import Event, RunInfo, Severity
from alertcb.notification import Attachment, Notification

if TYPE_CHECKING:  # the lanes import this module (UNGROUPED_KINDS); the router only calls them
    from alertcb.delivery.lane import Lane
    from alertcb.delivery.outbox import Outbox
    from alertcb.delivery.rundir import RunDir

#: Kinds that are reports, not incidents: never grouped or suppressed.
UNGROUPED_KINDS = frozenset({"summary", "progress", "test"})


@dataclasses.dataclass(slots=True)
class Incident:
    key: str
    first: Event
    last: Event
    sent: bool = False
    due_at: float = 0.0
    last_sent_at: float = 0.0
    unsent_repeats: int = 0
    total: int = 1


class Grouper:
    """Turns events into notifications (called only from the dispatcher thread).

    Args:
        group_wait_s: delay before the first message of a non-critical incident.
        repeat_interval_s: minimum time between two messages for one open incident.
        max_incidents: open incidents kept; the oldest is forgotten beyond this.
        clock: where ``now`` comes from when a call does not pass it.

    Example:
        >>> clock = ManualClock()  # doctest: +SKIP
        >>> grouper = Grouper(group_wait_s=5, clock=clock)  # doctest: +SKIP
        >>> grouper.process(spike); clock.advance(5); grouper.tick()  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        group_wait_s: float = 0.0,
        repeat_interval_s: float = 3600.0,
        max_incidents: int = 10_000,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.clock = clock
        self.group_wait_s = group_wait_s
        self.repeat_interval_s = repeat_interval_s
        self.max_incidents = max_incidents
        self.incidents: OrderedDict[str, Incident] = OrderedDict()
        # Incidents still in their group wait, in due order (the wait is the same for all),
        # so the per-iteration checks cost O(waiting), not O(open incidents).
        self._waiting: dict[str, Incident] = {}
        self.suppressed_total = 0

    def process(self, event: Event, now: float | None = None) -> list[Notification]:
        """Take one event; return the notifications to send now."""
        if now is None:
            now = self.clock.monotonic()
        if event.kind in UNGROUPED_KINDS:
            return [Notification(events=(event,))]
        key = event.fingerprint
        incident = self.incidents.get(key)
        if event.resolved:
            if incident is None:
                return []  # nothing was announced: nothing to resolve
            del self.incidents[key]
            self._waiting.pop(key, None)
            if event.severity != incident.first.severity:
                # A resolve belongs to its incident: same severity, so receivers that key on
                # labels (Alertmanager) match it to the alert it closes.
                event = dataclasses.replace(event, severity=incident.first.severity)
            out: list[Notification] = []
            if not incident.sent:
                out.append(self._announce(incident, now))
            out.append(Notification(events=(event,), suppressed=incident.unsent_repeats))
            return out
        if incident is None:
            incident = Incident(key=key, first=event, last=event)
            self.incidents[key] = incident
            if len(self.incidents) > self.max_incidents:
                forgotten, _ = self.incidents.popitem(last=False)
                self._waiting.pop(forgotten, None)
            if event.severity >= Severity.CRITICAL or self.group_wait_s <= 0:
                return [self._announce(incident, now)]
            incident.due_at = now + self.group_wait_s
            self._waiting[key] = incident
            return []
        incident.last = event
        incident.total += 1
        incident.unsent_repeats += 1
        self.suppressed_total += 1
        if incident.sent and now - incident.last_sent_at >= self.repeat_interval_s:
            return [self._remind(incident, now)]
        return []

    def tick(self, now: float | None = None, *, force: bool = False) -> list[Notification]:
        """Release incidents whose group wait has elapsed (all of them if ``force``)."""
        if now is None:
            now = self.clock.monotonic()
        out = []
        for incident in list(self._waiting.values()):
            if not force and incident.due_at > now:
                break  # the rest are due later
            out.append(self._announce(incident, now))
        return out

    def next_due(self) -> float | None:
        """When `tick` next has something to release, or None."""
        return next(iter(self._waiting.values())).due_at if self._waiting else None

    def waiting(self) -> int:
        """Incidents still inside their group wait."""
        return len(self._waiting)

    def _announce(self, incident: Incident, now: float) -> Notification:
        # The first event is the headline; repeats during the group wait are folded in.
        note = Notification(events=(incident.first,), suppressed=incident.total - 1)
        self._waiting.pop(incident.key, None)
        incident.sent = True
        incident.last_sent_at = now
        incident.unsent_repeats = 0
        return note

    def _remind(self, incident: Incident, now: float) -> Notification:
        note = Notification(events=(incident.last,), suppressed=incident.unsent_repeats - 1)
        incident.last_sent_at = now
        incident.unsent_repeats = 0
        return note

    def clear(self) -> None:
        self.incidents.clear()
        self._waiting.clear()


#: Events of one incident written to events.jsonl before repeats are only counted.
MAX_LOGGED_REPEATS = 100

ReportBuilder = Callable[[Event], tuple[Attachment, ...]]


@dataclasses.dataclass
class Router:
    """The dispatcher's event handling (see `alertcb.delivery.dispatcher.Dispatcher` for the fields)."""

    run: RunInfo
    grouper: Grouper
    run_dir: RunDir | None
    outbox: Outbox | None
    report_builder: ReportBuilder | None

    def handle(self, event: Event, now: float) -> list[Notification]:
        """Record one event and return the notifications it causes now."""
        if event.run is None:
            event = event.with_run(self.run)
        incident = self.grouper.incidents.get(event.fingerprint)
        if self.run_dir is not None and (
            incident is None or incident.total < MAX_LOGGED_REPEATS or event.resolved
        ):
            self.run_dir.record(event)
        attachments: tuple[Attachment, ...] = ()
        if event.kind == "summary" and self.report_builder is not None:
            attachments = guarded("report", self.report_builder, event, default=()) or ()
        notes = self.grouper.process(event, now)
        if attachments:
            notes = [dataclasses.replace(n, attachments=attachments) for n in notes]
        return notes

    def route(self, notes: list[Notification], lanes: Sequence[Lane], now: float) -> None:
        """Queue ``notes`` on the lanes that accept them, recording them in the outbox first
        (one transaction for the whole batch)."""
        if not notes:
            return
        routed = []
        for note in notes:
            targets = [lane for lane in lanes if guarded("accepts", lane.channel.accepts, note.event, default=False)]
            if targets:
                routed.append((note, targets))
        row_ids: list[dict[str, int]] = [{} for _ in routed]
        if self.outbox is not None and routed:
            batch = [(note, [t.name for t in targets]) for note, targets in routed]
            row_ids = guarded("outbox add", self.outbox.add_many, batch, default=None) or row_ids
        for (note, targets), ids in zip(routed, row_ids, strict=True):
            for lane in targets:
                lane.enqueue(note, ids.get(lane.name, 0), now)
