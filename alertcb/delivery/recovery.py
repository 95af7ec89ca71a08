"""Recovery is delivery: what earlier (dead) processes left in the outbox is queued again.

Each claimed row becomes one delivery on the lane of its destination, through the same rate
limits, backoff and deadlines as a fresh notification. It keeps its identity (id, events,
original ``created`` time), is flagged ``recovered`` with ``late_by_s`` and its headline's
message says why it is late. It is not folded into a digest — unless the destination's rate
limit cannot send the recovered backlog one by one before its deadline; then recovered rows
are folded among themselves (never with fresh ones), the digest naming each incident that fits
and saying it is late, instead of rows running out of time. Its row is marked
delivered only when that delivery was sent.

The contract with `alertcb.delivery.outbox.Outbox.claim_orphans` (claims rows atomically):
it returns ``(row_id, destination, notification)`` tuples, or objects with the attributes
``row_id`` (or ``id``), ``destination`` and ``notification``; ``notification.created`` is
the original creation time. Rows for destinations not configured here stay pending.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

from alertcb._guard import guarded
from alertcb.channels.base import Outcome
from alertcb.clock import Clock
from alertcb.delivery.lane import Lane, Settled
from alertcb.delivery.outbox import Outbox
from alertcb.delivery.policy import Delivery
from alertcb.notification import Notification, late_text

logger = logging.getLogger("alertcb")


def recover(outbox: Outbox, lanes: Sequence[Lane], clock: Clock) -> int:
    """Claim the orphaned rows of ``outbox`` and queue them on ``lanes``; return how many.

    Example:
        >>> recover(outbox, dispatcher.lanes, SYSTEM_CLOCK)  # doctest: +SKIP
    """
    by_name = {lane.name: lane for lane in lanes}
    now, wall = clock.monotonic(), clock.time()
    recovered = 0
    for item in outbox.claim_orphans(list(by_name)):  # only rows for destinations configured here
        row_id, dest, note = orphan_fields(item)
        lane = by_name.get(dest)
        if lane is None:
            continue
        late = mark_late(note, max(0.0, wall - note.created))
        lane.enqueue(late, row_id, now, recovered=True, attempts=int(getattr(item, "attempts", 0)))
        recovered += 1
    if recovered:
        logger.info("alertcb: re-delivering %d notification(s) left in the outbox by earlier runs", recovered)
    return recovered


class OutboxLedger:
    """What this loop iteration must write to the outbox: attempts (so ``attempts`` is right)
    and settled rows (delivered/failed, one transaction). Dispatcher thread only.

    Args:
        outbox: the `Outbox`, or None (then nothing is recorded).
    """

    def __init__(self, outbox: Outbox | None) -> None:
        self.outbox = outbox
        self.settled: list[Settled] = []
        self.attempts: list[tuple[list[int], str]] = []

    def mark(self, delivery: Delivery, outcome: Outcome, settled: Settled | None) -> None:
        """Record one attempt's effect on the delivery's rows."""
        if self.outbox is None or not any(delivery.row_ids):
            return
        if settled is not None:
            self.settled.append(settled)
        elif outcome.verdict == "retry" and not delivery.resend:
            self.attempts.append((delivery.row_ids, outcome.reason))

    def flush(self) -> None:
        """Write what was recorded."""
        if self.outbox is None:
            self.settled.clear()
            return
        attempts, self.attempts = self.attempts, []
        for row_ids, error in attempts:
            guarded("outbox attempt", self.outbox.note_attempt, row_ids, error)
        done, self.settled = [d for d in self.settled if any(d[0])], []
        if done:
            guarded("outbox done", self.outbox.done_many, done)


def mark_late(note: Notification, late_by_s: float) -> Notification:
    """``note`` flagged as recovered, its headline's message starting with why it is late
    ("delayed 3 h: sent after the process that raised it died"), so every channel says so."""
    text = late_text(late_by_s, True)
    head = note.events[0]
    message = f"[{text}] {head.message}" if head.message else f"[{text}]"
    events = (dataclasses.replace(head, message=message), *note.events[1:])
    return dataclasses.replace(note, events=events, recovered=True, late_by_s=late_by_s)


def orphan_fields(item: Any) -> tuple[int, str, Notification]:
    """``(row_id, destination, notification)`` from what ``Outbox.claim_orphans`` yields."""
    if isinstance(item, tuple):
        row_id, dest, note = item[:3]
        return int(row_id), str(dest), note
    row_id = getattr(item, "row_id", None)
    if row_id is None:
        row_id = item.id
    return int(row_id), str(item.destination), item.notification
