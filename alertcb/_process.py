"""Process hooks of every live `alertcb.Notifier` (private): crash, SIGTERM and exit.

- `Watch` (``notifier.watch()``): a ``crash`` alert for any exception, then re-raise.
- `report_crash`: the ``crash`` event (scrubbed traceback) and a bounded flush.
- `install_sigterm`: on SIGTERM an ``interrupted`` alert, a flush of every live notifier,
  then the previous disposition (exit status 143; ``os._exit`` as PID 1).
- at interpreter exit (`atexit`), every live notifier is closed.

This module never imports `alertcb.notifier` at run time: a notifier registers itself
with `track`.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import signal
import threading
import traceback
import weakref
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from alertcb._guard import capture_internal_error
from alertcb.events import Event, Severity
from alertcb.filters import tail_lines
from alertcb.redact import scrub

if TYPE_CHECKING:
    from alertcb.notifier import Notifier

__all__: list[str] = []

logger = logging.getLogger("alertcb")

F = TypeVar("F", bound=Callable[..., Any])

_live: weakref.WeakSet[Notifier] = weakref.WeakSet()
_sigterm_installed: dict[str, Any] = {}


def track(notifier: Notifier) -> None:
    """Close ``notifier`` at exit and flush it on SIGTERM while it lives."""
    _live.add(notifier)


def emit_end(notifier: Notifier, kind: str, title: str, message: str, severity: Severity, details: dict[str, Any]) -> None:
    """Emit a run-ending event (``crash``, ``interrupted``) at the notifier's last known position."""
    epoch, step = notifier.last_position
    notifier.emit(
        Event(
            kind=kind, title=title, message=message, severity=severity, run=notifier.run,
            details=details, epoch=epoch, step=step,
        )
    )


def report_crash(notifier: Notifier, exc: BaseException) -> None:
    """Emit a ``crash`` event for ``exc`` and flush (bounded by ``flush_timeout_s``)."""
    # The user's exception text may quote a configured secret (a webhook URL in a
    # requests error): scrub it before it is stored or sent.
    trace = scrub("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    name = type(exc).__name__
    text = scrub(str(exc))
    interrupted = isinstance(exc, KeyboardInterrupt)
    emit_end(
        notifier,
        "crash",
        f"training crashed: {name}",
        f"{name}: {text}"[:2000] if text else name,
        Severity.WARNING if interrupted else Severity.CRITICAL,
        {"exception": name, "traceback": tail_lines(trace[-20_000:], 60)},
    )
    notifier.flush()


class Watch(contextlib.ContextDecorator):
    """What `Notifier.watch` returns: a context manager and decorator reporting crashes."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    def __enter__(self) -> Watch:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        if exc_type is None or exc is None or issubclass(exc_type, (GeneratorExit, SystemExit)):
            return False
        try:
            report_crash(self.notifier, exc)
        except Exception as inner:  # noqa: BLE001
            capture_internal_error("watch", inner)
        return False

    def __call__(self, func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def install_sigterm(notifier: Notifier) -> None:
    """Mark ``notifier`` for the ``interrupted`` alert and install the handler once (main thread only)."""
    notifier._handles_sigterm = True
    if "previous" in _sigterm_installed:
        return
    if threading.current_thread() is not threading.main_thread():
        logger.warning("alertcb: the SIGTERM handler can only be installed from the main thread")
        return
    _sigterm_installed["previous"] = signal.signal(signal.SIGTERM, _on_sigterm)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    stack = "".join(traceback.format_stack(frame)) if frame is not None else ""
    for notifier in list(_live):
        if getattr(notifier, "_handles_sigterm", False) and not notifier.closed:
            emit_end(
                notifier,
                "interrupted",
                "training interrupted (SIGTERM)",
                f"process {os.getpid()} received SIGTERM (preemption or cancellation)",
                Severity.CRITICAL,
                {"signal": "SIGTERM", "stack": tail_lines(stack, 30)},
            )
    for notifier in list(_live):
        if not notifier.closed:
            notifier.close()
    previous = _sigterm_installed.pop("previous", signal.SIG_DFL)
    if callable(previous):
        signal.signal(signal.SIGTERM, previous)
        previous(signum, frame)
        return
    if previous == signal.SIG_IGN:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        return
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
    # Still here: as PID 1 (a container without an init) the kernel ignores a default SIGTERM.
    os._exit(128 + signum)


@atexit.register
def _close_all_at_exit() -> None:
    for notifier in list(_live):
        try:
            if not notifier.closed:
                notifier.close()
        except Exception:  # noqa: BLE001 - never fail interpreter shutdown
            pass
