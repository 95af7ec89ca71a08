"""From an event to queued notifications, on the dispatcher thread.

`Router.handle` records one event in the run directory (repeats beyond
`MAX_LOGGED_REPEATS` are only counted), attaches the report to a summary, and groups it
into the notifications it causes now (`alertcb.delivery.grouping.Grouper`).
`Router.route` records those in the outbox (one transaction per batch) and queues each
on the lanes whose channel accepts it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from alertcb._guard import guarded
from alertcb.delivery.grouping import Grouper
from alertcb.delivery.lane import Lane
from alertcb.delivery.outbox import Outbox
from alertcb.delivery.rundir import RunDir
from alertcb.events import Event, RunInfo
from alertcb.notification import Attachment, Notification

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
