"""The one interface every destination implements.

A channel builds its payload from rendered text, makes *one* attempt and
classifies the result as an `Outcome`. Everything else — retries with backoff,
Retry-After, rate limits, coalescing, grouping, the outbox — lives once in the
dispatcher.

Example:
    >>> class Printer(Channel):
    ...     type = "printer"
    ...     def send(self, notification, ctx):
    ...         print(ctx.render("text/alert.txt.j2", notification))
    ...         return Outcome.delivered()
"""

from __future__ import annotations

import dataclasses
import email.utils
import time
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal

from alertcb.errors import ConfigError
from alertcb.events import KINDS, Event, Severity
from alertcb.notification import Notification, digest_unnamed
from alertcb.redact import Secret, redact_url, scrub
from alertcb.validate import check_severity

Verdict = Literal["delivered", "retry", "permanent"]


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one delivery attempt.

    Use the constructors `delivered()`, `retry(reason, retry_after_s)` and
    `permanent(reason)`. Reasons are scrubbed of secrets.
    """

    verdict: Verdict
    reason: str = ""
    retry_after_s: float | None = None

    @classmethod
    def delivered(cls) -> Outcome:
        return cls("delivered")

    @classmethod
    def retry(cls, reason: str, retry_after_s: float | None = None) -> Outcome:
        return cls("retry", scrub(reason), retry_after_s)

    @classmethod
    def permanent(cls, reason: str) -> Outcome:
        return cls("permanent", scrub(reason))


class SendContext:
    """What the dispatcher lends a channel for one attempt.

    Attributes:
        http: a shared ``httpx.Client`` (connection reuse, timeouts set).
        render: ``render(template_name, notification, **extra) -> str``.
        timeout_s: the per-attempt timeout, for non-HTTP transports (SMTP).
        named: set by a channel sending a digest: how many of its ``events`` the message
            names (`render_digest` sets it). Left None, only the headline counts as named.
    """

    __slots__ = ("http", "named", "render", "timeout_s")

    def __init__(self, http: Any, render: Callable[..., str], timeout_s: float) -> None:
        self.http = http
        self.render = render
        self.timeout_s = timeout_s
        self.named: int | None = None


class Channel:
    """Base class of every destination.

    Args:
        name: destination name for stats, routing and the outbox. Defaults to the type.
        min_severity: send only events at least this severe. Defaults to ``"info"``.
        kinds: send only these event kinds (None: all).
        rate_limit_per_min: client-side budget; None uses the service's default.
    """

    type: ClassVar[str] = "channel"
    #: The service's documented budget, messages per minute (None: unlimited).
    default_rate_limit_per_min: ClassVar[float | None] = None
    #: Short bursts allowed by the bucket.
    default_burst: ClassVar[int] = 5
    #: Whether the dispatcher may fold several notifications into one digest for this
    #: destination (only ever when it is rate-limited or failing). False for paging
    #: destinations (PagerDuty, Alertmanager): every incident must arrive on its own,
    #: its dedup key is the point.
    coalesce: ClassVar[bool] = True

    def __init__(
        self,
        *,
        name: str | None = None,
        min_severity: Severity | str = "info",
        kinds: Sequence[str] | None = None,
        rate_limit_per_min: float | None = None,
    ) -> None:
        self.name = name or self.type
        self.min_severity = check_severity("min_severity", min_severity)
        if kinds is not None:
            if isinstance(kinds, str) or not all(isinstance(k, str) for k in kinds):
                raise ConfigError("kinds", f"expected a list of event kinds, got {kinds!r}")
            unknown = sorted(set(kinds) - KINDS)
            if unknown:
                raise ConfigError("kinds", f"unknown kind(s) {unknown}; expected some of {sorted(KINDS)}")
        self.kinds = frozenset(kinds) if kinds is not None else None
        if rate_limit_per_min is not None and (
            not isinstance(rate_limit_per_min, (int, float)) or rate_limit_per_min <= 0
        ):
            raise ConfigError("rate_limit_per_min", f"expected a positive number, got {rate_limit_per_min!r}")
        self.rate_limit_per_min = (
            float(rate_limit_per_min) if rate_limit_per_min is not None else self.default_rate_limit_per_min
        )

    def accepts(self, event: Event) -> bool:
        """Whether this destination wants ``event`` (severity and kind filters)."""
        if event.kind == "test":
            return True
        if event.severity < self.min_severity and event.kind != "summary":
            return False
        return self.kinds is None or event.kind in self.kinds

    def send(self, notification: Notification, ctx: SendContext) -> Outcome:
        """Make one attempt to deliver ``notification``; classify the result."""
        raise NotImplementedError

    def messages_per_send(self, notification: Notification) -> int:
        """How many messages one `send` of ``notification`` posts (rate-limit cost). Defaults to 1."""
        return 1

    def close(self) -> None:
        """Release resources (connections). Called once by the dispatcher."""

    def describe(self) -> dict[str, Any]:
        """The channel's settings with secrets redacted (for ``check-config``)."""
        out: dict[str, Any] = {"type": self.type, "name": self.name, "min_severity": str(self.min_severity)}
        if self.kinds is not None:
            out["kinds"] = sorted(self.kinds)
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


