"""``alertcb run -- COMMAND``: run training as a child and report what no callback can see.

The supervisor starts the command with the child contract in its environment
(``ALERTCB_SUPERVISED=1``, ``ALERTCB_RUN_DIR``, ``ALERTCB_RUN_NAME``, ``ALERTCB_HEARTBEAT_FILE``,
``ALERTCB_HEARTBEAT_S``, and ``PYTHONFAULTHANDLER=1`` unless set), copies the child's stderr
to its own as it comes (keeping the last lines), forwards SIGTERM/SIGINT/SIGHUP, and watches
the heartbeat file that alertcb's dispatcher writes inside the child (`alertcb.heartbeat`).
It reports: a death by signal (SIGKILL/OOM, native crashes), a non-zero exit that alertcb in
the child did not already report, an interruption (preemption), and a stall (stale heartbeat,
or no progress). Each report carries the stderr tail and the last known epoch/step. Then it
delivers what the dead child left pending in the outbox, and exits with the child's status
(a signal death N as 128+N, like a shell). See docs/supervisor.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from alertcb import heartbeat
from alertcb._supervise_child import StderrTee, exit_status, oom_kills, signal_name
from alertcb._supervise_report import (
    Finding,
    child_reported,
    classify_exit,
    command_text,
    environment_root,
    last_position,
    pending_rows,
    read_events,
    where,
)
from alertcb.delivery.rundir import safe_dirname
from alertcb.errors import ConfigError
from alertcb.events import Severity
from alertcb.redact import scrub

__all__ = ["RunOptions", "StartError", "Supervisor"]

logger = logging.getLogger("alertcb")

FORWARDED = tuple(s for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP))


class StartError(Exception):
    """The command could not be started (nothing was sent)."""


@dataclasses.dataclass
class RunOptions:
    """How ``alertcb run`` supervises.

    Args:
        command: the command and its arguments.
        config: a TOML file; None: ``$ALERTCB_CONFIG`` and ``ALERTCB_*`` variables (else the embedded default).
        heartbeat_timeout_s: report ``stalled`` when the heartbeat is older than this.
        progress_timeout_s: report ``stalled`` when the epoch/step did not change for this long (None: off).
        heartbeat_interval_s: how often the child writes its heartbeat.
        interrupt_report_s: after forwarding a signal, report the interruption if the child is still
            running this long after it (the scheduler's hard kill may follow).
        run_dir: the run directory root (default ``$ALERTCB_RUN_DIR``, the configuration's, ``alertcb-runs``).
        run_name: the run name (default ``$ALERTCB_RUN_NAME``, the configuration's, ``run-<date>-<pid>``).
        stderr_lines: how many trailing stderr lines each report carries.

    Example:
        >>> Supervisor(RunOptions(["python", "train.py"], heartbeat_timeout_s=120)).run()  # doctest: +SKIP
    """

    command: list[str]
    config: str | None = None
    heartbeat_timeout_s: float = 60.0
    progress_timeout_s: float | None = None
    heartbeat_interval_s: float = 1.0
    interrupt_report_s: float = 5.0
    run_dir: str | None = None
    run_name: str | None = None
    stderr_lines: int = 50

    def check(self) -> None:
        """Raise `ConfigError` naming the first bad option."""
        for name in ("heartbeat_timeout_s", "heartbeat_interval_s", "interrupt_report_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value > 0 or value == float("inf"):
                raise ConfigError(name, f"must be a positive number of seconds, got {value!r}", where=_flag(name))
        if self.progress_timeout_s is not None and not self.progress_timeout_s > 0:
            raise ConfigError("progress_timeout_s", f"must be a positive number of seconds, got "
                              f"{self.progress_timeout_s!r}", where=_flag("progress_timeout_s"))
        if self.heartbeat_timeout_s < 2 * self.heartbeat_interval_s:
            raise ConfigError("heartbeat_timeout_s", "must be at least twice --heartbeat-interval-s "
                              f"({self.heartbeat_interval_s:g} s)", where=_flag("heartbeat_timeout_s"))
        if not 1 <= self.stderr_lines <= 1000:
            raise ConfigError("stderr_lines", f"must be between 1 and 1000, got {self.stderr_lines!r}",
                              where=_flag("stderr_lines"))


class Supervisor:
    """Runs one command under supervision. `run` returns the exit status to exit with.

    Args:
        options: the `RunOptions`.
        stderr: where the child's stderr is copied (default: our stderr).
    """

    def __init__(self, options: RunOptions, stderr: Any = None) -> None:
        options.check()
        if not options.command:
            raise StartError("no command given; usage: alertcb run [OPTIONS] -- COMMAND [ARGS...]")
        self.options = options
        self.sink = stderr if stderr is not None else getattr(sys.stderr, "buffer", None)
        self.config = _load_config(options.config)
        settings = self.config.notifier
        self.root = environment_root(options.run_dir or os.environ.get("ALERTCB_RUN_DIR") or settings.get("run_dir"))
        name = options.run_name or os.environ.get("ALERTCB_RUN_NAME") or settings.get("run_name")
        self.run_name = str(name or time.strftime(f"run-%Y%m%d-%H%M%S-{os.getpid()}"))
        self.heartbeat_path = self.root / safe_dirname(self.run_name) / "heartbeat.json"
        self.forwarded: int | None = None
        self._forwarded_at: float | None = None
        self._interrupt_sent = False
        self._stalled = False
        self._threads: list[threading.Thread] = []
        self.sent: list[Finding] = []
        self.proc: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------ main
    def run(self) -> int:
        """Start the command, supervise it to its end, report, return its exit status."""
        env = self._child_env()
        with contextlib.suppress(OSError):
            self.heartbeat_path.unlink()  # an earlier run's beat must not look alive
        oom_before = oom_kills()
        self.started = time.time()
        try:
            proc = subprocess.Popen(self.options.command, env=env, stderr=subprocess.PIPE)
        except OSError as exc:
            raise StartError(f"cannot start {command_text(self.options.command[:1])}: "
                             f"{exc.strerror or exc}") from None
        self.proc = proc
        assert proc.stderr is not None
        tee = StderrTee(proc.stderr, self.sink, self.options.stderr_lines)
        previous = self._install_handlers()
        try:
            returncode = self._watch(proc, tee)
        finally:
            self._restore_handlers(previous)
        tee.join(0.5)
        self._finish(returncode, tee, (oom_before, oom_kills()))
        return exit_status(returncode)

    def _child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "ALERTCB_SUPERVISED": "1",
            "ALERTCB_RUN_DIR": str(self.root),
            "ALERTCB_RUN_NAME": self.run_name,
            heartbeat.ENV_FILE: str(self.heartbeat_path),
            heartbeat.ENV_INTERVAL: f"{self.options.heartbeat_interval_s:g}",
        })
        env.setdefault("PYTHONFAULTHANDLER", "1")
        return env

    def _watch(self, proc: subprocess.Popen[bytes], tee: StderrTee) -> int:
        next_check = 0.0
        while True:
            try:
                return proc.wait(0.05)
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if now >= next_check:
                next_check = now + 0.25
                self._check_alive(tee)

    def _check_alive(self, tee: StderrTee) -> None:
        if self._forwarded_at is not None and not self._interrupt_sent \
                and time.monotonic() - self._forwarded_at >= self.options.interrupt_report_s:
            self._interrupt_sent = True
            events = read_events(self._child_run_dir(), self.started - 1)
            if child_reported(events, os.getpid()) is None:
                sig = signal_name(self.forwarded or 0)
                finding = Finding("interrupted", f"training interrupted ({sig})",
                                  f"{sig} forwarded by alertcb run (preemption or cancellation); the training "
                                  f"process is still running {self.options.interrupt_report_s:g} s later.",
                                  Severity.CRITICAL, {"signal": sig})
                self._send_async(finding, tee)
        beat = heartbeat.read_heartbeat(self.heartbeat_path)
        if beat is None or beat.get("closed"):
            return
        wall = time.time()
        age = wall - float(beat.get("time") or wall)
        progress = beat.get("progress_time")
        reason = ""
        if age > self.options.heartbeat_timeout_s:
            reason = (f"no heartbeat for {age:.0f} s (timeout {self.options.heartbeat_timeout_s:g} s): the whole "
                      "process is frozen (a native call holding the GIL, a deadlock, a stopped process, or "
                      "stuck in the kernel)")
            details: dict[str, Any] = {"heartbeat_age_s": round(age, 1)}
        elif self.options.progress_timeout_s and isinstance(progress, (int, float)) \
                and wall - progress > self.options.progress_timeout_s:
            idle = wall - progress
            reason = (f"no progress for {idle:.0f} s (timeout {self.options.progress_timeout_s:g} s): the "
                      "process is alive but its epoch/step stopped moving")
            details = {"idle_s": round(idle, 1)}
        if not reason:
            self._stalled = False
            return
        if self._stalled:
            return
        self._stalled = True
        details["pid"] = str(beat.get("pid"))
        self._send_async(Finding("stalled", f"training stalled: {reason.split(':')[0]}", reason, Severity.CRITICAL,
                                 details), tee, beat)

    def _finish(self, returncode: int, tee: StderrTee, oom: tuple[int | None, int | None]) -> None:
        for thread in self._threads:
            thread.join(30.0)
        beat = heartbeat.read_heartbeat(self.heartbeat_path)
        run_dir = self._child_run_dir(beat)
        events = read_events(run_dir, self.started - 1)
        finding = classify_exit(returncode, forwarded=self.forwarded, child_event=child_reported(events, os.getpid()),
                                stderr_tail=tee.tail(), oom=oom)
        if finding is not None and finding.kind == "interrupted" and self._interrupt_sent:
            finding = None  # said already, while it was still running
        outbox = _outbox(beat)
        if finding is None and not pending_rows(outbox or self._default_outbox()):
            return
        self._send(finding, tee, beat, events)

    # ------------------------------------------------------------------ sending
    def _send_async(self, finding: Finding, tee: StderrTee, beat: dict[str, Any] | None = None) -> None:
        thread = threading.Thread(target=self._send, args=(finding, tee, beat), name="alertcb-run-report", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _send(self, finding: Finding | None, tee: StderrTee, beat: dict[str, Any] | None,
              events: list[dict[str, Any]] | None = None) -> None:
        from alertcb.notifier import Notifier

        beat = beat if beat is not None else heartbeat.read_heartbeat(self.heartbeat_path)
        run_dir = self._child_run_dir(beat)
        overrides: dict[str, Any] = {"run_name": self.run_name, "run_dir": self.root, "handle_sigterm": False}
        if run_dir is not None and run_dir.parent != self.root:
            overrides.update(run_name=run_dir.name, run_dir=run_dir.parent)
        outbox = _outbox(beat)
        if outbox is not None:
            overrides["outbox"] = outbox
        try:
            notifier = self.config.build_notifier(Notifier, **overrides)
        except ConfigError as exc:
            logger.error("alertcb run: cannot build the notifier: %s", exc)
            return
        if finding is not None:
            position = last_position(beat, events if events is not None else read_events(run_dir, self.started - 1))
            details = {
                **finding.details,
                "command": command_text(self.options.command),
                "last_position": where(position),
                "stderr": scrub("\n".join(tee.tail())) or "(nothing on stderr)",
            }
            if self.proc is not None:
                details.setdefault("pid", str(self.proc.pid))
            notifier.emit(notifier.event(finding.kind, finding.title, finding.message, severity=finding.severity,
                                         details=details, epoch=position[0], step=position[1]))
            self.sent.append(finding)
        notifier.close()  # delivers it and what the dead child left in the outbox, within flush_timeout_s

    def _child_run_dir(self, beat: dict[str, Any] | None = None) -> Path | None:
        beat = beat if beat is not None else heartbeat.read_heartbeat(self.heartbeat_path)
        if beat and beat.get("run_dir"):
            return Path(str(beat["run_dir"]))
        return self.heartbeat_path.parent

    def _default_outbox(self) -> Path | None:
        setting = self.config.notifier.get("outbox", True)
        if setting is False:
            return None
        return self.root / "outbox.sqlite3" if setting is True else Path(str(setting))

    # ------------------------------------------------------------------ signals
    def _install_handlers(self) -> dict[int, Any]:
        previous: dict[int, Any] = {}
        if threading.current_thread() is not threading.main_thread():
            return previous
        for sig in FORWARDED:
            previous[int(sig)] = signal.signal(sig, self._forward)
        return previous

    def _restore_handlers(self, previous: dict[int, Any]) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    def _forward(self, signum: int, frame: FrameType | None) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        if signum == signal.SIGINT and _terminal_sent_to_group():
            pass  # Ctrl-C: the terminal sent it to the child too; a second one would cut its cleanup short
        else:
            try:
                os.kill(proc.pid, signum)
            except OSError:
                return
        if self.forwarded is None:
            self.forwarded = signum
            self._forwarded_at = time.monotonic()


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _outbox(beat: dict[str, Any] | None) -> Path | None:
    return Path(str(beat["outbox"])) if beat and beat.get("outbox") else None


def _terminal_sent_to_group() -> bool:
    """Whether we run in the foreground of a terminal (then Ctrl-C reached the whole process group)."""
    for stream in (sys.stdin, sys.stderr, sys.stdout):
        try:
            if stream is not None and stream.isatty():
                return os.tcgetpgrp(stream.fileno()) == os.getpgrp()
        except (OSError, ValueError):
            continue
    return False


def _load_config(path: str | None) -> Any:
    from alertcb.config import config_from_env, load_config

    return load_config(path) if path else config_from_env()


def main(command: Sequence[str], **options: Any) -> int:
    """Supervise ``command``; return its exit status (2 if it cannot start: nothing sent)."""
    try:
        return Supervisor(RunOptions(list(command), **options)).run()
    except (StartError, ConfigError) as exc:
        sys.stderr.write(f"alertcb run: {scrub(str(exc))}\n")
        return 2
