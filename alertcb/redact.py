"""Secrets: a wrapper that never prints its value, and scrubbing of free text.

Every `Secret` registers its value in a process-wide set; `scrub` replaces any
registered value (and URL query tokens) in a string. The ``alertcb`` logger has a
filter that scrubs every record, so a secret that slips into an exception message
is still not logged.
"""

from __future__ import annotations

import logging
import re
import threading
import urllib.parse
from typing import Any

#: Public (re-exported by ``alertcb``); scrubbing helpers are shared inside alertcb.
__all__ = ["Secret"]

MASK = "***"
_known: set[str] = set()
_known_lock = threading.Lock()
_pattern: re.Pattern[str] | None = None

# Query parameters that carry credentials in webhook URLs (WeCom ``key=``, generic tokens).
_SECRET_QUERY = re.compile(
    r"(?i)\b(key|token|access_token|secret|password|sig|signature|routing_key)=([^&\s\"'<>]+)"
)


class Secret:
    """A string that shows as ``***`` in repr, str, logs and exceptions.

    Args:
        value: the secret value. Use `get()` to read it when sending.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = str(value)
        register(self._value)

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("alertcb.Secret cannot be pickled")


def register(value: str) -> None:
    """Remember ``value`` (and its URL-encoded form) so `scrub` masks it."""
    global _pattern
    if len(value) < 4:  # too short to mask without mangling ordinary text
        return
    with _known_lock:
        before = len(_known)
        _known.add(value)
        quoted = urllib.parse.quote(value, safe="")
        if quoted != value:
            _known.add(quoted)
        if len(_known) != before:
            ordered = sorted(_known, key=len, reverse=True)
            _pattern = re.compile("|".join(re.escape(v) for v in ordered))


def scrub(text: str) -> str:
    """Return ``text`` with every registered secret and URL credential masked."""
    return _SECRET_QUERY.sub(lambda m: f"{m.group(1)}={MASK}", scrub_known(text))


def scrub_known(text: str) -> str:
    """Return ``text`` with every registered secret value masked (nothing else changed).

    Cheap when no secret is registered; `alertcb.events.Event` applies it to all its text.
    """
    pattern = _pattern
    return text if pattern is None else pattern.sub(MASK, text)


def redact_url(url: str) -> str:
    """Show a URL's scheme and host only, e.g. ``https://hooks.slack.com/***``."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return MASK
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}/{MASK}" if parts.scheme else MASK


def mask_password(url: str) -> str:
    """``https://user:pw@host/x`` → ``https://user:***@host/x`` (other URLs unchanged)."""
    try:
        parts = urllib.parse.urlsplit(url)
        if parts.password is None:
            return url
    except ValueError:
        return MASK
    host = parts.netloc.rsplit("@", 1)[1]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username or ''}:{MASK}@{host}"))


class ScrubFilter(logging.Filter):
    """A logging filter that scrubs secrets from the formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not break logging
            return True
        cleaned = scrub(message)
        if record.exc_info and record.exc_info[1] is not None:
            import traceback

            tb = "".join(traceback.format_exception(*record.exc_info))
            cleaned = f"{cleaned}\n{scrub(tb).rstrip()}"
            record.exc_info = None
            record.exc_text = None
        record.msg = cleaned
        record.args = None
        return True


#: Loggers that may print request URLs (httpx logs ``HTTP Request: POST <url>`` at INFO).
SCRUBBED_LOGGERS = ("alertcb", "httpx", "httpcore", "httpcore.connection", "httpcore.http11", "apscheduler")


def install_log_filter() -> None:
    """Attach `ScrubFilter` to alertcb's logger and to the HTTP client's loggers (idempotent)."""
    for name in SCRUBBED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, ScrubFilter) for f in logger.filters):
            logger.addFilter(ScrubFilter())
