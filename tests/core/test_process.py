"""Whole-process behaviour: SIGTERM, kill -9 and the outbox, storms, exit-time flush."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from alertcb import Notifier
from alertcb.delivery.outbox import Outbox
from alertcb.testing import RecordingChannel

ROOT = Path(__file__).resolve().parents[2]

FILE_CHANNEL = textwrap.dedent(
    """
    import json, sys, time
    from alertcb.channels.base import Channel, Outcome

    class FileChannel(Channel):
        type = "file"
        def __init__(self, path, delay_s=0.0, name="file"):
            super().__init__(name=name)
            self.path, self.delay_s = path, delay_s
        def send(self, n, ctx):
            time.sleep(self.delay_s)
            with open(self.path, "a") as f:
                for e in n.events:
                    f.write(json.dumps({"id": n.id, "kind": e.kind, "title": e.title, "status": e.status}) + "\\n")
            return Outcome.delivered()
    """
)


def run_script(tmp_path: Path, body: str) -> subprocess.Popen[str]:
    script = tmp_path / "script.py"
    script.write_text(FILE_CHANNEL + textwrap.dedent(body))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=tmp_path)


def test_sigterm_sends_interrupted_alert_then_exits_as_sigterm(tmp_path: Path) -> None:
    """On SIGTERM (opt-in handler) the interrupted alert is delivered before the process exits 143."""
    out = tmp_path / "out.jsonl"
    proc = run_script(
        tmp_path,
        f"""
        import alertcb
        n = alertcb.Notifier([FileChannel({str(out)!r})], run_name="job", run_dir={str(tmp_path)!r},
                             handle_sigterm=True, flush_timeout_s=5)
        print("ready", flush=True)
        while True:
            time.sleep(0.05)   # "training"
        """,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=20)
    assert proc.returncode == -signal.SIGTERM
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(e["kind"], e["title"]) for e in lines] == [("interrupted", "training interrupted (SIGTERM)")]


def test_exit_flushes_and_reports_pending(tmp_path: Path) -> None:
    """At normal interpreter exit queued alerts are flushed; what cannot be sent is reported on stderr."""
    out = tmp_path / "out.jsonl"
    proc = run_script(
        tmp_path,
        f"""
        import alertcb, threading
        from alertcb.channels.base import Channel, Outcome
        class Hung(Channel):
            type = "hung"
            def send(self, n, ctx):
                threading.Event().wait()
        n = alertcb.Notifier([FileChannel({str(out)!r}, delay_s=0.2), Hung()], run_name="job",
                             run_dir={str(tmp_path)!r}, flush_timeout_s=2, group_wait_s=0)
        for i in range(3):
            n.alert(f"a{{i}}", severity="critical")
        """,
    )
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert len(out.read_text().splitlines()) == 3
    assert "3 alert(s) pending at close, saved to" in err


@pytest.mark.slow
def test_kill_9_loses_nothing_the_outbox_accepted(tmp_path: Path) -> None:
    """kill -9 at random moments (20 runs): every row the outbox accepted is delivered by the next Notifier."""
    rng = random.Random(1234)
    box = tmp_path / "outbox.sqlite3"
    out = tmp_path / "out.jsonl"
    accepted: set[str] = set()
    for run in range(20):
        proc = run_script(
            tmp_path,
            f"""
            import alertcb
            n = alertcb.Notifier([FileChannel({str(out)!r}, delay_s=0.02, name="dest")], run_name="r{run}",
                                 run_dir={str(tmp_path)!r}, outbox={str(box)!r}, group_wait_s=0)
            print("ready", flush=True)
            i = 0
            while True:
                n.alert(f"r{run}-{{i}}", severity="critical")
                i += 1
                time.sleep(0.005)
            """,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.6))
        proc.kill()
        proc.wait(timeout=10)
        with sqlite3.connect(box) as db:
            accepted |= {row[0] for row in db.execute("SELECT notification_id FROM outbox")}
    assert len(accepted) > 100
    with sqlite3.connect(box) as db:
        left = db.execute("SELECT count(*) FROM outbox WHERE state='pending'").fetchone()[0]
    recovery = Notifier([RecordingChannel(name="dest", render=False)], run_name="recovery",
                        run_dir=tmp_path, outbox=box, rate_limits=False)
    assert recovery.flush(60) == 0
    recovered = recovery.stats()["destinations"]["dest"]["delivered"]
    recovery.close()
    assert recovered == left  # every row left pending by a killed process was delivered now
    with sqlite3.connect(box) as db:
        states = dict(db.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall())
    # Each accepted notification was delivered (alone, or merged into a digest whose delivery
    # marks all its rows): none pending, failed or dropped.
    assert states == {"delivered": len(accepted)}
    check = Outbox(box)
    assert check.integrity_ok()
    check.close()


@pytest.mark.slow
def test_storm_of_a_million_emits_is_a_handful_of_messages_with_flat_memory(tmp_path: Path) -> None:
    """1,000,000 emits of one anomaly: ≤ 5 messages per destination, RSS growth ≤ 20 MB."""
    out = tmp_path / "out.jsonl"
    proc = run_script(
        tmp_path,
        f"""
        import resource, alertcb
        def rss_mb():
            for line in open("/proc/self/status"):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        n = alertcb.Notifier([FileChannel({str(out)!r})], run_name="storm", run_dir={str(tmp_path)!r})
        for _ in range(1000):
            n.emit(alertcb.Event(kind="nonfinite", title="loss is NaN", severity="critical"))
        n.flush(5)
        before = rss_mb()
        for _ in range(1_000_000):
            n.emit(alertcb.Event(kind="nonfinite", title="loss is NaN", severity="critical"))
        n.flush(30)
        after = rss_mb()
        s = n.stats()
        n.close()
        print(json.dumps({{"growth_mb": after - before, "emitted": s["emitted"], "processed": s["processed"],
                          "dropped": s["dropped"]}}))
        """,
    )
    stdout, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    result = json.loads(stdout.strip().splitlines()[-1])
    messages = out.read_text().splitlines()
    assert 1 <= len(messages) <= 5
    assert result["growth_mb"] <= 20
    assert result["emitted"] == result["processed"] + sum(result["dropped"].values())


def test_sigterm_inside_emit_does_not_deadlock(tmp_path: Path) -> None:
    """SIGTERM arriving while the main thread is inside emit() (holding the queue lock) still
    exits as SIGTERM within flush_timeout_s, instead of hanging the process."""
    proc = run_script(
        tmp_path,
        f"""
        import alertcb, os, signal
        n = alertcb.Notifier([FileChannel({str(tmp_path / "out.jsonl")!r})], run_name="job",
                             run_dir={str(tmp_path)!r}, handle_sigterm=True, flush_timeout_s=1)
        with n._dispatcher._lock:  # as if interrupted in the middle of emit()
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)
        """,
    )
    proc.wait(timeout=20)
    assert proc.returncode == -signal.SIGTERM
