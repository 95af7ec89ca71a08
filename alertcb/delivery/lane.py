"""One destination's delivery: its queue, budget, sender thread, and the logic that uses them.

A `Lane` owns its state *and* every decision about it: `enqueue` (and coalescing), `pump`
(hand the sender thread the next due attempts), `settle` (an attempt's outcome: delivered,
retry with backoff and a bounded ``Retry-After``, or given up), `expire` (the deadline, in
every state), and the periodic re-sends of destinations that need them (Alertmanager,
`alertcb.delivery.resend`). The dispatcher only calls this API, from its own thread; the
lane's `Sender` thread (``alertcb-send-<name>``) runs one batch of attempts at a time and
reports each outcome through ``report``, so a hung destination holds only its own thread.

Coalescing is honest: a destination is coalesced only when it must be (``Channel.coalesce``
is True *and* it is rate-limited or failing); summaries, progress digests, test messages,
notifications with attachments are never folded, recovered ones only among themselves when
the rate limit cannot send them one by one before their deadline; a digest keeps every
incident (see `alertcb.delivery.policy.fold`).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from alertcb._guard import capture_internal_error
from alertcb.channels.base import Channel, Outcome, SendContext
from alertcb.clock import Clock
from alertcb.delivery.grouping import UNGROUPED_KINDS
from alertcb.delivery.policy import Delivery, DeliveryPolicy, TokenBucket, fold
from alertcb.delivery.resend import Resends
from alertcb.errors import TransportError
from alertcb.notification import Notification
from alertcb.redact import scrub

logger = logging.getLogger("alertcb")

#: Most attempts handed to an unlimited destination's sender at once.
SEND_BATCH = 16
#: Queued notifications of a rate-limited or failing destination beyond which the waiting
#: ones are folded into one digest (keeps memory flat while a destination is down).
LANE_MAX_QUEUE = 200
#: Queued notifications beyond which any destination's waiting ones are folded: one that
#: has this many waiting is not keeping up (a burst of a few hundred never reaches it).
LANE_HARD_MAX_QUEUE = 1000
__all__ = ["LANE_HARD_MAX_QUEUE", "LANE_MAX_QUEUE", "SEND_BATCH", "Lane"]

#: The counters `Lane.stats` reports, in its order.
_COUNTED = (
    "enqueued", "delivered", "notifications_delivered", "incidents_named", "incidents_summarized",
    "coalesced", "recovered", "resent", "retried",
)
#: ``report(lane, delivery, outcome, named)``; ``delivery is None`` marks the end of a batch.
Report = Callable[["Lane", "Delivery | None", "Outcome | None", "int | None"], None]
#: What `settle`/`expire` return for the outbox: (row ids, "delivered"|"failed", error).
Settled = tuple[list[int], str, str]


Job = Callable[[], None]


def attempt(channel: Channel, notification: Notification, ctx: SendContext) -> Outcome:
    """One ``channel.send``. Never raises: a transport error retries, a broken channel is
    logged (redacted) and retried."""
    try:
        return channel.send(notification, ctx)
    except TransportError as exc:
        return Outcome.retry(str(exc))
    except Exception as exc:  # noqa: BLE001 - a broken channel must not kill the thread
        capture_internal_error(f"channel {channel.name}", exc)
        return Outcome.retry(f"channel error {type(exc).__name__}: {scrub(str(exc))}")


class Sender:
    """A daemon thread ``alertcb-send-<name>`` running one destination's jobs, started lazily."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._jobs: queue.SimpleQueue[Job | None] | None = None
        self._thread: threading.Thread | None = None

    def submit(self, job: Job) -> None:
        """Run ``job`` on the sender thread (starting it if needed)."""
        if self._thread is None or self._jobs is None:
            self._jobs = queue.SimpleQueue()
            self._thread = threading.Thread(target=_loop, args=(self._jobs,), name=f"alertcb-send-{self.name}", daemon=True)
            self._thread.start()
        self._jobs.put(job)

    def stop(self, timeout_s: float) -> bool:
        """Stop the thread; False if it is stuck in an attempt (it is abandoned: daemon)."""
        if self._thread is None or self._jobs is None:
            return True
        self._jobs.put(None)
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def forget(self) -> None:
        """In a forked child: the parent's thread does not exist here."""
        self._jobs = None
        self._thread = None


