"""The dispatcher through a Notifier: non-blocking emit, exact accounting, retries, budgets, grouping."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from alertcb import Event, Notifier
from alertcb.channels.base import Outcome
from alertcb.clock import ManualClock
from alertcb.delivery.lane import LANE_HARD_MAX_QUEUE
from alertcb.testing import RecordingChannel
from tests.core.helpers import BlockingChannel, ScriptedChannel


def make(tmp_path: Path, channels: list, **kw) -> Notifier:
    kw.setdefault("group_wait_s", 0.0)
    return Notifier(channels, run_name="t", run_dir=tmp_path, **kw)


def spike(i: int = 0, **kw) -> Event:
    return Event(kind="spike", title=f"loss spike {i}", message="x", **kw)


def test_emit_never_blocks_and_queue_stays_bounded(tmp_path: Path) -> None:
    """With a channel that blocks forever, 50k emits return at once and the queue stays bounded."""
    hung = BlockingChannel()
    notifier = make(tmp_path, [hung], queue_size=1000)
    try:
        notifier.emit(spike(-1, severity="critical"))
        assert hung.entered.wait(5)
        worst = 0.0
        for i in range(50_000):
            t0 = time.perf_counter()
            notifier.emit(spike(i))
            worst = max(worst, time.perf_counter() - t0)
        stats = notifier.stats()
        assert stats["pending"] <= 1000 + 2000  # the queue bound + one batch being handled
        assert stats["dropped"].get("queue_full", 0) > 0  # a tight loop outruns the dispatcher
        # Waiting ones merge into a digest (keeping every incident) once the lane is not keeping up.
        assert len(notifier._dispatcher.lanes[0].queue) <= LANE_HARD_MAX_QUEUE + 1
        assert worst < 0.5  # loose: a blocking emit would take forever here
    finally:
        assert notifier.close(timeout_s=0.5) > 0
        hung.gate.set()


def test_accounting_invariant_holds_at_any_time(tmp_path: Path) -> None:
    """emitted == processed + dropped + pending, sampled while two threads emit."""
    rec = RecordingChannel(render=False)
    notifier = make(tmp_path, [rec], queue_size=500)
    stop = threading.Event()

    def producer() -> None:
        i = 0
        while not stop.is_set():
            notifier.emit(spike(i % 50))
            i += 1

    threads = [threading.Thread(target=producer) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for _ in range(200):
            s = notifier.stats()
            assert s["emitted"] == s["processed"] + sum(s["dropped"].values()) + s["pending"]
            time.sleep(0.002)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert notifier.flush(10) == 0
    s = notifier.stats()
    assert s["pending"] == 0
    assert s["emitted"] == s["processed"] + sum(s["dropped"].values())
    notifier.close()


def test_close_is_bounded_with_a_hung_channel_and_reports_pending(tmp_path: Path) -> None:
    """close(timeout_s=2) waits its timeout, then returns while the only channel is still hung,
    and says what is left."""
    hung = BlockingChannel()
    notifier = make(tmp_path, [hung])
    for i in range(3):
        notifier.emit(spike(i, severity="critical"))
    assert hung.entered.wait(5)
    t0 = time.monotonic()
    pending = notifier.close(timeout_s=2)  # returns although the channel never answers
    elapsed = time.monotonic() - t0
    hung.gate.set()
    assert pending >= 3
    assert elapsed >= 1.5  # it did wait for delivery first
    assert notifier.emit(spike(9)) is False
    assert notifier.stats()["dropped"]["closed"] == 1


def test_flush_delivers_everything_and_returns_zero(tmp_path: Path) -> None:
    """flush() waits for delivery, cutting group waits short."""
    rec = RecordingChannel()
    notifier = make(tmp_path, [rec], group_wait_s=60)
    notifier.emit(spike(1))  # a warning: waits for its group unless flushed
    assert notifier.flush(5) == 0
    assert [e.title for e in rec.events] == ["loss spike 1"]
    notifier.close()


class ClockedChannel(ScriptedChannel):
    """A ScriptedChannel that stamps attempts with the injected clock."""

    def __init__(self, outcomes: list[Outcome], clock: ManualClock) -> None:
        super().__init__(outcomes)
        self.clock = clock

    def send(self, notification, ctx):  # type: ignore[no-untyped-def]
        outcome = super().send(notification, ctx)
        self.attempt_times[-1] = self.clock.monotonic()
        return outcome


def run_clock(clock: ManualClock, until, step_s: float = 1.0, limit_s: float = 600.0) -> None:  # type: ignore[no-untyped-def]
    """Advance the fake clock step by step until ``until()`` (the dispatcher catches up between steps)."""
    waited = 0.0
    while not until() and waited < limit_s:
        time.sleep(0.02)  # real time only for the background thread to notice, not to measure
        clock.advance(step_s)
        waited += step_s
    assert until()


def test_retry_with_backoff_then_delivered_once(tmp_path: Path) -> None:
    """Retryable failures are retried with growing delays (on the injected clock); the alert
    arrives exactly once."""
    clock = ManualClock()
    ch = ClockedChannel([Outcome.retry("HTTP 500"), Outcome.retry("HTTP 502"), Outcome.delivered()], clock)
    notifier = make(tmp_path, [ch], retry_base_s=10, retry_max_s=100, clock=clock)
    notifier.emit(spike(1, severity="critical"))
    run_clock(clock, lambda: len(ch.delivered) == 1)
    gaps = [b - a for a, b in zip(ch.attempt_times, ch.attempt_times[1:], strict=False)]
    assert gaps[0] >= 5 and gaps[1] >= 10  # base 10 s then 20 s, jittered to [50 %, 100 %]
    stats = notifier.stats()["destinations"]["scripted"]
    assert stats["retried"] == 2 and stats["delivered"] == 1
    notifier.close()


def test_retry_after_blocks_the_destination(tmp_path: Path) -> None:
    """No attempt is made before Retry-After has elapsed (on the injected clock)."""
    clock = ManualClock()
    ch = ClockedChannel([Outcome.retry("HTTP 429", retry_after_s=60.0)], clock)
    notifier = make(tmp_path, [ch], retry_base_s=0.01, clock=clock)
    notifier.emit(spike(1, severity="critical"))
    run_clock(clock, lambda: len(ch.delivered) == 1)
    assert ch.attempt_times[1] - ch.attempt_times[0] >= 60
    notifier.close()


def test_permanent_failure_is_not_retried(tmp_path: Path) -> None:
    """A permanent failure is reported once and not retried."""
    ch = ScriptedChannel([Outcome.permanent("HTTP 400: invalid_payload")])
    notifier = make(tmp_path, [ch], retry_base_s=0.01)
    notifier.emit(spike(1, severity="critical"))
    assert notifier.flush(5) == 0
    assert len(ch.attempt_times) == 1
    stats = notifier.stats()["destinations"]["scripted"]
    assert stats["failed"] == {"permanent": 1}
    assert "invalid_payload" in stats["last_error"]
    notifier.close()


def test_deadline_gives_up(tmp_path: Path) -> None:
    """A notification that keeps failing is given up after deadline_s."""
    ch = ScriptedChannel([Outcome.retry("down")] * 1000)
    notifier = make(tmp_path, [ch], retry_base_s=0.05, retry_max_s=0.1, deadline_s=0.5)
    notifier.emit(spike(1, severity="critical"))
    assert notifier.flush(5) == 0
    assert notifier.stats()["destinations"]["scripted"]["failed"] == {"deadline": 1}
    notifier.close()


def test_rate_limited_destination_coalesces_into_a_digest(tmp_path: Path) -> None:
    """Over its budget, a destination gets one digest ("+N more") instead of N messages."""
    ch = ScriptedChannel([], rate_limit_per_min=6)  # burst 5, then 1 per 10 s
    notifier = make(tmp_path, [ch])
    for i in range(30):
        notifier.emit(spike(i, severity="critical"))
    assert notifier.flush(5) == 0
    assert len(ch.delivered) <= 6
    assert sum(len(n.events) + n.suppressed for n in ch.delivered) == 30
    assert any(n.digest for n in ch.delivered)
    notifier.close()


def test_one_failing_destination_does_not_hold_up_another(tmp_path: Path) -> None:
    """A destination in backoff does not delay a healthy one."""
    bad = ScriptedChannel([Outcome.retry("down")] * 100, name="bad")
    good = RecordingChannel(name="good")
    notifier = make(tmp_path, [bad, good], retry_base_s=5)
    notifier.emit(spike(1, severity="critical"))
    deadline = time.monotonic() + 5
    while not good.notifications and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(good.notifications) == 1
    notifier.close(0.1)


def test_storm_is_grouped_into_few_messages(tmp_path: Path) -> None:
    """100k repeats of one anomaly become one message plus a resolve with the count."""
    rec = RecordingChannel()
    notifier = make(tmp_path, [rec], queue_size=200_000)
    for _ in range(100_000):
        notifier.emit(Event(kind="nonfinite", title="loss is NaN", severity="critical"))
    notifier.emit(Event(kind="nonfinite", title="loss is NaN", severity="critical", status="resolved"))
    assert notifier.flush(30) == 0
    assert len(rec.notifications) == 2
    assert rec.notifications[1].event.resolved
    assert rec.notifications[1].suppressed == 99_999
    lines = (tmp_path / "t" / "events.jsonl").read_text().splitlines()
    assert len(lines) <= 101
    notifier.close()
