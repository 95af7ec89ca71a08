"""Suite-wide guards: no swallowed internal errors, no canary secret in any log line."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("ALERTCB_RUN_DIR", os.path.join(os.environ.get("TMPDIR", "/tmp"), "alertcb-test-runs"))

#: Tests put this in every URL, key and password; it must never be printed or logged.
CANARY = "CANARYsecret7f3a9c"


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.lines.append(text)


@pytest.fixture(autouse=True)
def _no_internal_errors_and_no_leaks() -> Iterator[None]:
    """Fail any test that leaves a swallowed internal error, or logs a canary secret."""
    from alertcb import _guard

    _guard.internal_errors.clear()
    recorder = _Recorder()
    logger = logging.getLogger("alertcb")
    logger.addHandler(recorder)
    try:
        yield
    finally:
        logger.removeHandler(recorder)
    leaked = [line for line in recorder.lines if CANARY in line]
    assert not leaked, f"canary secret leaked into logs: {leaked[:2]}"
    errors = list(_guard.internal_errors)
    _guard.internal_errors.clear()
    assert not errors, f"alertcb swallowed internal errors: {errors}"


@pytest.fixture
def canary() -> str:
    return CANARY


#: Log lines of the tests' own stand-in servers (they legitimately receive the secret).
_RECEIVER_LOGS = ("INFO     werkzeug:", "DEBUG    werkzeug:", "INFO     mail.log:", "DEBUG    mail.log:")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Fail any test whose captured stdout/stderr/log shows the canary secret."""
    outcome = yield
    report = outcome.get_result()
    leaked = [
        name
        for name, text in report.sections
        if any(CANARY in line and not line.startswith(_RECEIVER_LOGS) for line in text.splitlines())
    ]
    if leaked and report.when == "call" and report.outcome != "failed":
        report.outcome = "failed"
        report.longrepr = f"canary secret leaked into captured output: {', '.join(leaked)}"
