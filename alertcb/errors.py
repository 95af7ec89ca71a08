"""Every error alertcb defines, in one place.

Hierarchy::

    Exception
     +-- AlertcbError                 base class of everything alertcb raises
     |    +-- ConfigError             bad configuration, raised at construction time
     |    |                           (also a ValueError); names where the field was set
     |    +-- NonFiniteError          raised into training code by ``on_nonfinite="raise"``
     |                                (also an ArithmeticError)
     +-- TransportError               a network-level failure inside a channel attempt;
                                      internal, retried by the dispatcher, never reaches
                                      training code

Third-party errors (httpx, smtplib, sqlite3) are translated at the channel boundary
and never reach the user's training code. Messages never contain secrets.
"""

from __future__ import annotations

#: Public (re-exported by ``alertcb``); `TransportError` and `where` are internal.
__all__ = ["AlertcbError", "ConfigError", "NonFiniteError"]


class AlertcbError(Exception):
    """Base class of every alertcb error raised into user code."""


class ConfigError(AlertcbError, ValueError):
    """A configuration mistake, raised before training starts.

    The message reads ``<where>: <problem>``, where ``<where>`` says where the field was
    set: ``alertcb.flush_timeout_s`` (TOML), ``ALERTCB_FLUSH_TIMEOUT_S`` (environment) or
    ``flush_timeout_s=`` (a keyword argument).

    Args:
        field: where the offending field was set, e.g. ``channels.ops.webhook_url`` or
            ``ALERTCB_SLACK_WEBHOOK_URL``; a bare parameter name is shown as ``name=``.
        problem: what is wrong and what was expected (never the value of a secret).
        where: how to show the location when ``field`` alone is ambiguous (a TOML
            table ``[alertcb]`` rather than a keyword ``alertcb=``).
    """

    def __init__(self, field: str, problem: str, *, where: str | None = None) -> None:
        self.field = field
        self.problem = problem
        self._where = where
        super().__init__(f"{self.where}: {problem}" if field else problem)

    @property
    def where(self) -> str:
        """Where the field was set: a TOML path, an environment variable or ``keyword=``."""
        return self._where if self._where is not None else where(self.field)

    def with_prefix(self, prefix: str) -> ConfigError:
        """Return the same error with ``prefix.`` prepended to its field path."""
        field = f"{prefix}.{self.field}" if self.field else prefix
        return ConfigError(field, self.problem)


def where(field: str) -> str:
    """``flush_timeout_s`` → ``flush_timeout_s=``; dotted TOML paths and variables unchanged."""
    if not field or "." in field or field.isupper() or not field.isidentifier() or field == "config":
        return field
    return f"{field}="


class NonFiniteError(AlertcbError, ArithmeticError):
    """Raised into training code by ``on_nonfinite="raise"`` after the alert was emitted."""


class TransportError(Exception):
    """A network-level failure (retryable); its message is already scrubbed."""