# --- shared helpers for channel implementations -------------------------------------------

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() in LOOPBACK_NAMES:
        return True
    import ipaddress

    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def render_digest(
    ctx: SendContext,
    template: str,
    notification: Notification,
    fits: Callable[[str], bool],
    **extra: Any,
) -> str:
    """Render a digest naming as many of its incidents as ``fits`` allows.

    The template gets ``named`` (the events listed, headline first) and ``unnamed`` (the
    exact number of distinct incidents it stands for but does not list). The largest
    ``named`` whose text ``fits`` is found by bisection; ``ctx.named`` is set to it.

    Args:
        ctx: the send context (its ``render``; ``named`` is set).
        template: the digest template, e.g. ``"wecom/digest.md.j2"``.
        notification: a digest (``notification.digest`` is True).
        fits: whether a rendered text fits the service's limits.
        **extra: more template variables.

    Returns:
        The rendered text (with ``named=1`` when nothing fits, for the channel to truncate).
    """
    events = notification.events

    def render(k: int) -> str:
        return ctx.render(
            template, notification, named=events[:k], unnamed=digest_unnamed(notification, k), **extra
        )

    low, high = 1, len(events)
    best = render(high)
    if fits(best):
        ctx.named = high
        return best
    best, best_k = render(low), low
    while low < high - 1:  # invariant: ``low`` fits (or is the floor), ``high`` does not
        mid = (low + high) // 2
        text = render(mid)
        if fits(text):
            low, best, best_k = mid, text, mid
        else:
            high = mid
    ctx.named = best_k
    return best


def check_url(field: str, url: Any, *, allow_insecure_http: bool = False) -> str:
    """Validate an endpoint URL; ``http://`` only for loopback unless allowed.

    Raises:
        ConfigError: naming ``field``; the URL itself is never echoed.
    """
    if isinstance(url, Secret):
        url = url.get()
    if not isinstance(url, str) or not url:
        raise ConfigError(field, "expected a URL string like 'https://host/path'")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise ConfigError(field, "expected a URL without spaces or control characters (percent-encode them)")
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ConfigError(field, "expected a valid URL (could not parse it)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(field, f"expected an http(s) URL with a host, got {redact_url(url)}")
    if parts.scheme == "http" and not is_loopback(parts.hostname) and not allow_insecure_http:
        raise ConfigError(
            field,
            f"plain http:// to a non-loopback host ({parts.hostname}) is refused; "
            "use https:// or set allow_insecure_http = true",
        )
    return url


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Parse a ``Retry-After`` header (seconds or an HTTP date) into seconds from now."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def classify_http(status: int, headers: Any = None, body: str = "") -> Outcome:
    """The common HTTP classification: 2xx delivered, 408/429/5xx retry, other 4xx permanent."""
    if 200 <= status < 300:
        return Outcome.delivered()
    snippet = scrub(body[:200].strip())
    reason = f"HTTP {status}" + (f": {snippet}" if snippet else "")
    if status in (408, 425, 429) or status >= 500:
        retry_after = retry_after_seconds(headers.get("retry-after") if headers is not None else None)
        return Outcome.retry(reason, retry_after)
    return Outcome.permanent(reason)
