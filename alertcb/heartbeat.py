"""The run's heartbeat file: how ``alertcb run`` sees that a supervised child is alive.

Under ``alertcb run`` the child's environment carries ``ALERTCB_HEARTBEAT_FILE`` (a path,
by default ``<run dir>/heartbeat.json``). Every dispatcher of the child then writes that
file atomically (temporary file + rename) on its regular tick, at most every
``ALERTCB_HEARTBEAT_S`` seconds (default 1; the dispatcher ticks at least once a second).
The document (schema ``alertcb.heartbeat/1``)::

    {"schema": "alertcb.heartbeat/1", "time": 1764700000.1, "pid": 4242, "host": "gpu-3",
     "run": "exp42", "run_dir": "/abs/alertcb-runs/exp42", "outbox": "/abs/alertcb-runs/outbox.sqlite3",
     "epoch": 3, "step": 118, "progress_time": 1764699999.7, "interval_s": 1.0, "closed": false}

``epoch``/``step`` are the run's last known position (0-based, from alertcb's Keras
callbacks; null when unknown), ``progress_time`` when it last changed, and ``closed`` is
true once every Notifier of the process has closed (the supervisor then stops expecting
beats). Without the variable nothing is written. A forked child process never writes
its parent's heartbeat.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import Any

__all__ = ["ENV_FILE", "ENV_INTERVAL", "ENV_SUPERVISED", "SCHEMA", "beat", "end", "read_heartbeat"]

logger = logging.getLogger("alertcb")

ENV_FILE = "ALERTCB_HEARTBEAT_FILE"
ENV_INTERVAL = "ALERTCB_HEARTBEAT_S"
ENV_SUPERVISED = "ALERTCB_SUPERVISED"
SCHEMA = "alertcb.heartbeat/1"
DEFAULT_INTERVAL_S = 1.0


class _State:
    """One process's heartbeat (shared by all its dispatchers)."""

    def __init__(self, path: Path, interval_s: float) -> None:
        self.path = path
        self.interval_s = interval_s
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.written_at = float("-inf")
        self.position: tuple[int | None, int | None] = (None, None)
        self.progress_time: float | None = None
        self.members: weakref.WeakSet[Any] = weakref.WeakSet()
        self.failed = False


_state: dict[str, _State] = {}


def _current() -> _State | None:
    raw = os.environ.get(ENV_FILE)
    if not raw:
        return None
    state = _state.get("s")
    if state is None or str(state.path) != raw:
        try:
            interval = float(os.environ.get(ENV_INTERVAL) or DEFAULT_INTERVAL_S)
        except ValueError:
            interval = DEFAULT_INTERVAL_S
        state = _State(Path(raw), max(0.05, interval) if interval == interval else DEFAULT_INTERVAL_S)
        _state["s"] = state
    return state if state.pid == os.getpid() else None  # a fork's copy stays silent


def _position(dispatcher: Any) -> tuple[int | None, int | None]:
    """The run's (epoch, step): ``dispatcher.position()`` when wired, else the Notifier that owns it."""
    hook = getattr(dispatcher, "position", None)
    if callable(hook):
        epoch, step = hook()
        return epoch, step
    module = sys.modules.get("alertcb._process")  # the live Notifiers
    for notifier in list(getattr(module, "_live", ())):
        if getattr(notifier, "_dispatcher", None) is dispatcher:
            epoch, step = getattr(notifier, "last_position", (None, None))
            return epoch, step
    return None, None


def beat(dispatcher: Any, *, force: bool = False) -> bool:
    """Write the heartbeat if it is due (dispatcher thread; never raises). Returns True if written.

    Args:
        dispatcher: the `alertcb.delivery.dispatcher.Dispatcher` ticking.
        force: write now even if the interval has not elapsed.

    Example:
        >>> beat(notifier._dispatcher)  # doctest: +SKIP
    """
    state = _current()
    if state is None:
        return False
    with state.lock:
        state.members.add(dispatcher)
        now = time.monotonic()
        position = _position(dispatcher)
        wall = time.time()
        if position != (None, None) and position != state.position:
            state.position = position
            state.progress_time = wall
        if not force and now - state.written_at < state.interval_s:
            return False
        state.written_at = now
        closed = all(getattr(d, "closed", False) for d in list(state.members))
        return _write(state, dispatcher, wall, closed)


def end(dispatcher: Any) -> None:
    """The dispatcher stopped: write a last beat (``closed`` once no other dispatcher runs)."""
    state = _current()
    if state is None or dispatcher not in state.members:
        return
    with state.lock:
        state.members.discard(dispatcher)
        closed = all(getattr(d, "closed", False) for d in list(state.members))
        state.written_at = time.monotonic()
        _write(state, dispatcher, time.time(), closed)


def _write(state: _State, dispatcher: Any, wall: float, closed: bool) -> bool:
    run_dir = getattr(getattr(dispatcher, "run_dir", None), "path", None)
    outbox = getattr(dispatcher, "outbox_path", None)
    doc = {
        "schema": SCHEMA,
        "time": wall,
        "pid": state.pid,
        "host": socket.gethostname(),
        "run": getattr(getattr(dispatcher, "run", None), "name", None),
        "run_dir": str(Path(run_dir).absolute()) if run_dir is not None else None,
        "outbox": str(Path(outbox).absolute()) if outbox is not None else None,
        "epoch": state.position[0],
        "step": state.position[1],
        "progress_time": state.progress_time,
        "interval_s": state.interval_s,
        "closed": closed,
    }
    tmp = state.path.with_name(f".{state.path.name}.{state.pid}.tmp")
    try:
        state.path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(doc), encoding="utf-8")
        os.replace(tmp, state.path)
    except OSError as exc:
        if not state.failed:
            state.failed = True
            logger.warning("alertcb: cannot write the heartbeat %s: %s", state.path, exc)
        return False
    return True


def read_heartbeat(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The heartbeat document at ``path``, or None when absent or unreadable.

    Example:
        >>> read_heartbeat("alertcb-runs/exp42/heartbeat.json")  # doctest: +SKIP
        {'schema': 'alertcb.heartbeat/1', 'time': ..., 'epoch': 3, 'step': 118, ...}
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        return None
    return data
