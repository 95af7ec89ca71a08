"""The dispatcher: one background thread that owns all delivery.

The training thread only calls `Dispatcher.emit`, which appends to a bounded
in-memory queue under a short lock (no I/O, never blocks, never raises). The
``alertcb-dispatcher`` daemon thread then, for each event: writes the run
directory, groups it into incidents, records each resulting notification in the outbox
(`alertcb.delivery.grouping.Router`), and hands it to one `Lane` per destination, which applies
the delivery policy (timeouts, backoff, bounded ``Retry-After``, deadlines, rate limits,
honest coalescing; see `alertcb.delivery.lane`).

Time comes from one injected `alertcb.clock.Clock` shared with the grouper and the lanes.

Recovery is delivery (`alertcb.delivery.recovery`): rows an earlier (dead) process left in
the outbox go through the same lanes, one per row, and are marked delivered only when sent.

Accounting, exact at any moment: ``emitted == processed + sum(dropped) + pending``.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections import Counter, deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alertcb import heartbeat
from alertcb._guard import capture_internal_error, guarded
from alertcb._version import __version__
from alertcb.channels.base import Channel, Outcome, SendContext
from alertcb.clock import SYSTEM_CLOCK, Clock
from alertcb.delivery.grouping import Grouper, ReportBuilder, Router
from alertcb.delivery.lane import Lane
from alertcb.delivery.outbox import Outbox
from alertcb.delivery.policy import Delivery, DeliveryPolicy, http_client
from alertcb.delivery.recovery import OutboxLedger, recover
from alertcb.delivery.rundir import RunDir
from alertcb.events import Event, RunInfo
from alertcb.notification import Notification
from alertcb.render import Renderer

logger = logging.getLogger("alertcb")

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
        clock: the clock for every wait, deadline and jitter (tests pass a `ManualClock`).
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
        report_builder: ReportBuilder | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.channels = list(channels)
        self.run = run
        self.renderer = renderer
        self.run_dir = run_dir
        self.outbox = outbox
        self.policy = policy or DeliveryPolicy()
        self.queue_size = queue_size
        self.report_builder = report_builder
        self.clock = clock
        self.grouper = Grouper(group_wait_s=group_wait_s, repeat_interval_s=repeat_interval_s, clock=clock)
        self.lanes = [Lane(c, self.policy, clock, self._report) for c in self.channels]
        self._router = Router(run, self.grouper, run_dir, outbox, report_builder)
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
        self._stuck_since: float | None = None  # start of a flush that timed out, until the backlog empties
        self._thread: threading.Thread | None = None
        self._http: Any = None
        self._results: deque[tuple[Lane, Delivery | None, Outcome | None, int | None]] = deque()
        self._ledger = OutboxLedger(self.outbox)
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
        return self._flush_until(self.clock.monotonic() + max(0.0, timeout_s))

    def _flush_until(self, deadline: float) -> int:
        start = self.clock.monotonic()
        if self._thread is None and not self._inbox and not self._recovery_pending:
            return 0
        with self._cv:
            self._flushing += 1
        self._wake.set()
        try:
            with self._cv:
                while True:
                    pending = int(self.counts()["backlog"])
                    remaining = deadline - self.clock.monotonic()
                    if pending == 0 or remaining <= 0 or self._thread is None:
                        if pending and self._stuck_since is None:
                            self._stuck_since = start
                        return pending
                    self._cv.wait(min(remaining, 0.05))
        finally:
            with self._cv:
                self._flushing -= 1

    def close(self, timeout_s: float) -> int:
        """Flush for at most ``timeout_s``, then stop the thread. Returns what is still pending.

        A shutdown never waits twice for the same stuck backlog: after a flush that timed out
        (``report_crash`` on Ctrl-C, then exit), close waits only until ``timeout_s`` after
        that flush began, unless the backlog emptied in between.
        """
        start = self.clock.monotonic()
        if self._closed:
            return int(self.counts()["backlog"])
        deadline = start + max(0.0, timeout_s)
        if self._stuck_since is not None:
            deadline = min(deadline, self._stuck_since + max(0.0, timeout_s))
        pending = self._flush_until(deadline)
        with self._lock:
            self._closed = True
            self._stop = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            # A short grace period lets an idle thread release the outbox and close channels.
            thread.join(max(0.25, min(1.0, deadline - self.clock.monotonic())))
            if thread.is_alive():
                pending = max(pending, int(self.counts()["backlog"]))
        return pending

    @property
    def closed(self) -> bool:
        return self._closed

    def lane_stats(self) -> dict[str, dict[str, Any]]:
        return {lane.name: lane.stats() for lane in self.lanes}

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
        now = self.clock.monotonic()
        due = [d for d in (self.grouper.next_due(), *(lane.next_due(now) for lane in self.lanes)) if d is not None]
        timeout = min([1.0, *(max(0.0, d - now) for d in due)])
        if self._flushing and self.grouper.waiting():
            timeout = 0.0
        self._sleeping = True
        if not self._inbox and not self._results and not self._stop and timeout > 0:
            self.clock.wait(self._wake, timeout)
        self._sleeping = False
        self._wake.clear()

    def _report(self, lane: Lane, delivery: Delivery | None, outcome: Outcome | None, named: int | None) -> None:
        """Called by a lane's sender thread with each outcome (None: its batch is done)."""
        self._results.append((lane, delivery, outcome, named))
        if delivery is None:
            self._wake.set()

    def _step(self) -> None:
        if not self._recovered:
            self._recovered = True
            if self.outbox is not None:
                guarded("outbox recovery", recover, self.outbox, self.lanes, self.clock)
            self._backlog = sum(lane.pending() for lane in self.lanes)
            self._recovery_pending = 0
        elif self.outbox is not None and guarded("outbox heartbeat", self.outbox.heartbeat, default=False):
            # owners that held rows for our destinations may have died since
            guarded("outbox recovery", recover, self.outbox, self.lanes, self.clock)
        guarded("run heartbeat", heartbeat.beat, self)  # only under `alertcb run` (alertcb.heartbeat)
        while self._results:
            lane, delivery, outcome, named = self._results.popleft()
            if delivery is None or outcome is None:
                lane.batch_done()
                continue
            settled = guarded(f"settle {lane.name}", lane.settle, delivery, outcome, named, self.clock.monotonic())
            self._ledger.mark(delivery, outcome, settled)
        batch: list[Event] = []
        with self._lock:
            while self._inbox and len(batch) < 2000:
                batch.append(self._inbox.popleft())
            self._in_flight = len(batch)
        notes: list[Notification] = []
        for event in batch:
            notes.extend(guarded("handle event", self._router.handle, event, self.clock.monotonic(), default=[]))
        now = self.clock.monotonic()
        notes.extend(self.grouper.tick(now, force=self._flushing > 0))
        self._router.route(notes, self.lanes, now)
        for lane in self.lanes:
            self._ledger.settled.extend(guarded(f"expire {lane.name}", lane.expire, now, default=[]))
            guarded(f"resend {lane.name}", lane.schedule_resends, now)
        self._ledger.flush()  # before the next attempts: a kill re-sends at most one batch per lane
        for lane in self.lanes:
            guarded(f"lane {lane.name}", lane.pump, now, self._context, self._flushing > 0)
        if self.run_dir is not None:
            self.run_dir.flush()
        backlog = self.grouper.waiting() + sum(lane.pending() for lane in self.lanes)
        with self._lock:
            self._processed += len(batch)
            self._in_flight = 0
            self._backlog = backlog
            if backlog == 0 and not self._inbox:
                self._stuck_since = None
        with self._cv:
            self._cv.notify_all()

    # ---------------------------------------------------------------- resources
    def _context(self) -> SendContext:
        return SendContext(self._client(), self.renderer.render, self.policy.attempt_timeout_s)

    def _client(self) -> Any:
        if self._http is None:
            self._http = http_client(self.policy, f"alertcb/{__version__}")
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
            self._ledger.flush()
            guarded("outbox release", self.outbox.release)
            guarded("outbox close", self.outbox.close)
        if self.run_dir is not None:
            guarded("run dir close", self.run_dir.close)
        guarded("run heartbeat", heartbeat.end, self)
        with self._cv:
            self._cv.notify_all()

    def _reset_after_fork(self) -> None:
        """In a forked child: forget the parent's thread and backlog; restart lazily."""
        self._init_runtime_state()
        self.grouper.clear()
        for lane in self.lanes:
            lane.reset_after_fork()
        if self.outbox is not None:
            self.outbox.forget_after_fork()
            self._recovered = True  # the parent's rows are the parent's business
        if self.run_dir is not None:
            self.run_dir.forget_after_fork()

    @property
    def outbox_path(self) -> Path | None:
        return self.outbox.path if self.outbox is not None else None
