"""`alertcb run -- COMMAND` against real child processes and a real loopback webhook receiver."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest_services import Receiver, wait_for

ROOT = Path(__file__).resolve().parents[2]
CHILDREN = Path(__file__).parent / "children"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.start()
    yield r
    r.stop()


def _env(receiver: Receiver, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for key in list(env):
        if key.startswith("ALERTCB_"):
            del env[key]
    env.update(
        ALERTCB_WEBHOOK_URL=receiver.url,
        ALERTCB_RUN_DIR=str(tmp_path / "runs"),
        ALERTCB_RUN_NAME="sup",
        ALERTCB_RETRY_BASE_S="0.05",
        PYTHONPATH=str(ROOT),
        TF_CPP_MIN_LOG_LEVEL="3",
    )
    env.update(extra)
    return env


def _run(argv: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "alertcb", "run", "--heartbeat-timeout-s", "3", "--heartbeat-interval-s",
           "0.2", *argv]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def _events(receiver: Receiver) -> list[dict[str, Any]]:
    return [event for body in receiver.bodies() for event in body["events"]]


def _plain(mode: str) -> list[str]:
    return ["--", sys.executable, str(CHILDREN / "plain.py"), mode]


@pytest.mark.parametrize(
    ("mode", "status", "signame"),
    [("sigkill", 137, "SIGKILL"), ("segv", 128 + signal.SIGSEGV, "SIGSEGV"), ("abort", 128 + signal.SIGABRT, "SIGABRT")],
)
def test_death_by_signal_is_one_crash_alert(receiver: Receiver, tmp_path: Path, mode: str, status: int,
                                             signame: str) -> None:
    done = _run(_plain(mode), _env(receiver, tmp_path))
    assert done.returncode == status  # passed through like a shell does
    assert f"child {mode} starting" in done.stderr  # the child's stderr still reaches the terminal
    events = _events(receiver)
    assert [e["kind"] for e in events] == ["crash"]
    assert signame in events[0]["title"]
    text = json.dumps(events[0])
    assert f"child {mode} starting" in text  # the stderr tail travels with the alert
    if mode == "sigkill":
        assert "memory" in events[0]["message"].lower()


def test_nonzero_exit_without_exception(receiver: Receiver, tmp_path: Path) -> None:
    done = _run(_plain("exit3"), _env(receiver, tmp_path))
    assert done.returncode == 3
    events = _events(receiver)
    assert [e["kind"] for e in events] == ["crash"]
    assert "status 3" in events[0]["title"]
    assert "giving up without an exception" in json.dumps(events[0])


def test_clean_exit_sends_nothing(receiver: Receiver, tmp_path: Path) -> None:
    done = _run(_plain("ok"), _env(receiver, tmp_path))
    assert done.returncode == 0
    assert "done" in done.stdout
    assert not [e for e in _events(receiver) if e["kind"] in {"crash", "stalled", "interrupted"}]


def test_secret_in_child_stderr_is_scrubbed(receiver: Receiver, tmp_path: Path) -> None:
    url = receiver.url + "?token=XXXXSECRETXXXX"  # the configured destination carries a token
    done = _run(_plain("exit3"), _env(receiver, tmp_path, ALERTCB_WEBHOOK_URL=url, CHILD_LEAK=url))
    assert done.returncode == 3
    raw = json.dumps(receiver.bodies())
    assert "giving up" in raw
    assert "XXXXSECRETXXXX" not in raw


def test_python_exception_inside_alertcb_child_is_reported_once(receiver: Receiver, tmp_path: Path) -> None:
    child = ["--", sys.executable, str(CHILDREN / "with_alertcb.py"), "raise"]
    done = _run(child, _env(receiver, tmp_path))
    assert done.returncode == 1
    crashes = [e for e in _events(receiver) if e["kind"] == "crash"]
    assert len(crashes) == 1, crashes  # the child's own report; the supervisor does not repeat it
    assert "loss exploded in user code" in json.dumps(crashes[0])


def test_frozen_child_is_reported_stalled(receiver: Receiver, tmp_path: Path) -> None:
    env = _env(receiver, tmp_path)
    cmd = [sys.executable, "-m", "alertcb", "run", "--heartbeat-timeout-s", "2", "--heartbeat-interval-s", "0.2",
           "--", sys.executable, str(CHILDREN / "with_alertcb.py"), "freeze"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        assert wait_for(lambda: any(e["kind"] == "stalled" for e in _events(receiver)), timeout_s=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    stalled = [e for e in _events(receiver) if e["kind"] == "stalled"]
    assert len(stalled) == 1
    assert "epoch" in json.dumps(stalled[0]).lower()


def test_sigterm_is_forwarded_and_reported(receiver: Receiver, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "alertcb", "run", "--interrupt-report-s", "30", "--",
           sys.executable, str(CHILDREN / "plain.py"), "term"]
    proc = subprocess.Popen(cmd, env=_env(receiver, tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=ROOT, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143  # the child's own status, unchanged
    assert "child got SIGTERM, saving" in err  # the child received the forwarded signal
    kinds = [e["kind"] for e in _events(receiver)]
    assert kinds.count("interrupted") == 1, kinds
    assert "crash" not in kinds


@pytest.mark.parametrize("argv", [[], ["--"], ["--", "/nonexistent/train-binary"]])
def test_bad_command_exits_2_and_sends_nothing(receiver: Receiver, tmp_path: Path, argv: list[str]) -> None:
    done = _run(argv, _env(receiver, tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip()  # a clear message
    assert "Traceback" not in done.stderr
    time.sleep(0.3)
    assert receiver.bodies() == []


@pytest.mark.slow
def test_sigkill_mid_fit_with_alertcb_inside(receiver: Receiver, tmp_path: Path) -> None:
    done = _run(["--", sys.executable, str(CHILDREN / "train.py")], _env(receiver, tmp_path), timeout=240)
    assert done.returncode == 137
    crashes = [e for e in _events(receiver) if e["kind"] == "crash"]
    assert len(crashes) == 1, crashes
    assert "SIGKILL" in crashes[0]["title"]
    # the last known position comes from the child's heartbeat: epoch 2 (1-based) of the fit
    assert crashes[0]["epoch"] == 1 or "epoch 2" in json.dumps(crashes[0])
