"""Errors raised by alertcb.

Hierarchy::

    AlertcbError
     +-- ConfigError        bad configuration, raised at construction time
     +-- DeliveryError      a channel attempt failed (never raised into training code)

Third-party errors (httpx, smtplib, sqlite3) are translated at the channel boundary
and never reach the user's training code. Messages never contain secrets.
"""

from __future__ import annotations


class AlertcbError(Exception):
    """Base class of every alertcb error."""


class ConfigError(AlertcbError, ValueError):
    """A configuration mistake, raised before training starts.

    Args:
        field: dotted path of the offending field, e.g. ``channels.ops.webhook_url``.
        problem: what is wrong and what was expected.
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}" if field else problem)

    def with_prefix(self, prefix: str) -> ConfigError:
        """Return the same error with ``prefix.`` prepended to its field path."""
        field = f"{prefix}.{self.field}" if self.field else prefix
        return ConfigError(field, self.problem)


class DeliveryError(AlertcbError):
    """A delivery attempt failed; carries a redacted reason."""
