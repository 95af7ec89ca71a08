"""The Notifier contract: run identity, listeners, watch, outbox re-delivery, close, fork."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import alertcb
from alertcb import Event, Notifier
from alertcb.channels.base import Outcome
from alertcb.testing import RecordingChannel, capture_events
from tests.core.helpers import BlockingChannel, ScriptedChannel


def make(tmp_path: Path, channels: list, **kw) -> Notifier:
    kw.setdefault("group_wait_s", 0.0)
    return Notifier(channels, run_name="t", run_dir=tmp_path, **kw)


def spike(i: int = 0, **kw) -> Event:
    return Event(kind="spike", title=f"loss spike {i}", message="x", **kw)



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
