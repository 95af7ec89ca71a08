"""Who owns an outbox row: a process identity that survives PID reuse, containers and forks.

A pid alone is not an identity: in a container the training process is PID 1 (always
"alive" to a later process in another container), and pids are reused. An owner is
therefore (host name, boot id, pid namespace, pid, process start time). On the same
machine *and* pid namespace, whether that exact process still runs is checked directly
(``/proc/<pid>/stat`` start time); anywhere else the owner's lease (a heartbeat renewed
by the live Notifier) decides.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite3


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return ""


def start_time(pid: int) -> int:
    """The start time of process ``pid`` in clock ticks after boot (``/proc/<pid>/stat``
    field 22), or 0 if it is not running or ``/proc`` is not available."""
    stat = _read(f"/proc/{pid}/stat")
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = stat.rpartition(")")[2].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return 0


def pid_namespace() -> str:
    """The pid namespace of this process (``pid:[4026531836]``), or "" without ``/proc``."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


@dataclasses.dataclass(frozen=True)
class ProcessIdentity:
    """One process, told apart from any other that had or will have its pid.

    Args:
        host: the host name.
        boot_id: ``/proc/sys/kernel/random/boot_id`` (changes at every boot), "" if unknown.
        pidns: the pid namespace (differs per container), "" if unknown.
        pid: the process id in that namespace.
        start: the process start time in clock ticks after boot, 0 if unknown.
    """

    host: str
    boot_id: str
    pidns: str
    pid: int
    start: int

    @classmethod
    def current(cls) -> ProcessIdentity:
        pid = os.getpid()
        return cls(
            host=socket.gethostname(),
            boot_id=_read("/proc/sys/kernel/random/boot_id"),
            pidns=pid_namespace(),
            pid=pid,
            start=start_time(pid),
        )

    def same_namespace(self, other: ProcessIdentity) -> bool:
        """True when ``other``'s pid can be checked from here (same host, boot and pid namespace)."""
        return (self.host, self.boot_id, self.pidns) == (other.host, other.boot_id, other.pidns)

    def is_running(self) -> bool:
        """Whether this exact process still runs. Only meaningful from the same namespace."""
        if self.pid <= 0:
            return False
        if self.start:
            now = start_time(self.pid)
            if now or os.path.isdir("/proc/self"):
                return now == self.start  # 0: no such process; different: the pid was reused
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def dead_owners(db: sqlite3.Connection, me: ProcessIdentity, owner: str, now: float, lease_s: float) -> list[str]:
    """The owners (other than ``owner``) whose rows may be taken over: registered owners whose
    process is gone (checked when it is in our namespace) or whose lease expired (when it is
    not), and owners that never registered (older alertcb) by the old pid check or ``lease_s``."""
    dead = []
    for name, host, boot, pidns, pid, start, lease in db.execute(
        "SELECT owner, host, boot_id, pidns, pid, start, lease_until FROM owners WHERE owner != ?", (owner,)
    ).fetchall():
        other = ProcessIdentity(host, boot, pidns, int(pid), int(start))
        if (not other.is_running()) if me.same_namespace(other) else float(lease) < now:
            dead.append(name)
    for name, host, pid, updated in db.execute(
        "SELECT owner, host, pid, max(updated) FROM outbox WHERE state='pending' AND owner NOT IN"
        " (SELECT owner FROM owners) AND owner NOT IN ('', ?) GROUP BY owner",
        (owner,),
    ).fetchall():
        legacy = ProcessIdentity(host, "", "", int(pid), 0)
        if (not legacy.is_running()) if host == me.host else now - float(updated) > lease_s:
            dead.append(name)
    return dead
