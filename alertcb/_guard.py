"""The one place internal errors are swallowed, so alertcb never crashes its host.

Every swallowed error is logged (scrubbed) and remembered in `internal_errors`;
alertcb's own test suite fails any test that leaves something there.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

logger = logging.getLogger("alertcb")

T = TypeVar("T")

#: The last internal errors (type name and message), for tests and `Notifier.stats()`.
internal_errors: deque[str] = deque(maxlen=100)


def capture_internal_error(where: str, exc: BaseException) -> None:
    """Record and log an internal error that alertcb swallowed."""
    from alertcb.redact import scrub

    internal_errors.append(scrub(f"{where}: {type(exc).__name__}: {exc}"))
    logger.error("alertcb internal error in %s", where, exc_info=exc)


def guarded(where: str, fn: Callable[..., T], *args: Any, default: Any = None) -> Any:
    """Call ``fn(*args)``; on any exception log it once and return ``default``."""
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - the library must never crash its host
        capture_internal_error(where, exc)
        return default
