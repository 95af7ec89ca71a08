"""The outbox and events.jsonl under hostile text; attachments and attempt counts; ownership."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from pathlib import Path

from alertcb import Event, Notifier
from alertcb.channels.base import Outcome
from alertcb.delivery.outbox import Outbox, decode, encode
from alertcb.delivery.owner import ProcessIdentity, pid_namespace, start_time
from alertcb.delivery.rundir import RunDir
from alertcb.events import RunInfo
from alertcb.notification import Attachment, Notification
from alertcb.testing import RecordingChannel

LONE = "\ud800"


def note(i: int, *, hostile: bool = False) -> Notification:
    if hostile:
        event = Event(kind="custom", title=f"alert {i}", severity="critical",
                      details={f"key{LONE}": f"value{LONE}"}, metrics={f"loss{LONE}": 1.0})
    else:
        event = Event(kind="custom", title=f"alert {i}", severity="critical", details={"n": i})
    return Notification(events=(event,))


def test_one_hostile_row_never_fails_the_batch(tmp_path: Path) -> None:
    """14 notifications, one with lone surrogates in a detail key, value and metric name:
    all 14 rows are written, and the hostile one decodes with U+FFFD in their place."""
    box = Outbox(tmp_path / "o.sqlite3", owner="a")
    batch = [(note(i, hostile=i == 6), ["dest"]) for i in range(14)]
    ids = box.add_many(batch)
    assert all(d["dest"] for d in ids)
    assert box.pending_count() == 14 and box.unsaved == 0
    claimed = Outbox(tmp_path / "o.sqlite3", owner="b")
    box.release()
    rows = {c.notification.event.title: c.notification.event for c in claimed.claim_orphans()}
    assert len(rows) == 14
    hostile = rows["alert 6"]
    assert hostile.details == {"key\ufffd": "value\ufffd"} and set(hostile.metrics) == {"loss\ufffd"}
    box.close()
    claimed.close()


def test_encode_is_valid_utf8_for_any_text() -> None:
    body = encode(note(1, hostile=True))
    body.encode("utf-8")  # raises on a lone surrogate
    assert decode(body).event.title == "alert 1"


def test_summary_keeps_its_picture_through_the_outbox() -> None:
    """A summary with its loss-curve PNG is stored with the attachment, so a re-delivery keeps it."""
    png = bytes(range(256)) * 40
    summary = Notification(
        events=(Event(kind="summary", title="training finished", severity="info"),),
        attachments=(Attachment("loss_curve.png", "image/png", png, content_id="curve"),),
    )
    back = decode(encode(summary))
    assert back.attachments == summary.attachments and back.id == summary.id and back.created == summary.created


def test_events_jsonl_keeps_going_after_a_hostile_event_and_an_error(tmp_path: Path) -> None:
    """A hostile event is written (sanitized), and a failing line is counted without stopping later lines."""
    log = RunDir(tmp_path / "run", RunInfo(name="r"))
    log.record(Event(kind="custom", title="before", details={f"k{LONE}": 1}, metrics={f"m{LONE}": 2.0}))
    assert log._file is not None
    real = log._file
    log._file = open(os.devnull, encoding="utf-8")  # writes fail: io.UnsupportedOperation (an OSError)
    log.record(Event(kind="custom", title="lost line"))
    log._file.close()
    log._file = real
    log.record(Event(kind="custom", title="after"))
    log.close()
    lines = [json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text("utf-8").splitlines()]
    assert [line["title"] for line in lines] == ["before", "after"]
    assert lines[0]["details"] == {"k\ufffd": 1}
    assert log.errors == 1


def test_rows_show_the_real_attempt_count(tmp_path: Path) -> None:
    """After 4 failed attempts and a success, the row says attempts=5 (each settled attempt counted)."""
    outcomes = iter([Outcome.retry("HTTP 500")] * 4)
    channel = RecordingChannel(name="dest", render=False, outcome=lambda n: next(outcomes, Outcome.delivered()))
    box = tmp_path / "o.sqlite3"
    notifier = Notifier([channel], run_name="t", run_dir=tmp_path, outbox=box, group_wait_s=0,
                        retry_base_s=0.01, retry_max_s=0.02)
    notifier.alert("disk", severity="critical")
    assert notifier.flush(20) == 0
    notifier.close()
    with sqlite3.connect(box) as db:
        assert db.execute("SELECT state, attempts, last_error FROM outbox").fetchall() == [("delivered", 5, "")]


def test_pending_rows_show_attempts_so_far(tmp_path: Path) -> None:
    """A row still failing shows how many attempts were settled, and its last error."""
    channel = RecordingChannel(name="dest", render=False, outcome=lambda n: Outcome.retry("HTTP 503"))
    box = tmp_path / "o.sqlite3"
    notifier = Notifier([channel], run_name="t", run_dir=tmp_path, outbox=box, group_wait_s=0,
                        retry_base_s=0.01, retry_max_s=0.02)
    notifier.alert("disk", severity="critical")
    while channel.attempts < 4:
        time.sleep(0.02)
    notifier.close(0)
    rows = Outbox(box).rows()
    assert len(rows) == 1 and rows[0].attempts >= 3 and rows[0].last_error == "HTTP 503"


def test_identity_tells_a_new_pid_1_from_the_dead_one() -> None:
    """The identity of a process that had pid 1 but another start time is not running."""
    me = ProcessIdentity.current()
    assert me.is_running() and me.start == start_time(os.getpid()) > 0 and me.pidns == pid_namespace()
    assert ProcessIdentity(me.host, me.boot_id, me.pidns, 1, start_time(1)).is_running()
    assert not ProcessIdentity(me.host, me.boot_id, me.pidns, 1, start_time(1) + 12345).is_running()
    assert not me.same_namespace(ProcessIdentity(me.host, me.boot_id, "pid:[1]", 1, 1))


def _register_owner(box: Path, owner: str, identity: ProcessIdentity, lease_until: float) -> None:
    with sqlite3.connect(box) as db:
        db.execute("INSERT OR REPLACE INTO owners VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (owner, identity.host, identity.boot_id, identity.pidns, identity.pid, identity.start, lease_until))
        db.execute("UPDATE outbox SET owner=?, pid=? WHERE owner='x'", (owner, identity.pid))


def test_dead_pid_1_owner_is_recognised(tmp_path: Path) -> None:
    """Rows of an owner that was PID 1 (same host, boot, namespace; another start time) are
    claimed at once, although a process with pid 1 is running."""
    path = tmp_path / "o.sqlite3"
    writer = Outbox(path, owner="x")
    for i in range(5):
        writer.add(note(i), ["dest"])
    writer.close()
    me = ProcessIdentity.current()
    _register_owner(path, "pid1", ProcessIdentity(me.host, me.boot_id, me.pidns, 1, start_time(1) + 999), time.time() + 3600)
    recovery = Outbox(path, owner="r")
    assert len(recovery.claim_orphans()) == 5
    recovery.close()


def test_owner_in_another_namespace_is_judged_by_its_lease(tmp_path: Path) -> None:
    """An owner in another container (pid namespace) keeps its rows while its lease runs,
    and loses them once it expired."""
    path = tmp_path / "o.sqlite3"
    writer = Outbox(path, owner="x")
    writer.add(note(1), ["dest"])
    writer.close()
    me = ProcessIdentity.current()
    other = ProcessIdentity(socket.gethostname(), me.boot_id, "pid:[42]", 1, 7)
    _register_owner(path, "container", other, time.time() + 3600)
    recovery = Outbox(path, owner="r")
    assert recovery.claim_orphans() == []
    assert recovery.heartbeat() is False  # the recheck waits recheck_s
    recovery._claimed_at -= Outbox.recheck_s
    assert recovery.heartbeat() is True
    with sqlite3.connect(path) as db:
        db.execute("UPDATE owners SET lease_until=? WHERE owner='container'", (time.time() - 1,))
    assert [c.notification.event.title for c in recovery.claim_orphans()] == ["alert 1"]
    recovery.close()


def test_forked_child_never_releases_the_parents_rows(tmp_path: Path) -> None:
    """A forked child that uses and closes its (inherited) Notifier leaves the parent's rows owned
    by the parent; no other Notifier can claim them while the parent lives."""
    path = tmp_path / "o.sqlite3"
    hung = RecordingChannel(name="dest", render=False, outcome=lambda n: Outcome.retry("HTTP 503"))
    parent = Notifier([hung], run_name="p", run_dir=tmp_path, outbox=path, group_wait_s=0, retry_base_s=5)
    for i in range(3):
        parent.alert(f"parent {i}", severity="critical")
    while Outbox(path).pending_count() < 3:
        time.sleep(0.02)
    pid = os.fork()
    if pid == 0:  # the child: emit, close, exit
        try:
            parent.alert("child", severity="critical")
            parent.close(0.5)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert status == 0
    third = Outbox(path, owner="third")
    stolen = [c.notification.event.title for c in third.claim_orphans()]
    third.close()
    assert not [t for t in stolen if t.startswith("parent")]
    assert parent._dispatcher.outbox is not None
    owners = {r.owner for r in Outbox(path).rows() if r.summary.endswith(("parent 0", "parent 1", "parent 2"))}
    assert owners == {parent._dispatcher.outbox.owner}
    parent.close(0)
