"""The child side of ``alertcb run``: its stderr tee, its exit status, signal names, OOM evidence."""

from __future__ import annotations

import collections
import os
import re
import signal
import threading
from pathlib import Path
from typing import IO

__all__ = ["NATIVE_SIGNALS", "StderrTee", "describe_exit", "exit_status", "oom_kills", "signal_name"]

#: Signals that mean native code crashed (not a request to stop).
NATIVE_SIGNALS = frozenset(
    int(getattr(signal, n)) for n in ("SIGSEGV", "SIGABRT", "SIGBUS", "SIGFPE", "SIGILL") if hasattr(signal, n)
)
_MEANING = {
    "SIGKILL": "killed (SIGKILL cannot be caught: usually the kernel's OOM killer, or a scheduler's hard kill)",
    "SIGSEGV": "segmentation fault in native code",
    "SIGABRT": "aborted in native code (abort(), a failed C/C++ assertion or std::terminate)",
    "SIGBUS": "bus error in native code (bad memory access, often a truncated memory-mapped file)",
    "SIGFPE": "arithmetic fault in native code (integer division by zero)",
    "SIGILL": "illegal instruction in native code (a binary built for another CPU)",
    "SIGTERM": "terminated (SIGTERM: preemption, a scheduler or a person)",
    "SIGINT": "interrupted (SIGINT: Ctrl-C)",
}
_TRACEBACK_LAST = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit)\b.*)$")


def signal_name(number: int) -> str:
    """``9`` → ``"SIGKILL"`` (``"signal 77"`` for a number without a name)."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def exit_status(returncode: int) -> int:
    """The status to exit with, as a shell reports it: a signal death N becomes 128+N."""
    return 128 - returncode if returncode < 0 else returncode


def describe_exit(returncode: int) -> tuple[int | None, str]:
    """``(signal number or None, what happened)`` for a `subprocess.Popen.returncode`.

    A status above 128 naming a known signal (what a shell wrapper returns for a child
    killed by that signal) counts as that signal.
    """
    number: int | None = None
    if returncode < 0:
        number = -returncode
    elif returncode > 128 and (returncode - 128) in {int(s) for s in signal.Signals}:
        number = returncode - 128
    if number is None:
        return None, f"exited with status {returncode}"
    name = signal_name(number)
    how = "died of" if returncode < 0 else f"exited with status {returncode} (128+{number}: a process it ran died of)"
    return number, f"{how} {name}: {_MEANING.get(name, 'killed by a signal')}"


def last_exception(lines: list[str]) -> str | None:
    """The ``ValueError: ...`` line closing the last Python traceback in ``lines``, if any."""
    seen = False
    for line in lines:
        if line.startswith("Traceback (most recent call last)"):
            seen = True
    if not seen:
        return None
    for line in reversed(lines):
        match = _TRACEBACK_LAST.match(line.strip())
        if match:
            return match.group(1)[:300]
    return None


class StderrTee:
    """Copies a child's stderr to ours as it comes, keeping its last ``lines`` lines.

    Args:
        source: the read end of the child's stderr pipe.
        sink: where to copy (our stderr's binary buffer), or None.
        lines: how many trailing lines to keep.
    """

    def __init__(self, source: IO[bytes], sink: IO[bytes] | None, lines: int = 50) -> None:
        self.source = source
        self.sink = sink
        self._tail: collections.deque[str] = collections.deque(maxlen=lines)
        self._partial = ""
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="alertcb-run-stderr", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        fd = self.source.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            if self.sink is not None:
                try:
                    self.sink.write(chunk)
                    self.sink.flush()
                except (OSError, ValueError):
                    self.sink = None
            self._keep(chunk.decode("utf-8", errors="replace"))

    def _keep(self, text: str) -> None:
        with self._lock:
            parts = (self._partial + text).split("\n")
            self._partial = parts.pop()[-4000:]
            for part in parts:
                self._tail.append(part.rsplit("\r", 1)[-1][:2000])  # a progress bar: its last state

    def join(self, timeout_s: float) -> None:
        """Wait for the pipe's end (a grandchild may hold it open: bounded)."""
        self._thread.join(timeout_s)

    def tail(self) -> list[str]:
        """The last lines seen (with an unterminated last line)."""
        with self._lock:
            out = list(self._tail)
            if self._partial.strip():
                out = [*out, self._partial.rsplit("\r", 1)[-1]][-(self._tail.maxlen or 50):]
            return out


def _cgroup_dir() -> Path | None:
    try:
        text = Path("/proc/self/cgroup").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("0::"):
            return Path("/sys/fs/cgroup") / line[3:].lstrip("/")
    return None


def oom_kills() -> int | None:
    """The ``oom_kill`` count of this process's cgroup (v2 ``memory.events``), None if unreadable."""
    folder = _cgroup_dir()
    if folder is None:
        return None
    try:
        text = (folder / "memory.events").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill" and value.strip().isdigit():
            return int(value)
    return None
