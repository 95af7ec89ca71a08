"""Periodic re-sends for destinations that need them (Alertmanager), as Prometheus does.

A firing incident is refreshed every ``interval_s`` while it fires (its ``endsAt`` is a
lease); each resolve is re-sent `RESOLVE_RESENDS` more times. A `Lane` owns one `Resends`
and queues what `due` returns; nothing here counts as a delivery of its own
(``stats()["resent"]``).
"""

from __future__ import annotations

from collections.abc import Collection

from alertcb.delivery.grouping import UNGROUPED_KINDS
from alertcb.delivery.policy import Delivery
from alertcb.notification import Notification

#: How many more times a re-sending destination (Alertmanager) gets each resolve.
RESOLVE_RESENDS = 3


class Resends:
    """What one re-sending destination must refresh.

    Args:
        interval_s: the destination's ``resend_interval_s``.
    """

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.live: dict[str, tuple[Notification, float]] = {}  # fingerprint -> (last sent, when)
        self.live_resolved: dict[str, tuple[Notification, float, int]] = {}  # ... resends left

    def remember(self, note: Notification, now: float) -> None:
        """``note`` was delivered at ``now``: track its firing incidents until they resolve,
        and each resolve for `RESOLVE_RESENDS` more times."""
        for event in note.events:
            if event.kind in UNGROUPED_KINDS:
                continue
            single = Notification(events=(event,))
            if event.resolved:
                self.live.pop(event.fingerprint, None)
                self.live_resolved[event.fingerprint] = (single, now, RESOLVE_RESENDS)
            else:
                self.live_resolved.pop(event.fingerprint, None)
                self.live[event.fingerprint] = (single, now)

    def due(self, now: float, queued: Collection[str]) -> list[Delivery]:
        """The refreshes due at ``now`` (none for a fingerprint in ``queued``), as re-send deliveries."""
        interval = self.interval_s
        out: list[Delivery] = []
        if not (self.live or self.live_resolved):
            return out
        for fingerprint, (note, when) in list(self.live.items()):
            if now - when >= interval and fingerprint not in queued:
                self.live[fingerprint] = (note, now)
                out.append(Delivery(note, [0], now, now + interval, resend=True))
        for fingerprint, (note, when, left) in list(self.live_resolved.items()):
            if now - when >= interval and fingerprint not in queued:
                if left <= 1:
                    del self.live_resolved[fingerprint]
                else:
                    self.live_resolved[fingerprint] = (note, now, left - 1)
                out.append(Delivery(note, [0], now, now + interval, resend=True))
        return out

    def next_times(self) -> list[float]:
        """When each tracked incident is next due."""
        return [w + self.interval_s for _, w in self.live.values()] + [
            w + self.interval_s for _, w, _ in self.live_resolved.values()
        ]

    def clear(self) -> None:
        self.live.clear()
        self.live_resolved.clear()
