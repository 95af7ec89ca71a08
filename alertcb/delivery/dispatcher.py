"""The dispatcher: one background thread that owns all delivery.

The training thread only calls `Dispatcher.emit`, which appends to a bounded
in-memory queue under a short lock (no I/O, never blocks, never raises). The
``alertcb-dispatcher`` daemon thread then, for each event: writes the run
directory, groups it into incidents (`Grouper`), records each resulting
notification in the outbox, and delivers it through one *lane* per destination.

A lane applies the delivery policy once for every channel: a timeout on every
attempt, capped exponential backoff with jitter, ``Retry-After`` (which blocks the
whole destination), a deadline per notification, and a token-bucket rate limit.
When a destination is over budget, its queued notifications are coalesced into
one digest ("+N more") instead of being dropped or earning 429s.

Accounting, exact at any moment: ``emitted == processed + sum(dropped) + pending``.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import random
import threading
import time
import weakref
from collections import Counter, deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from alertcb._guard import capture_internal_error, guarded
from alertcb.channels.base import Channel, Outcome, SendContext, TransportError
from alertcb.delivery.grouping import UNGROUPED_KINDS, Grouper
from alertcb.delivery.lane import Delivery, DeliveryPolicy, Lane, remove_delivery
from alertcb.delivery.outbox import Outbox
from alertcb.delivery.rundir import RunDir
from alertcb.events import Event, RunInfo
from alertcb.notification import Attachment, Notification
from alertcb.redact import scrub
from alertcb.render import Renderer

logger = logging.getLogger("alertcb")

#: Most events kept in one digest; the rest are counted in ``suppressed``.
DIGEST_MAX_EVENTS = 20
#: Most attempts handed to a destination's sender at once (destinations without a rate limit).
SEND_BATCH = 16
#: Notifications queued for one destination before the waiting ones are merged into a digest
#: (keeps memory flat while a destination is down or hung).
LANE_MAX_QUEUE = 200
#: How many more times a re-sending destination (Alertmanager) gets each resolve.
RESOLVE_RESENDS = 3
#: Events of one incident written to events.jsonl before repeats are only counted.
MAX_LOGGED_REPEATS = 100


_live: weakref.WeakSet[Dispatcher] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for dispatcher in list(_live):
        dispatcher._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Dispatcher:
    """Queue, thread and lanes. Use it through `alertcb.Notifier`.

    Args:
        channels: the destinations.
        run: the run identity stamped on events that have none.
        renderer: renders templates for channels.
        run_dir: a `RunDir` to record events in, or None.
        outbox: an `Outbox`, or None.
        policy: the `DeliveryPolicy`.
        queue_size: bound of the in-memory queue; beyond it new events are dropped.
        group_wait_s / repeat_interval_s: grouping (see `Grouper`).
        report_builder: called with a summary event; returns attachments (loss curve).
    """

    def __init__(
        self,
        channels: Sequence[Channel],
        *,
        run: RunInfo,
        renderer: Renderer,
        run_dir: RunDir | None = None,
        outbox: Outbox | None = None,
        policy: DeliveryPolicy | None = None,
        queue_size: int = 10_000,
        group_wait_s: float = 5.0,
        repeat_interval_s: float = 3600.0,
        report_builder: Callable[[Event], tuple[Attachment, ...]] | None = None,
    ) -> None:
        self.channels = list(channels)
        self.run = run
        self.renderer = renderer
        self.run_dir = run_dir
        self.outbox = outbox
        self.policy = policy or DeliveryPolicy()
        self.queue_size = queue_size
        self.report_builder = report_builder
        self.grouper = Grouper(group_wait_s=group_wait_s, repeat_interval_s=repeat_interval_s)
        self.lanes = [Lane(c, self.policy) for c in self.channels]
        self._init_runtime_state()
        self._recovery_pending = 1 if outbox is not None else 0
        _live.add(self)

    # ------------------------------------------------------------------ training-thread side
    def _init_runtime_state(self) -> None:
        # Re-entrant: a signal handler (SIGTERM) may emit while the interrupted main thread
        # is inside emit(); a plain Lock would deadlock the process there.
        self._lock = threading.RLock()
        self._cv = threading.Condition(threading.Lock())
        self._wake = threading.Event()
        self._inbox: deque[Event] = deque()
        self._emitted = 0
        self._processed = 0
        self._in_flight = 0
        self._dropped: Counter[str] = Counter()
        self._backlog = 0
        self._sleeping = False
        self._closed = False
        self._stop = False
        self._flushing = 0
        self._thread: threading.Thread | None = None
        self._http: Any = None
        self._results: deque[tuple[Lane, Delivery | None, Outcome | None]] = deque()
        self._done_buffer: list[tuple[list[int], str, str]] = []
        self._recovered = False
        self._recovery_pending = 0  # set to 1 by __init__ when an outbox must be checked

    def emit(self, event: Event) -> bool:
        """Queue ``event`` for delivery: O(1), never blocks, never raises.

        Returns:
            True if queued; False if dropped (queue full, closed, not an Event).
        """
        try:
            with self._lock:
                self._emitted += 1
                if self._closed:
                    self._dropped["closed"] += 1
                    return False
                if not isinstance(event, Event):
                    self._dropped["invalid"] += 1
                    return False
                if len(self._inbox) >= self.queue_size:
                    self._dropped["queue_full"] += 1
                    return False
                self._inbox.append(event)
            if self._thread is None:
                self.start()
            elif self._sleeping:
                self._wake.set()
            return True
        except Exception as exc:  # noqa: BLE001 - emit never raises into training code
            capture_internal_error("emit", exc)
            return False

    def start(self) -> None:
        """Start the dispatcher thread if it is not running (idempotent, fork-aware)."""
        with self._lock:
            if self._thread is not None or self._closed:
                return
            thread = threading.Thread(target=self._run, name="alertcb-dispatcher", daemon=True)
            self._thread = thread
        thread.start()

    def counts(self) -> dict[str, Any]:
        """The accounting figures, read atomically."""
        with self._lock:
            pending = len(self._inbox) + self._in_flight
            return {
                "emitted": self._emitted,
                "processed": self._processed,
                "dropped": dict(self._dropped),
                "pending": pending,
                "backlog": self._backlog + pending + self._recovery_pending,
            }

    def flush(self, timeout_s: float) -> int:
        """Wait until everything queued is delivered or given up, at most ``timeout_s``.

        Group waits are cut short and rate-limited destinations coalesce. Returns the
        number of events and notifications still pending (0 when all is done).
        """
        deadline = time.monotonic() + max(0.0, timeout_s)
        if self._thread is None and not self._inbox and not self._recovery_pending:
            return 0
        with self._cv:
            self._flushing += 1
        self._wake.set()
        try:
            with self._cv:
                while True:
                    pending = self.counts()["backlog"]
                    remaining = deadline - time.monotonic()
                    if pending == 0 or remaining <= 0 or self._thread is None:
                        return int(pending)
                    self._cv.wait(min(remaining, 0.05))
        finally:
            with self._cv:
                self._flushing -= 1

    def close(self, timeout_s: float) -> int:
        """Flush for at most ``timeout_s``, then stop the thread. Returns what is still pending."""
        start = time.monotonic()
        if self._closed:
            return int(self.counts()["backlog"])
        pending = self.flush(timeout_s)
        with self._lock:
            self._closed = True
            self._stop = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            # A short grace period lets an idle thread release the outbox and close channels.
            thread.join(max(0.25, min(1.0, timeout_s - (time.monotonic() - start))))
            if thread.is_alive():
                pending = max(pending, int(self.counts()["backlog"]))
        return pending

    @property
    def closed(self) -> bool:
        return self._closed

    def lane_stats(self) -> dict[str, dict[str, Any]]:
        offset = time.time() - time.monotonic()
        return {lane.name: lane.stats(offset) for lane in self.lanes}

    # ------------------------------------------------------------------ dispatcher thread
    def _run(self) -> None:
        try:
            while True:
                self._wait()
                if self._stop and not self._inbox:
                    break
                guarded("dispatcher loop", self._step)
        finally:
            self._shutdown()

    def _wait(self) -> None:
        now = time.monotonic()
        due = [d for d in (self.grouper.next_due(), *(lane.next_due(now) for lane in self.lanes)) if d]
        due.extend(t for t in self._resend_times())
        timeout = min([1.0, *(max(0.0, d - now) for d in due)])
        if self._flushing and self.grouper.waiting():
            timeout = 0.0
        self._sleeping = True
        if not self._inbox and not self._results and not self._stop and timeout > 0:
            self._wake.wait(timeout)
        self._sleeping = False
        self._wake.clear()

    def _step(self) -> None:
        if not self._recovered:
            self._recovered = True
            guarded("outbox recovery", self._recover)
            self._backlog = sum(len(lane.queue) for lane in self.lanes)
            self._recovery_pending = 0
        elif self.outbox is not None and guarded("outbox heartbeat", self.outbox.heartbeat, default=False):
            guarded("outbox recovery", self._recover)  # owners that held rows for us may have died
        while self._results:
            lane, delivery, outcome = self._results.popleft()
            if delivery is None or outcome is None:  # the sender finished its batch
                lane.in_flight = []
                continue
            guarded(f"settle {lane.name}", self._settle, lane, delivery, outcome, time.monotonic())
        batch: list[Event] = []
        with self._lock:
            while self._inbox and len(batch) < 2000:
                batch.append(self._inbox.popleft())
            self._in_flight = len(batch)
        notes: list[Notification] = []
        for event in batch:
            notes.extend(guarded("handle event", self._handle, event, default=[]))
        now = time.monotonic()
        notes.extend(self.grouper.tick(now, force=self._flushing > 0))
        self._route(notes)
        self._schedule_resends(now)
        for lane in self.lanes:
            guarded(f"lane {lane.name}", self._pump, lane)
        if self.run_dir is not None:
            self.run_dir.flush()
        self._flush_outbox_done()
        backlog = self.grouper.waiting() + sum(sum(d.merged for d in lane.queue) for lane in self.lanes)
        with self._lock:
            self._processed += len(batch)
            self._in_flight = 0
            self._backlog = backlog
        with self._cv:
            self._cv.notify_all()

    def _handle(self, event: Event) -> list[Notification]:
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
        notes = self.grouper.process(event, time.monotonic())
        if attachments:
            notes = [dataclasses.replace(n, attachments=attachments) for n in notes]
        return notes

    def _route(self, notes: list[Notification]) -> None:
        """Queue ``notes`` on the lanes that accept them, recording them in the outbox first
        (one transaction for the whole batch)."""
        if not notes:
            return
        now = time.monotonic()
        routed = []
        for note in notes:
            targets = [
                lane for lane in self.lanes if guarded("accepts", lane.channel.accepts, note.event, default=False)
            ]
            if targets:
                routed.append((note, targets))
        row_ids: list[dict[str, int]] = [{} for _ in routed]
        if self.outbox is not None and routed:
            batch = [(note, [t.name for t in targets]) for note, targets in routed]
            row_ids = guarded("outbox add", self.outbox.add_many, batch, default=None) or row_ids
        for (note, targets), ids in zip(routed, row_ids, strict=True):
            for lane in targets:
                lane.enqueued += 1
                lane.queue.append(Delivery(note, [ids.get(lane.name, 0)], now, now + self.policy.deadline_s))
                if len(lane.queue) > LANE_MAX_QUEUE and lane.digestible:
                    self._coalesce(lane, now, force=True)

    def _recover(self) -> None:
        if self.outbox is None:
            return
        by_name = {lane.name: lane for lane in self.lanes}
        now = time.monotonic()
        recovered = 0
        for row in self.outbox.claim_orphans(by_name):  # only rows for destinations configured here
            lane = by_name[row.destination]
            lane.enqueued += 1
            lane.queue.append(
                Delivery(row.notification, [row.row_id], now, now + self.policy.deadline_s, attempts=row.attempts)
            )
            recovered += 1
        if recovered:
            logger.info("alertcb: re-delivering %d notification(s) left in the outbox by earlier runs", recovered)

    # ---------------------------------------------------------------- delivery
    def _pump(self, lane: Lane) -> None:
        """Hand ``lane``'s sender the next due attempts (one if rate-limited, else a short
        batch), unless it is still busy."""
        now = time.monotonic()
        if lane.in_flight or not lane.queue:
            return
        if lane.queue[0].next_at > now or lane.blocked_until > now:
            return
        if lane.bucket is not None:
            tokens = lane.bucket.tokens(now)
            if tokens < 1.0:
                return
            if lane.digestible and len(lane.queue) > 1 and (tokens < len(lane.queue) or self._flushing):
                self._coalesce(lane, now)
            cost = lane.channel.messages_per_send(lane.queue[0].notification)
            if tokens < min(cost, lane.bucket.capacity):
                return
            lane.bucket.take(now, cost)
        elif lane.digestible and len(lane.queue) > LANE_MAX_QUEUE:
            self._coalesce(lane, now)
        batch = [lane.queue[0]]
        if lane.bucket is None:  # unlimited: save a thread round trip per notification
            for delivery in itertools.islice(lane.queue, 1, SEND_BATCH):
                if delivery.next_at > now:
                    break
                batch.append(delivery)
        lane.in_flight = batch
        ctx = SendContext(self._client(), self.renderer.render, self.policy.attempt_timeout_s)
        lane.submit(lambda: self._send_batch(lane, batch, ctx))

    def _send_batch(self, lane: Lane, batch: list[Delivery], ctx: SendContext) -> None:
        """On the sender thread: attempt in order, stopping at the first failure (so nothing
        is sent to a destination that just asked to wait), then report the batch done."""
        try:
            for delivery in batch:
                outcome = self._attempt(lane, delivery, ctx)
                self._results.append((lane, delivery, outcome))
                if outcome.verdict != "delivered":
                    break
        finally:
            self._results.append((lane, None, None))
            self._wake.set()

    def _coalesce(self, lane: Lane, now: float, *, force: bool = False) -> None:
        """Merge the due (all, if ``force``), attachment-free notifications of ``lane`` into one
        digest; the one in flight, if any, is left alone."""
        busy = {id(d) for d in lane.in_flight}
        mergeable = [
            d
            for d in lane.queue
            if id(d) not in busy and (force or d.next_at <= now) and not d.notification.attachments
        ]
        if len(mergeable) < 2:
            return
        events = sorted((e for d in mergeable for e in d.notification.events), key=lambda e: -e.severity)
        suppressed = sum(d.notification.suppressed for d in mergeable) + max(0, len(events) - DIGEST_MAX_EVENTS)
        digest = Delivery(
            Notification(events=tuple(events[:DIGEST_MAX_EVENTS]), suppressed=suppressed, digest=True),
            row_ids=[i for d in mergeable for i in d.row_ids],
            next_at=now,
            deadline=max(d.deadline for d in mergeable),
            merged=sum(d.merged for d in mergeable),
        )
        lane.coalesced += digest.merged
        merged_ids = {id(d) for d in mergeable}
        keep = [d for d in lane.queue if id(d) not in merged_ids]
        lane.queue.clear()
        lane.queue.extend(d for d in keep if id(d) in busy)  # deliveries in flight stay at the head
        lane.queue.append(digest)
        lane.queue.extend(d for d in keep if id(d) not in busy)

    def _attempt(self, lane: Lane, delivery: Delivery, ctx: SendContext) -> Outcome:
        """One attempt, on the lane's sender thread. Never raises."""
        try:
            outcome = lane.channel.send(delivery.notification, ctx)
        except TransportError as exc:
            outcome = Outcome.retry(str(exc))
        except Exception as exc:  # noqa: BLE001 - a broken channel must not kill the thread
            capture_internal_error(f"channel {lane.name}", exc)
            outcome = Outcome.retry(f"channel error {type(exc).__name__}: {scrub(str(exc))}")
        return outcome

    def _settle(self, lane: Lane, delivery: Delivery, outcome: Outcome, now: float) -> None:
        if outcome.verdict == "delivered":
            remove_delivery(lane.queue, delivery)
            lane.delivered += delivery.merged
            if not delivery.resend:
                self._remember_live(lane, delivery.notification, now)
            self._outbox_done(delivery, "delivered", "")
            return
        lane.last_error = outcome.reason
        if outcome.verdict == "retry" and now < delivery.deadline:
            if self.outbox is not None:
                self.outbox.attempted(delivery.row_ids, outcome.reason)
            delivery.attempts += 1
            lane.retried += 1
            backoff = min(self.policy.retry_max_s, self.policy.retry_base_s * 2 ** (delivery.attempts - 1))
            delivery.next_at = now + backoff * random.uniform(0.5, 1.0)
            if outcome.retry_after_s is not None:
                lane.blocked_until = max(lane.blocked_until, now + outcome.retry_after_s)
                delivery.next_at = max(delivery.next_at, lane.blocked_until)
            if delivery.attempts in (1, 5, 20):
                logger.warning(
                    "alertcb: delivery to %s failed (%s); retrying (attempt %d)",
                    lane.name,
                    outcome.reason,
                    delivery.attempts,
                )
            return
        remove_delivery(lane.queue, delivery)
        why = "permanent" if outcome.verdict == "permanent" else "deadline"
        lane.failed[why] += delivery.merged
        logger.error("alertcb: giving up on a notification to %s (%s): %s", lane.name, why, outcome.reason)
        self._outbox_done(delivery, "failed", outcome.reason)

    def _outbox_done(self, delivery: Delivery, state: str, error: str) -> None:
        if self.outbox is not None and any(delivery.row_ids):
            self._done_buffer.append((delivery.row_ids, state, error))

    def _flush_outbox_done(self) -> None:
        """Mark the settled rows of this loop iteration in one transaction."""
        if self.outbox is not None and (self._done_buffer or self.outbox.unwritten_attempts):
            done, self._done_buffer = self._done_buffer, []
            guarded("outbox done", self.outbox.done_many, done)

    # ---------------------------------------------------------------- periodic re-send (Alertmanager)
    def _remember_live(self, lane: Lane, note: Notification, now: float) -> None:
        """Track what a re-sending destination (Alertmanager) must refresh: firing incidents
        until they resolve, and each resolve `RESOLVE_RESENDS` more times."""
        if lane.resend_interval_s is None:
            return
        for event in note.events:
            if event.kind in UNGROUPED_KINDS:
                continue
            single = Notification(events=(event,))
            if event.resolved:
                lane.live.pop(event.fingerprint, None)
                lane.live_resolved[event.fingerprint] = (single, now, RESOLVE_RESENDS)
            else:
                lane.live_resolved.pop(event.fingerprint, None)
                lane.live[event.fingerprint] = (single, now)

    def _resend_times(self) -> list[float]:
        return [
            when + lane.resend_interval_s
            for lane in self.lanes
            if lane.resend_interval_s is not None
            for when in (
                *(w for _, w in lane.live.values()),
                *(w for _, w, _ in lane.live_resolved.values()),
            )
        ]

    def _schedule_resends(self, now: float) -> None:
        for lane in self.lanes:
            interval = lane.resend_interval_s
            if interval is None or not (lane.live or lane.live_resolved):
                continue
            queued = {e.fingerprint for d in lane.queue for e in d.notification.events}
            for fingerprint, (note, when) in list(lane.live.items()):
                if now - when >= interval and fingerprint not in queued:
                    lane.live[fingerprint] = (note, now)
                    lane.queue.append(Delivery(note, [0], now, now + interval, resend=True))
            for fingerprint, (note, when, left) in list(lane.live_resolved.items()):
                if now - when >= interval and fingerprint not in queued:
                    if left <= 1:
                        del lane.live_resolved[fingerprint]
                    else:
                        lane.live_resolved[fingerprint] = (note, now, left - 1)
                    lane.queue.append(Delivery(note, [0], now, now + interval, resend=True))

    # ---------------------------------------------------------------- resources
    def _client(self) -> Any:
        if self._http is None:
            import httpx

            p = self.policy
            self._http = httpx.Client(
                timeout=httpx.Timeout(p.attempt_timeout_s, connect=p.connect_timeout_s),
                verify=p.verify_tls,
                follow_redirects=False,
                headers={"User-Agent": f"alertcb/{_version()}"},
            )
        return self._http

    def _shutdown(self) -> None:
        all_stopped = True
        for lane in self.lanes:
            if lane.stop(0.2):
                guarded("channel close", lane.channel.close)
            else:  # a sender stuck in an attempt keeps its channel (and the HTTP client) open
                all_stopped = False
        if self._http is not None and all_stopped:
            guarded("http close", self._http.close)
            self._http = None
        if self.outbox is not None:
            self._flush_outbox_done()
            guarded("outbox release", self.outbox.release)
            guarded("outbox close", self.outbox.close)
        if self.run_dir is not None:
            guarded("run dir close", self.run_dir.close)
        with self._cv:
            self._cv.notify_all()

    def _reset_after_fork(self) -> None:
        """In a forked child: forget the parent's thread and backlog; restart lazily."""
        self._init_runtime_state()
        self.grouper.clear()
        for lane in self.lanes:
            lane.queue.clear()
            lane.live.clear()
            lane.live_resolved.clear()
            lane.forget_threads()
        if self.outbox is not None:
            self.outbox.forget_after_fork()
            self._recovered = True  # the parent's rows are the parent's business
        if self.run_dir is not None:
            self.run_dir.forget_after_fork()

    @property
    def outbox_path(self) -> Path | None:
        return self.outbox.path if self.outbox is not None else None


def _version() -> str:
    from alertcb._version import __version__

    return __version__
