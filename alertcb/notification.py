"""What a destination receives: grouped events plus attachments.

A *digest* (``digest=True``) stands for several notifications of one destination that were
folded into one message because the destination is rate-limited or failing. It never loses
identity: ``events`` holds the headline event of every incident it folds in (one per
incident, most severe first), ``unnamed`` counts the distinct incidents it stands for but
does not carry (only when the memory bound was reached; they are in the run directory's
``events.jsonl`` and the outbox). A channel names as many ``events`` as fit its size limit
and states the exact remainder (`digest_unnamed`); `SendContext.named` reports how many it
named, for `stats()`.
"""

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
        suppressed: repeats of the headline's incident folded into this message (a digest:
            repeats of all its incidents). Repeats are the *same* incident, never distinct ones.
        digest: True when several notifications were coalesced (rate limit or failing destination).
        attachments: images/files (summary reports).
        id: unique id (outbox key, idempotency).
        created: Unix time the notification was first created (kept on re-delivery).
        folded: notifications this digest stands for (0 for a plain notification).
        unnamed: distinct incidents folded into this digest whose events it does not carry.
        late_by_s: set on re-delivery from the outbox: seconds between ``created`` and the
            re-delivery, so the text can say "delayed 3 h".
        recovered: True when re-delivered from the outbox after the process that raised it
            ended (died or was killed before delivering it).

    Example:
        >>> n = Notification(events=(event,))  # doctest: +SKIP
    """

    events: tuple[Event, ...]
    suppressed: int = 0
    digest: bool = False
    attachments: tuple[Attachment, ...] = ()
    id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)
    created: float = dataclasses.field(default_factory=time.time)
    folded: int = 0
    unnamed: int = 0
    late_by_s: float | None = None
    recovered: bool = False

    @property
    def event(self) -> Event:
        return self.events[0]

    @property
    def severity(self) -> Severity:
        return max(e.severity for e in self.events)

    @property
    def more(self) -> int:
        """How many events beyond the headline this notification stands for."""
        return len(self.events) - 1 + self.suppressed + self.unnamed

    @property
    def incidents(self) -> int:
        """Distinct incidents this notification stands for (named or not)."""
        return len({e.fingerprint for e in self.events}) + self.unnamed

    @property
    def late_text(self) -> str:
        """``"delayed 3 h: sent after the process that raised it died"``, or "" (for templates)."""
        return late_text(self.late_by_s, self.recovered)

    @property
    def late(self) -> bool:
        """True for a recovered notification or one delayed by more than a minute."""
        return self.recovered or (self.late_by_s is not None and self.late_by_s >= 60.0)


def digest_unnamed(notification: Notification, named: int) -> int:
    """How many distinct incidents a digest that names its first ``named`` events leaves unnamed."""
    shown = {e.fingerprint for e in notification.events[:named]}
    rest = {e.fingerprint for e in notification.events[named:]} - shown
    return len(rest) + notification.unnamed


def late_text(late_by_s: float | None, recovered: bool) -> str:
    """``"delayed 3 h: sent after the process that raised it died"`` (or "" when on time)."""
    if late_by_s is None and not recovered:
        return ""
    parts = []
    if late_by_s is not None:
        parts.append(f"delayed {_duration(late_by_s)}")
    if recovered:
        parts.append("sent after the process that raised it died")
    return ": ".join(parts) if len(parts) == 2 else parts[0]


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} d"
