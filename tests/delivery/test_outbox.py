"""The SQLite outbox: cap, ownership, CLI management."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alertcb import Event
from alertcb.delivery.outbox import Outbox, decode, encode
from alertcb.notification import Notification


def note(i: int) -> Notification:
    return Notification(events=(Event(kind="custom", title=f"alert {i}", severity="critical"),))


def test_round_trip_keeps_events_and_ids() -> None:
    """A notification survives encode/decode (what recovery re-sends)."""
    original = note(1)
    back = decode(encode(original))
    assert back.id == original.id and back.event.title == "alert 1" and back.event.fingerprint == original.event.fingerprint


def test_cap_drops_oldest_pending_and_counts(tmp_path: Path) -> None:
    """Beyond max_rows pending rows, the oldest are marked dropped and counted."""
    box = Outbox(tmp_path / "o.sqlite3", max_rows=50, owner="a")
    for i in range(250):
        box.add(note(i), ["dest"])
    box._enforce_cap()
    assert box.pending_count() == 50
    assert box.dropped_oldest == 200
    assert [r.summary for r in box.rows()][0] == "[critical/custom] alert 200"
    assert box.integrity_ok()
    box.close()


def test_live_owner_keeps_its_rows_until_released(tmp_path: Path) -> None:
    """Another Notifier claims pending rows only once their owner released them (or died)."""
    first = Outbox(tmp_path / "o.sqlite3", owner="first")
    first.add_many([(note(1), ["a", "b"]), (note(2), ["a"])])
    second = Outbox(tmp_path / "o.sqlite3", owner="second")
    assert second.claim_orphans() == []  # same host, owner process alive
    assert first.release() == 3
    claimed = second.claim_orphans()
    assert sorted((c.destination, c.notification.event.title) for c in claimed) == [("a", "alert 1"), ("a", "alert 2"), ("b", "alert 1")]
    second.done([c.row_id for c in claimed])
    assert second.pending_count() == 0
    first.close()
    second.close()


def test_cli_lists_retries_and_purges(tmp_path: Path) -> None:
    """`alertcb outbox list|retry|purge` manage the rows without printing any URL or key."""
    path = tmp_path / "o.sqlite3"
    box = Outbox(path, owner="x")
    ids = box.add(note(1), ["ops"])
    box.done(ids.values(), "failed", "HTTP 400")
    box.add(note(2), ["ops"])
    box.close()

    def cli(*args: str) -> str:
        run = subprocess.run([sys.executable, "-m", "alertcb", "outbox", *args, "--path", str(path)],
                             capture_output=True, text=True, check=True)
        return run.stdout

    assert "1 row(s)" in cli("list") and "alert 2" in cli("list")
    assert "2 row(s)" in cli("list", "--all")
    assert "1 failed row(s) queued again" in cli("retry")
    assert "2 row(s)" in cli("list")
    assert "0 row(s) removed" in cli("purge")
    assert "2 row(s) removed" in cli("purge", "--all")
