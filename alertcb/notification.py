"""What a destination receives: grouped events plus attachments."""

from __future__ import annotations

import dataclasses
import time
import uuid

from alertcb.events import Event, Severity


@dataclasses.dataclass(frozen=True, slots=True)
class Attachment:
    """A binary attachment (e.g. the loss-curve PNG) carried by a notification."""

    filename: str
    content_type: str
    data: bytes
    content_id: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class Notification:
    """What one destination receives: one or more events, already grouped.

    Args:
        events: the events, most important first. ``events[0]`` is the headline.
        suppressed: repeats of the headline's incident folded into this message.
        digest: True when several incidents were coalesced (rate limit or digest).
        attachments: images/files (summary reports).
        id: unique id (outbox key, idempotency).
        created: Unix time the dispatcher created it.
    """

    events: tuple[Event, ...]
    suppressed: int = 0
    digest: bool = False
    attachments: tuple[Attachment, ...] = ()
    id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)
    created: float = dataclasses.field(default_factory=time.time)

    @property
    def event(self) -> Event:
        return self.events[0]

    @property
    def severity(self) -> Severity:
        return max(e.severity for e in self.events)

    @property
    def more(self) -> int:
        """How many events beyond the headline this notification stands for."""
        return len(self.events) - 1 + self.suppressed
