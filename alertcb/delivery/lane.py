"""Per-destination delivery state: the policy, a token bucket, queued deliveries, the sender thread.

A `Lane` is touched only by the dispatcher thread, except for the job it hands to its
sender thread (one attempt at a time). See `alertcb.delivery.dispatcher`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from alertcb.channels.base import Channel
from alertcb.notification import Notification


@dataclasses.dataclass(frozen=True)
class DeliveryPolicy:
    """How hard the dispatcher tries.

    Args:
        attempt_timeout_s: read/write timeout of one attempt (HTTP and SMTP).
        connect_timeout_s: connect timeout of one attempt.
        deadline_s: give up on a notification this long after it was queued.
        retry_base_s: first backoff; doubles per attempt, with full jitter in [50%, 100%].
        retry_max_s: backoff cap.
        rate_limits: apply each destination's client-side rate limit.
        verify_tls: verify TLS certificates (keep it on).
    """

    attempt_timeout_s: float = 10.0
    connect_timeout_s: float = 3.0
    deadline_s: float = 900.0
    retry_base_s: float = 1.0
    retry_max_s: float = 60.0
    rate_limits: bool = True
    verify_tls: bool = True


class TokenBucket:
    """``rate_per_min`` tokens a minute, at most ``burst`` saved up."""

    def __init__(self, rate_per_min: float, burst: int) -> None:
        self.rate_per_s = rate_per_min / 60.0
        self.capacity = float(max(1, burst))
        self.level = self.capacity
        self.stamp = time.monotonic()

    def tokens(self, now: float) -> float:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate_per_s)
        self.stamp = now
        return self.level

    def take(self, now: float, cost: int = 1) -> None:
        """Spend ``cost`` tokens (the level may go below zero: later sends wait longer)."""
        self.tokens(now)
        self.level -= cost

    def wait_s(self, now: float) -> float:
        return max(0.0, (1.0 - self.tokens(now)) / self.rate_per_s)


@dataclasses.dataclass(slots=True)
class Delivery:
    notification: Notification
    row_ids: list[int]
    next_at: float
    deadline: float
    attempts: int = 0
    merged: int = 1  # notifications this delivery stands for (digests)
    resend: bool = False  # a periodic refresh (Alertmanager), not a new notification


class Lane:
    """One destination: its queue, budget and statistics."""

    def __init__(self, channel: Channel, policy: DeliveryPolicy) -> None:
        self.channel = channel
        self.name = channel.name
        self.queue: deque[Delivery] = deque()
        rate = channel.rate_limit_per_min if policy.rate_limits else None
        self.bucket = TokenBucket(rate, channel.default_burst) if rate else None
        self.blocked_until = 0.0
        self.digestible = bool(getattr(channel, "supports_digest", True))
        self.resend_interval_s: float | None = getattr(channel, "resend_interval_s", None)
        self.live: dict[str, tuple[Notification, float]] = {}  # fingerprint -> (last sent, when)
        self.live_resolved: dict[str, tuple[Notification, float, int]] = {}  # ... resends left
        self.delivered = 0
        self.retried = 0
        self.coalesced = 0
        self.enqueued = 0
        self.failed: Counter[str] = Counter()
        self.last_error = ""
        self.in_flight: list[Delivery] = []  # handed to the sender thread, not yet settled
        self.jobs: queue.SimpleQueue[Callable[[], None] | None] | None = None
        self.thread: threading.Thread | None = None

    def submit(self, job: Callable[[], None]) -> None:
        """Run ``job`` on this destination's sender thread (started lazily)."""
        if self.thread is None or self.jobs is None:
            self.jobs = queue.SimpleQueue()
            self.thread = threading.Thread(
                target=_sender_loop, args=(self.jobs,), name=f"alertcb-send-{self.name}", daemon=True
            )
            self.thread.start()
        self.jobs.put(job)

    def stop(self, timeout_s: float) -> bool:
        """Stop the sender thread; False if it is stuck in an attempt."""
        if self.thread is None or self.jobs is None:
            return True
        self.jobs.put(None)
        self.thread.join(timeout_s)
        return not self.thread.is_alive()

    def forget_threads(self) -> None:
        self.in_flight = []
        self.jobs = None
        self.thread = None

    def next_due(self, now: float) -> float | None:
        if not self.queue or self.in_flight:
            return None
        due = max(self.queue[0].next_at, self.blocked_until)
        if self.bucket is not None and due <= now:
            due = now + self.bucket.wait_s(now)
        return due

    def stats(self, wall_offset: float) -> dict[str, Any]:
        blocked = self.blocked_until + wall_offset if self.blocked_until > time.monotonic() else None
        return {
            "type": self.channel.type,
            "enqueued": self.enqueued,
            "delivered": self.delivered,
            "retried": self.retried,
            "coalesced": self.coalesced,
            "failed": dict(self.failed),
            "pending": sum(d.merged for d in self.queue),
            "rate_limited_until": blocked,
            "last_error": self.last_error,
        }


def _sender_loop(jobs: queue.SimpleQueue[Callable[[], None] | None]) -> None:
    while True:
        job = jobs.get()
        if job is None:
            return
        job()



def remove_delivery(items: deque[Delivery], delivery: Delivery) -> None:
    if items and items[0] is delivery:
        items.popleft()
    else:
        with contextlib.suppress(ValueError):
            items.remove(delivery)
