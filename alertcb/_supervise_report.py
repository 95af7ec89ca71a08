"""What ``alertcb run`` says about its child, and how it is sent (with the child's leftovers)."""

from __future__ import annotations

import json
import logging
import os
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from alertcb._supervise_child import NATIVE_SIGNALS, describe_exit, last_exception, signal_name
from alertcb.events import Severity
from alertcb.redact import scrub

__all__ = ["Finding", "child_reported", "classify_exit", "last_position", "pending_rows"]

logger = logging.getLogger("alertcb")

#: Kinds by which alertcb inside the child already told the story of its end.
CHILD_END_KINDS = frozenset({"crash", "interrupted"})
_STOP_SIGNALS = frozenset(int(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP))


class Finding:
    """One thing to report: an event's kind, title, message, severity and details.

    Args:
        kind: ``crash``, ``interrupted`` or ``stalled``.
        title: the one-line headline.
        message: what happened and what to check.
        severity: the `Severity`.
        details: extra evidence (exit code, signal, stderr tail...).
    """

    def __init__(self, kind: str, title: str, message: str, severity: Severity, details: dict[str, Any]) -> None:
        self.kind = kind
        self.title = title
        self.message = message
        self.severity = severity
        self.details = details

    def __repr__(self) -> str:
        return f"Finding({self.kind!r}, {self.title!r})"


def read_events(run_dir: Path | None, since: float) -> list[dict[str, Any]]:
    """The ``events.jsonl`` lines of ``run_dir`` stamped at or after ``since`` (wall time)."""
    if run_dir is None:
        return []
    out = []
    try:
        with open(run_dir / "events.jsonl", encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    data = json.loads(line)
                except ValueError:
                    continue
                if isinstance(data, dict) and float(data.get("time") or 0) >= since:
                    out.append(data)
    except OSError:
        return []
    return out


def child_reported(events: list[dict[str, Any]], supervisor_pid: int) -> dict[str, Any] | None:
    """The last crash/interrupted event the child itself recorded, if any."""
    for data in reversed(events):
        run = data.get("run") or {}
        if data.get("kind") in CHILD_END_KINDS and run.get("pid") != supervisor_pid:
            return data
    return None


def last_position(heartbeat: Mapping[str, Any] | None, events: list[dict[str, Any]]) -> tuple[int | None, int | None]:
    """The run's last known (epoch, step): the heartbeat's, else the latest event's."""
    if heartbeat and (heartbeat.get("epoch") is not None or heartbeat.get("step") is not None):
        return _int(heartbeat.get("epoch")), _int(heartbeat.get("step"))
    for data in reversed(events):
        if data.get("epoch") is not None or data.get("step") is not None:
            return _int(data.get("epoch")), _int(data.get("step"))
    return None, None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def where(position: tuple[int | None, int | None]) -> str:
    """``"epoch 3, step 118"`` (1-based epoch, as Keras prints it), or ``"unknown"``."""
    epoch, step = position
    parts = ([f"epoch {epoch + 1}"] if epoch is not None else []) + ([f"step {step}"] if step is not None else [])
    return ", ".join(parts) or "unknown (no alertcb callback reported a position)"


def classify_exit(
    returncode: int,
    *,
    forwarded: int | None,
    child_event: Mapping[str, Any] | None,
    stderr_tail: list[str],
    oom: tuple[int | None, int | None],
) -> Finding | None:
    """What to report for a child that ended with ``returncode`` (None: nothing to say).

    Args:
        returncode: `subprocess.Popen.returncode` (negative: killed by that signal).
        forwarded: the signal this supervisor forwarded to the child, if any.
        child_event: the crash/interrupted event alertcb inside the child recorded, if any.
        stderr_tail: the child's last stderr lines.
        oom: the cgroup's ``oom_kill`` count before and after the run (None: unreadable).
    """
    number, what = describe_exit(returncode)
    status = 128 - returncode if returncode < 0 else returncode
    details: dict[str, Any] = {"exit_code": status}
    name = signal_name(number) if number is not None else None
    if name:
        details["signal"] = name
    if forwarded is not None or (number in _STOP_SIGNALS):
        if child_event is not None:
            return None  # the child said it was interrupted (or crashed) itself
        sig = signal_name(forwarded) if forwarded is not None else str(name)
        details["signal"] = sig
        how = f"{sig} forwarded by alertcb run" if forwarded is not None else f"{sig} sent to the training process"
        return Finding("interrupted", f"training interrupted ({sig})",
                       f"{how} (preemption or cancellation); the training process {what}.",
                       Severity.CRITICAL, details)
    if number is not None:
        if number == signal.SIGKILL:
            hint = ("SIGKILL is usually the kernel's OOM killer: the process ran out of memory "
                    "(check `dmesg | grep -i oom`, the container's memory limit, batch size).")
            before, after = oom
            if before is not None and after is not None:
                details["oom_kill"] = f"{before} -> {after} (cgroup memory.events)"
                if after > before:
                    hint = "The kernel's OOM killer killed it: cgroup memory.events oom_kill went " \
                           f"{before} -> {after}. Reduce memory use (batch size, caching) or raise the limit."
            return Finding("crash", f"training killed by {name} (exit {status})", f"The training process {what}. {hint}",
                           Severity.CRITICAL, details)
        if number in NATIVE_SIGNALS:
            hint = "A Python traceback of the crash, when faulthandler caught one, is in the stderr below."
            return Finding("crash", f"training crashed in native code: {name} (exit {status})",
                           f"The training process {what}. {hint}", Severity.CRITICAL, details)
        return Finding("crash", f"training killed by {name} (exit {status})", f"The training process {what}.",
                       Severity.CRITICAL, details)
    if returncode == 0 or child_event is not None:
        return None
    exception = last_exception(stderr_tail)
    if exception:
        details["exception"] = scrub(exception)
        text = (f"The training process exited with status {status} after a Python exception that "
                f"alertcb did not report (no alertcb callback or watch() around it): {scrub(exception)}")
    else:
        text = (f"The training process exited with status {status} without a Python exception "
                "(sys.exit / os._exit with an error code, or a library that exited).")
    return Finding("crash", f"training exited with status {status}", text, Severity.CRITICAL, details)


def pending_rows(outbox: Path | None) -> int:
    """How many rows of the outbox at ``outbox`` are pending (0 when there is none)."""
    if outbox is None or not outbox.exists():
        return 0
    from alertcb.delivery.outbox import Outbox

    try:
        box = Outbox(outbox)
    except Exception as exc:  # noqa: BLE001 - a broken outbox must not stop the report
        logger.warning("alertcb run: cannot read the outbox %s: %s", outbox, exc)
        return 0
    try:
        return len(box.rows("pending"))
    except Exception:  # noqa: BLE001
        return 0
    finally:
        box.close()


def command_text(command: list[str]) -> str:
    """The command line, shell-quoted and scrubbed of secrets, at most 500 characters."""
    import shlex

    return scrub(shlex.join(command))[:500]


def environment_root(value: str | os.PathLike[str] | None) -> Path:
    """The absolute run-directory root."""
    return Path(value or "alertcb-runs").absolute()
