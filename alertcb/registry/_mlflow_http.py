"""Bounded MLflow HTTP calls, for the sending thread only, without touching the environment.

MLflow's REST client reads ``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` (7),
``MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR`` (2), ``MLFLOW_HTTP_REQUEST_BACKOFF_JITTER`` and
``MLFLOW_HTTP_REQUEST_TIMEOUT`` (120 s) on every request, through one
``mlflow.environment_variables`` object per variable. With those defaults one call to a
dead server blocks for minutes. Setting the variables in ``os.environ`` would change them
for the whole process (the user's own ``mlflow.log_metric`` on the training thread
included), so instead each of those objects gets a ``get`` that first looks at a
*thread-local* override: only a thread inside `bounded` sees other values; every other
thread reads the environment exactly as before (``MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT``
is hooked the same way: a library does not print). Retries then belong to alertcb's
dispatcher (backoff, deadline, outbox), and every request of one attempt shares the
attempt's budget.

Example:
    >>> with bounded(deadline=time.monotonic() + 30, connect_timeout_s=3):  # doctest: +SKIP
    ...     client.get_registered_model("m")
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

__all__ = ["AttemptBudgetSpent", "bounded", "install", "request_timeout"]

logger = logging.getLogger("alertcb")

_local = threading.local()
_install_lock = threading.Lock()
_installed: bool | None = None

#: Variable → its value inside `bounded`.
_OVERRIDES: dict[str, Any] = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": 0,
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": 0,
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": 0.0,
    "MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER": False,
    # MLflow prints "View run ... at <tracking URI>" to stdout (credentials included).
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": True,
    "MLFLOW_HTTP_REQUEST_TIMEOUT": None,  # computed per request: `request_timeout`
}


class AttemptBudgetSpent(Exception):
    """The attempt's time budget ran out between two MLflow calls."""


def install() -> bool:
    """Hook MLflow's HTTP variables (idempotent). Returns False when MLflow lacks them.

    Without the hook (an MLflow that renamed the variables) calls still run on alertcb's
    sending thread, never the training thread, but may retry for minutes as MLflow does.
    """
    global _installed
    with _install_lock:
        if _installed is not None:
            return _installed
        import mlflow.environment_variables as env

        found = True
        for var_name in _OVERRIDES:
            var = getattr(env, var_name, None)
            if var is None or not callable(getattr(var, "get", None)):
                found = False
                continue
            original = var.get

            def get(_original: Any = original, _name: str = var_name) -> Any:
                values = getattr(_local, "values", None)
                if values is None:
                    return _original()
                if _name == "MLFLOW_HTTP_REQUEST_TIMEOUT":
                    return request_timeout()
                return values[_name]

            var.get = get  # an instance attribute: shadows the class method for this variable only
        if not found:
            logger.warning(
                "alertcb: this MLflow version lacks some MLFLOW_HTTP_REQUEST_* variables; "
                "registry calls fall back to MLflow's own retries and timeouts"
            )
        _installed = found
        return found


@contextlib.contextmanager
def bounded(deadline: float, connect_timeout_s: float) -> Iterator[None]:
    """Within the block, this thread's MLflow requests make one try each, within ``deadline``.

    Args:
        deadline: `time.monotonic` value by which the attempt must be over.
        connect_timeout_s: the longest wait for a TCP connection.
    """
    install()
    previous = getattr(_local, "values", None)
    _local.values = dict(_OVERRIDES)
    _local.deadline = deadline
    _local.connect_timeout_s = connect_timeout_s
    try:
        yield
    finally:
        _local.values = previous


def request_timeout() -> tuple[float, float]:
    """``(connect, read)`` timeout for the next request: what is left of the attempt.

    Read by MLflow for every request inside `bounded` (so each file of a folder upload
    gets only what is left), and by alertcb before each call.

    Raises:
        AttemptBudgetSpent: nothing is left.
    """
    remaining = float(_local.deadline) - time.monotonic()
    if remaining <= 0.05:
        raise AttemptBudgetSpent("the attempt's time budget is spent")
    return (min(float(_local.connect_timeout_s), remaining), remaining)
