"""Delivery policy and the small value types a lane works with: `DeliveryPolicy`,
`TokenBucket`, `Delivery`, and `fold` (building an honest digest).

Pure data and arithmetic: no threads, no I/O, time always passed in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from alertcb.notification import Notification

#: Most events a digest carries in memory; beyond it incidents are counted in
#: ``Notification.unnamed`` (they stay in events.jsonl and the outbox). Far above what any
#: service's message can name, so the cap only bounds memory.
DIGEST_MAX_EVENTS = 1000


@dataclasses.dataclass(frozen=True)
class DeliveryPolicy:
    """How hard the dispatcher tries.

    Args:
        attempt_timeout_s: read/write timeout of one attempt (HTTP and SMTP).
        connect_timeout_s: connect timeout of one attempt.
        deadline_s: give up on a notification this long after it was queued, whatever it is
            waiting for (backoff, ``Retry-After``, rate limit); counted ``failed["deadline"]``.
        retry_base_s: first backoff; doubles per attempt, with full jitter in [50%, 100%].
        retry_max_s: backoff cap.
        max_retry_after_s: a destination's ``Retry-After`` is honoured up to this long
            (a day, or an HTTP date in 2099, is capped). Defaults to 900 s.
        rate_limits: apply each destination's client-side rate limit.
        verify_tls: verify TLS certificates (keep it on).
    """

    attempt_timeout_s: float = 10.0
    connect_timeout_s: float = 3.0
    deadline_s: float = 900.0
    retry_base_s: float = 1.0
    retry_max_s: float = 60.0
    max_retry_after_s: float = 900.0
    rate_limits: bool = True
    verify_tls: bool = True


def http_client(policy: DeliveryPolicy, user_agent: str) -> Any:
    """The shared ``httpx.Client`` for ``policy`` (timeouts, TLS, no redirects)."""
    import httpx  # lazily: keeps `import alertcb` fast

    return httpx.Client(
        timeout=httpx.Timeout(policy.attempt_timeout_s, connect=policy.connect_timeout_s),
        verify=policy.verify_tls,
        follow_redirects=False,
        headers={"User-Agent": user_agent},
    )


class TokenBucket:
    """``rate_per_min`` tokens a minute, at most ``burst`` saved up.

    Args:
        rate_per_min: refill rate.
        burst: capacity.
        now: the clock reading at creation (the bucket starts full).
    """

    def __init__(self, rate_per_min: float, burst: int, now: float) -> None:
        self.rate_per_s = rate_per_min / 60.0
        self.capacity = float(max(1, burst))
        self.level = self.capacity
        self.stamp = now

    def tokens(self, now: float) -> float:
        self.level = min(self.capacity, self.level + max(0.0, now - self.stamp) * self.rate_per_s)
        self.stamp = max(self.stamp, now)
        return self.level

    def take(self, now: float, cost: int = 1) -> None:
        """Spend ``cost`` tokens (the level may go below zero: later sends wait longer)."""
        self.tokens(now)
        self.level -= cost

    def wait_s(self, now: float) -> float:
        return max(0.0, (1.0 - self.tokens(now)) / self.rate_per_s)


@dataclasses.dataclass(slots=True, eq=False)
class Delivery:
    """One notification on its way to one destination.

    Args:
        notification: what is sent.
        row_ids: outbox rows it stands for (0: not in the outbox).
        next_at: earliest monotonic time of the next attempt.
        deadline: monotonic time after which it is given up.
        attempts: failed attempts so far.
        merged: notifications it stands for (a digest: several).
        resend: a periodic refresh (Alertmanager), not a new notification.
        recovered: re-delivered from the outbox (folded only with other recovered ones).
    """

    notification: Notification
    row_ids: list[int]
    next_at: float
    deadline: float
    attempts: int = 0
    merged: int = 1
    resend: bool = False
    recovered: bool = False


def fold(deliveries: Sequence[Delivery], now: float) -> Delivery:
    """One digest standing for ``deliveries``: every incident's headline kept (most severe
    first), up to `DIGEST_MAX_EVENTS`; the distinct incidents beyond are counted in ``unnamed``."""
    events = []
    seen: set[tuple[str, str]] = set()
    unnamed = 0
    for d in deliveries:
        unnamed += d.notification.unnamed
        for event in d.notification.events:
            key = (event.fingerprint, event.status)
            if key not in seen:
                seen.add(key)
                events.append(event)
    events.sort(key=lambda e: -e.severity)  # stable: arrival order within a severity
    kept = events[:DIGEST_MAX_EVENTS]
    kept_fingerprints = {e.fingerprint for e in kept}
    unnamed += len({e.fingerprint for e in events[DIGEST_MAX_EVENTS:]} - kept_fingerprints)
    merged = sum(d.merged for d in deliveries)
    recovered = all(d.recovered for d in deliveries)
    late = [d.notification.late_by_s for d in deliveries if d.notification.late_by_s is not None]
    note = Notification(
        events=tuple(kept),
        suppressed=sum(d.notification.suppressed for d in deliveries),
        digest=True,
        created=min(d.notification.created for d in deliveries),
        folded=merged,
        unnamed=unnamed,
        late_by_s=max(late) if recovered and late else None,
        recovered=recovered,
    )
    return Delivery(
        note,
        row_ids=[i for d in deliveries for i in d.row_ids],
        next_at=now,
        deadline=max(d.deadline for d in deliveries),
        attempts=max(d.attempts for d in deliveries),
        merged=merged,
        recovered=recovered,
    )