def _loop(jobs: queue.SimpleQueue[Job | None]) -> None:
    while (job := jobs.get()) is not None:
        job()


class Lane:
    """One destination.

    Args:
        channel: the destination.
        policy: the `DeliveryPolicy`.
        clock: the clock (time and jitter).
        report: called on the sender thread with each outcome, then once per batch with None.
    """

    def __init__(self, channel: Channel, policy: DeliveryPolicy, clock: Clock, report: Report) -> None:
        self.channel = channel
        self.name = channel.name
        self.policy = policy
        self.clock = clock
        self._report = report
        rate = channel.rate_limit_per_min if policy.rate_limits else None
        self.bucket = TokenBucket(rate, channel.default_burst, clock.monotonic()) if rate else None
        self.coalesce = bool(channel.coalesce)
        self.resend_interval_s: float | None = getattr(channel, "resend_interval_s", None)
        self.resends = Resends(self.resend_interval_s) if self.resend_interval_s is not None else None
        self.queue: deque[Delivery] = deque()
        self.in_flight: list[Delivery] = []  # handed to the sender thread, not yet settled
        self.blocked_until = 0.0
        self.failing = 0  # consecutive failed attempts
        self._in_flight_since = 0.0
        self._next_deadline = float("inf")  # a lower bound of the queued deadlines
        self._fold_check_at = LANE_MAX_QUEUE  # queue length at which folding is tried next
        self.counts: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.last_error = ""
        self.sender = Sender(self.name)

    # ------------------------------------------------------------------ queueing
    def enqueue(
        self, note: Notification, row_id: int, now: float, *, recovered: bool = False, attempts: int = 0
    ) -> None:
        """Queue ``note`` (outbox row ``row_id``, 0 for none); fold the waiting ones into a
        digest when a rate-limited or failing destination holds more than `LANE_MAX_QUEUE`."""
        deadline = now + self.policy.deadline_s
        self.queue.append(Delivery(note, [row_id], now, deadline, recovered=recovered, attempts=attempts))
        self._next_deadline = min(self._next_deadline, deadline)
        self.counts["enqueued"] += 1
        if recovered:
            self.counts["recovered"] += 1
        size = len(self.queue)
        if size <= LANE_MAX_QUEUE:
            self._fold_check_at = LANE_MAX_QUEUE
        elif size > self._fold_check_at and (
            size > LANE_HARD_MAX_QUEUE or self.bucket is not None or self.unhealthy(now)
        ):
            self._coalesce(now, due_only=False)
            size = len(self.queue)  # what could not be folded: look again once it doubled (O(n) in all)
            self._fold_check_at = 2 * size if size > LANE_MAX_QUEUE else LANE_MAX_QUEUE

    def unhealthy(self, now: float) -> bool:
        """Failing (the last attempt failed) or stalled (an attempt in flight past its timeout)."""
        stall_s = self.policy.attempt_timeout_s + self.policy.connect_timeout_s
        return bool(self.failing) or (bool(self.in_flight) and now - self._in_flight_since > stall_s)

    def pending(self) -> int:
        """Notifications queued here (a digest counts for what it stands for)."""
        return sum(d.merged for d in list(self.queue) if not d.resend)  # list(): atomic copy (stats() thread)

    # ------------------------------------------------------------------ sending
    def pump(self, now: float, make_ctx: Callable[[], SendContext], flushing: bool = False) -> None:
        """Hand the sender thread the next due attempts (one if rate-limited, else a short
        batch), unless it is busy, blocked by ``Retry-After`` or out of budget."""
        if self.in_flight or not self.queue:
            return
        head = self.queue[0]
        if head.next_at > now or self.blocked_until > now:
            return
        if self.coalesce and self.failing:
            self._coalesce(now, due_only=False)  # one message carries the backlog once it answers
        if self.bucket is not None:
            tokens = self.bucket.tokens(now)
            if tokens < 1.0:
                return
            if self.coalesce and len(self.queue) > 1 and (tokens < len(self.queue) or flushing):
                self._coalesce(now, due_only=True)
            cost = self.channel.messages_per_send(self.queue[0].notification)
            if tokens < min(cost, self.bucket.capacity):
                return
            self.bucket.take(now, cost)
        batch = [self.queue[0]]
        if self.bucket is None:  # unlimited: save a thread round trip per notification
            for i, delivery in enumerate(self.queue):
                if i == 0:
                    continue
                if i >= SEND_BATCH or delivery.next_at > now:
                    break
                batch.append(delivery)
        self.in_flight = batch
        self._in_flight_since = now
        ctx = make_ctx()
        self.sender.submit(lambda: self._send_batch(batch, ctx))

    def batch_done(self) -> None:
        """The sender finished its batch (every outcome was reported before this)."""
        self.in_flight = []

    def _send_batch(self, batch: list[Delivery], ctx: SendContext) -> None:
        """On the sender thread: attempt in order, stopping at the first failure (nothing more
        goes to a destination that just asked to wait)."""
        try:
            for delivery in batch:
                ctx.named = None
                outcome = attempt(self.channel, delivery.notification, ctx)
                self._report(self, delivery, outcome, ctx.named)
                if outcome.verdict != "delivered":
                    break
        finally:
            self._report(self, None, None, None)

    # ------------------------------------------------------------------ outcomes
    def settle(self, delivery: Delivery, outcome: Outcome, named: int | None, now: float) -> Settled | None:
        """Apply one attempt's ``outcome``; return the outbox update, if any."""
        if outcome.verdict == "delivered":
            self._remove(delivery)
            self.failing = 0
            if delivery.resend:
                self.counts["resent"] += 1
                return None
            self._count_delivered(delivery.notification, named)
            self.counts["notifications_delivered"] += delivery.merged
            if self.resends is not None:
                self.resends.remember(delivery.notification, now)
            return (delivery.row_ids, "delivered", "")
        self.failing += 1
        self.last_error = outcome.reason
        if outcome.verdict == "retry" and now < delivery.deadline:
            delivery.attempts += 1
            self.counts["retried"] += 1
            backoff = min(self.policy.retry_max_s, self.policy.retry_base_s * 2 ** (delivery.attempts - 1))
            delivery.next_at = now + backoff * self.clock.random.uniform(0.5, 1.0)
            if outcome.retry_after_s is not None:
                wait = min(max(0.0, outcome.retry_after_s), self.policy.max_retry_after_s)
                if outcome.retry_after_s > self.policy.max_retry_after_s:
                    logger.warning(
                        "alertcb: %s asked to wait %.0f s (Retry-After); waiting %.0f s (max_retry_after_s)",
                        self.name, outcome.retry_after_s, wait,
                    )
                self.blocked_until = max(self.blocked_until, now + wait)
                delivery.next_at = max(delivery.next_at, self.blocked_until)
            if delivery.attempts in (1, 5, 20):
                logger.warning(
                    "alertcb: delivery to %s failed (%s); retrying (attempt %d)",
                    self.name, outcome.reason, delivery.attempts,
                )
            return None
        why = "permanent" if outcome.verdict == "permanent" else "deadline"
        return self._give_up(delivery, why, outcome.reason)

    def expire(self, now: float) -> list[Settled]:
        """Give up the queued (not in-flight) deliveries past their deadline, whatever they wait for."""
        if now < self._next_deadline:
            return []
        busy = {id(d) for d in self.in_flight}
        late = [d for d in self.queue if d.deadline <= now and id(d) not in busy]
        out = [s for d in late if (s := self._give_up(d, "deadline", self.last_error or "deadline passed"))]
        self._next_deadline = min((d.deadline for d in self.queue), default=float("inf"))
        return out

    def _give_up(self, delivery: Delivery, why: str, reason: str) -> Settled | None:
        self._remove(delivery)
        if delivery.resend:
            return None
        self.failed[why] += delivery.merged
        logger.error("alertcb: giving up on a notification to %s (%s): %s", self.name, why, reason)
        return (delivery.row_ids, "failed", f"{why}: {reason}" if reason else why)

    def _count_delivered(self, note: Notification, named: int | None) -> None:
        self.counts["delivered"] += 1  # messages the destination accepted
        if not note.digest:
            self.counts["incidents_named"] += note.incidents
            return
        shown = min(len(note.events), named if named is not None else 1)
        distinct_shown = len({e.fingerprint for e in note.events[:shown]})
        self.counts["incidents_named"] += distinct_shown
        self.counts["incidents_summarized"] += note.incidents - distinct_shown

    def _remove(self, delivery: Delivery) -> None:
        if self.queue and self.queue[0] is delivery:
            self.queue.popleft()
            return
        for i, d in enumerate(self.queue):
            if d is delivery:
                del self.queue[i]
                return

    # ------------------------------------------------------------------ coalescing
    def _foldable(self, d: Delivery, busy: set[int], now: float, due_only: bool) -> bool:
        note = d.notification
        return (
            id(d) not in busy
            and not d.resend
            and not note.attachments
            and note.event.kind not in UNGROUPED_KINDS
            and (not due_only or d.next_at <= now)
        )

    def _recovered_over_budget(self, recovered: list[Delivery], now: float) -> bool:
        """Whether a rate-limited destination cannot send ``recovered`` one by one before their
        deadline (then, and only then, they are folded, among themselves)."""
        if self.bucket is None or len(recovered) < 2:
            return False
        needed_s = len(recovered) / self.bucket.rate_per_s
        return now + needed_s > min(d.deadline for d in recovered) - 0.2 * self.policy.deadline_s

    def _coalesce(self, now: float, *, due_only: bool) -> None:
        """Fold the foldable queued notifications into one digest at the place of the first
        (recovered ones separately, and only when the budget cannot send them one by one);
        the ones in flight are left alone."""
        if not self.coalesce:
            return
        busy = {id(d) for d in self.in_flight}
        candidates = [d for d in self.queue if self._foldable(d, busy, now, due_only)]
        fresh = [d for d in candidates if not d.recovered]
        recovered = [d for d in candidates if d.recovered]
        self._fold_group(fresh, now)
        if self._recovered_over_budget(recovered, now):
            self._fold_group(recovered, now)

    def _fold_group(self, mergeable: list[Delivery], now: float) -> None:
        if len(mergeable) < 2:
            return
        digest = fold(mergeable, now)
        self.counts["coalesced"] += sum(d.merged for d in mergeable if not d.notification.digest)
        merged_ids = {id(d) for d in mergeable}
        first = next(i for i, d in enumerate(self.queue) if id(d) in merged_ids)
        keep = [d for d in self.queue if id(d) not in merged_ids]
        keep.insert(min(first, len(keep)), digest)
        self.queue.clear()
        self.queue.extend(keep)

    # ------------------------------------------------------------------ periodic re-send (Alertmanager)
    def schedule_resends(self, now: float) -> None:
        """Queue the refreshes that are due (`alertcb.delivery.resend.Resends.due`)."""
        if self.resends is None or not (self.resends.live or self.resends.live_resolved):
            return
        queued = {e.fingerprint for d in self.queue for e in d.notification.events}
        self.queue.extend(self.resends.due(now, queued))

    # ------------------------------------------------------------------ timing
    def next_due(self, now: float) -> float | None:
        """When this lane next has something to do (an attempt, a deadline, a re-send), or None."""
        times = []
        if self.queue and not self.in_flight:
            due = max(self.queue[0].next_at, self.blocked_until)
            if self.bucket is not None and due <= now:
                due = now + self.bucket.wait_s(now)
            times.append(due)
        if self.queue and self._next_deadline != float("inf"):
            times.append(self._next_deadline)
        if self.resends is not None:
            times.extend(self.resends.next_times())
        return min(times) if times else None

    def stats(self) -> dict[str, Any]:
        """Per-destination figures (see `alertcb.Notifier.stats`)."""
        now = self.clock.monotonic()
        blocked = self.blocked_until - now + self.clock.time() if self.blocked_until > now else None
        counted = {key: self.counts[key] for key in _COUNTED}
        return {
            "type": self.channel.type,
            **counted,
            "failed": dict(self.failed),
            "pending": self.pending(),
            "rate_limited_until": blocked,
            "last_error": self.last_error,
        }

    # ------------------------------------------------------------------ threads
    def stop(self, timeout_s: float) -> bool:
        """Stop the sender thread; False if it is stuck in an attempt."""
        return self.sender.stop(timeout_s)

    def reset_after_fork(self) -> None:
        """In a forked child: forget the parent's queue, re-sends and threads."""
        self.queue.clear()
        if self.resends is not None:
            self.resends.clear()
        self.in_flight = []
        self.sender.forget()
        self._next_deadline = float("inf")
