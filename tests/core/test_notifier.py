"""The Notifier/dispatcher contract: non-blocking emit, exact accounting, bounded shutdown."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

import alertcb
from alertcb import Event, Notifier
from alertcb.channels.base import Outcome
from alertcb.delivery.lane import LANE_HARD_MAX_QUEUE
from alertcb.testing import RecordingChannel, capture_events
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
    """close(timeout_s=2) returns within about 2 s when the only channel hangs, and says what is left."""
    hung = BlockingChannel()
    notifier = make(tmp_path, [hung])
    for i in range(3):
        notifier.emit(spike(i, severity="critical"))
    assert hung.entered.wait(5)
    t0 = time.monotonic()
    pending = notifier.close(timeout_s=2)
    elapsed = time.monotonic() - t0
    hung.gate.set()
    assert pending >= 3
    assert 1.5 < elapsed < 4.0
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


def test_events_get_run_identity_and_are_logged(tmp_path: Path) -> None:
    """Events without a run get the notifier's run; every event lands in events.jsonl."""
    rec = RecordingChannel()
    notifier = make(tmp_path, [rec])
    notifier.emit(spike(1))
    notifier.alert("custom thing", "hello", severity="info")
    notifier.close()
    assert {e.run.name for e in rec.events} == {"t"}
    lines = (tmp_path / "t" / "events.jsonl").read_text().splitlines()
    assert len(lines) == 2
    assert rec.texts[0].startswith("🟠 t · loss spike 1")


def test_capture_events_sees_every_emit_synchronously(tmp_path: Path) -> None:
    """capture_events() yields each Event at emit time, before grouping."""
    notifier = make(tmp_path, [RecordingChannel()])
    with capture_events() as events:
        for _ in range(3):
            notifier.emit(spike(1))
        assert len(events) == 3
    notifier.emit(spike(2))
    assert len(events) == 3
    notifier.close()


def test_retry_with_backoff_then_delivered_once(tmp_path: Path) -> None:
    """Retryable failures are retried with growing delays; the alert arrives exactly once."""
    ch = ScriptedChannel([Outcome.retry("HTTP 500"), Outcome.retry("HTTP 502"), Outcome.delivered()])
    notifier = make(tmp_path, [ch], retry_base_s=0.1, retry_max_s=1)
    notifier.emit(spike(1, severity="critical"))
    assert notifier.flush(10) == 0
    assert len(ch.delivered) == 1
    gaps = [b - a for a, b in zip(ch.attempt_times, ch.attempt_times[1:], strict=False)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1
    stats = notifier.stats()["destinations"]["scripted"]
    assert stats["retried"] == 2 and stats["delivered"] == 1
    notifier.close()


def test_retry_after_blocks_the_destination(tmp_path: Path) -> None:
    """No attempt is made before Retry-After has elapsed."""
    ch = ScriptedChannel([Outcome.retry("HTTP 429", retry_after_s=1.0)])
    notifier = make(tmp_path, [ch], retry_base_s=0.01)
    notifier.emit(spike(1, severity="critical"))
    assert notifier.flush(10) == 0
    assert ch.attempt_times[1] - ch.attempt_times[0] >= 0.95
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


def test_watch_sends_crash_and_reraises(tmp_path: Path) -> None:
    """notifier.watch() reports an exception (with traceback) and re-raises it."""
    rec = RecordingChannel()
    notifier = make(tmp_path, [rec])

    @notifier.watch()
    def train() -> None:
        raise RuntimeError("boom in step 7")

    with pytest.raises(RuntimeError):
        train()
    with pytest.raises(KeyboardInterrupt), notifier.watch():
        raise KeyboardInterrupt
    notifier.close()
    crash, interrupt = rec.events
    assert crash.kind == "crash" and crash.severity == alertcb.Severity.CRITICAL
    assert "boom in step 7" in crash.message and "RuntimeError" in crash.details["traceback"]
    assert interrupt.title == "training crashed: KeyboardInterrupt"


def test_outbox_redelivers_what_an_earlier_notifier_left(tmp_path: Path) -> None:
    """Undelivered notifications left at close are delivered by the next Notifier on the outbox."""
    down = ScriptedChannel([Outcome.retry("down")] * 100, name="ops")
    first = make(tmp_path, [down], retry_base_s=5)
    first.emit(spike(1, severity="critical"))
    first.emit(spike(2, severity="critical"))
    assert first.close(timeout_s=0.5) == 2
    up = RecordingChannel(name="ops")
    second = make(tmp_path, [up])
    assert second.flush(5) == 0
    assert sorted(e.title for e in up.events) == ["loss spike 1", "loss spike 2"]
    second.close()
    third = make(tmp_path, [RecordingChannel(name="ops")])
    assert third.flush(2) == 0
    assert third.stats()["destinations"]["ops"]["delivered"] == 0  # nothing delivered twice
    third.close()


def test_after_close_emit_is_dropped_and_counted(tmp_path: Path) -> None:
    """A Notifier used after close() drops events without raising."""
    notifier = make(tmp_path, [RecordingChannel()])
    notifier.close()
    assert notifier.close() == 0
    assert notifier.emit(spike()) is False
    assert notifier.emit("not an event") is False  # type: ignore[arg-type]
    assert notifier.stats()["dropped"] == {"closed": 2}


def test_two_notifiers_in_one_process_are_independent(tmp_path: Path) -> None:
    """Two Notifiers keep separate queues, stats and destinations."""
    a, b = RecordingChannel(), RecordingChannel()
    na = Notifier([a], run_name="a", run_dir=tmp_path, group_wait_s=0)
    nb = Notifier([b], run_name="b", run_dir=tmp_path, group_wait_s=0)
    na.emit(spike(1))
    nb.emit(spike(2))
    nb.emit(spike(3))
    na.close()
    nb.close()
    assert [e.title for e in a.events] == ["loss spike 1"]
    assert len(b.events) == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_fork_child_restarts_dispatcher_and_drops_parent_backlog(tmp_path: Path) -> None:
    """After fork() the child gets a fresh dispatcher and never re-sends the parent's backlog."""
    out = tmp_path / "child.txt"
    hung = BlockingChannel()
    notifier = make(tmp_path, [hung], outbox=False)
    notifier.emit(spike(0, severity="critical"))
    assert hung.entered.wait(5)
    notifier.emit(spike(1, severity="critical"))  # the parent's backlog
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            hung.gate.set()
            ok = notifier.emit(spike(2, severity="critical"))
            left = notifier.flush(5)
            titles = [n.event.title for n in hung.sent]
            stats = notifier.stats()
            out.write_text(f"{ok} {left} {titles} {stats['emitted']}")
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert out.read_text() == "True 0 ['loss spike 2'] 1"
    hung.gate.set()
    assert notifier.flush(5) == 0
    assert [n.event.title for n in hung.sent] == ["loss spike 0", "loss spike 1"]
    notifier.close()
