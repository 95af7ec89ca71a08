"""apprise: the long tail of notification services (``pip install 'alertcb[apprise]'``).

apprise blocks and reports only success or failure: it cannot tell a bad token from
an outage. So each URL is tried in the destination's own sender thread with apprise's
socket timeouts bounded by the attempt timeout (``cto``/``rto``), a failed URL is
reported as retryable ``max_attempts - 1`` times and then as permanent, and a URL that
succeeded is never sent the same notification again.
"""

from __future__ import annotations

import collections
import logging
import threading
import urllib.parse
from typing import Any, ClassVar

from alertcb.channels import _chat
from alertcb.channels import _http as c
from alertcb.channels.base import Channel, Notification, Outcome, SendContext, is_loopback
from alertcb.errors import ConfigError
from alertcb.redact import MASK, ScrubFilter, Secret

logger = logging.getLogger("alertcb")
#: apprise schemes that are plain HTTP (their ``…s://`` twins use TLS).
PLAIN_HTTP_SCHEMES = frozenset({"json", "form", "xml", "http"})
MAX_TRACKED = 1024
#: Loggers of apprise and its HTTP stack (a filter applies only to records logged on its own logger).
SCRUBBED_LOGGERS = ("apprise", "urllib3", "urllib3.connectionpool", "requests", "requests_oauthlib")


class Apprise(Channel):
    """Sends alerts through `apprise <https://github.com/caronc/apprise>`_ URLs.

    Args:
        urls: apprise URLs (``tgram://…``, ``mailto://…``, ``json://host/path``…). Secrets:
            they are never shown, only their scheme.
        max_attempts: attempts per URL and notification before a failure is reported as
            permanent (apprise cannot say whether a failure is temporary). Defaults to 3.
        body_format: ``"markdown"`` (default) or ``"text"``: what apprise is told the body is.
        allow_insecure_http: allow the plain-HTTP schemes (``json://``, ``form://``,
            ``xml://``) to a non-loopback host. Defaults to False.
        name, min_severity, kinds, rate_limit_per_min: see `Channel`.

    Example:
        >>> Apprise(urls=[os.environ["APPRISE_URL"]])  # doctest: +SKIP
    """

    type: ClassVar[str] = "apprise"

    def __init__(
        self,
        *,
        urls: list[str],
        max_attempts: int = 3,
        body_format: str = "markdown",
        allow_insecure_http: bool = False,
        name: str | None = None,
        min_severity: str = "info",
        kinds: list[str] | None = None,
        rate_limit_per_min: float | None = None,
    ) -> None:
        super().__init__(name=name, min_severity=min_severity, kinds=kinds, rate_limit_per_min=rate_limit_per_min)
        try:
            import apprise as _apprise
        except ImportError:
            raise ConfigError("urls", "the apprise package is not installed: pip install 'alertcb[apprise]'") from None
        if isinstance(urls, str) or not isinstance(urls, (list, tuple)) or not urls:
            raise ConfigError("urls", "expected a non-empty list of apprise URLs")
        insecure = c.flag("allow_insecure_http", allow_insecure_http)
        self._urls: list[Secret] = []
        for i, url in enumerate(urls):
            if not isinstance(url, str) or "://" not in url:
                raise ConfigError(f"urls[{i}]", "expected an apprise URL like 'tgram://token/chat'")
            secret = Secret(url)
            _register_parts(url)
            scheme = url.split("://", 1)[0].lower()
            host = urllib.parse.urlsplit(url).hostname
            if scheme in PLAIN_HTTP_SCHEMES and not insecure and not is_loopback(host):
                raise ConfigError(
                    f"urls[{i}]", f"plain-HTTP {scheme}:// to a non-loopback host is refused; use {scheme}s:// "
                    "or set allow_insecure_http = true"
                )
            if _apprise.Apprise.instantiate(url) is None:
                raise ConfigError(f"urls[{i}]", f"apprise does not accept this {scheme}:// URL")
            self._urls.append(secret)
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ConfigError("max_attempts", f"expected a positive integer, got {max_attempts!r}")
        self.max_attempts = max_attempts
        if body_format not in ("markdown", "text"):
            raise ConfigError("body_format", f"expected 'markdown' or 'text', got {body_format!r}")
        self.body_format = body_format
        self._lock = threading.Lock()
        #: notification id → (attempts so far, indexes of the URLs already delivered)
        self._progress: collections.OrderedDict[str, tuple[int, set[int]]] = collections.OrderedDict()
        for name in SCRUBBED_LOGGERS:  # apprise and its HTTP client log URLs and paths
            third_party = logging.getLogger(name)
            if not any(isinstance(f, ScrubFilter) for f in third_party.filters):
                third_party.addFilter(ScrubFilter())

    def build_message(self, notification: Notification, ctx: SendContext) -> tuple[str, str]:
        """``(title, body)``: the plain title and the body (markdown or text)."""
        title = _chat.title_line(ctx, self.type, notification)
        markup = _chat.MARKDOWN if self.body_format == "markdown" else _chat.PLAIN
        return title, _chat.render(ctx, self.type, notification, "body.j2", markup)

    def send(self, notification: Notification, ctx: SendContext) -> Outcome:
        title, body = self.build_message(notification, ctx)
        with self._lock:
            attempts, done = self._progress.pop(notification.id, (0, set()))
        attempts += 1
        failed = []
        for index, url in enumerate(self._urls):
            if index in done:
                continue
            if self._notify(url.get(), title, body, ctx.timeout_s):
                done.add(index)
            else:
                failed.append(index)
        if not failed:
            return Outcome.delivered()
        with self._lock:
            self._progress[notification.id] = (attempts, done)
            while len(self._progress) > MAX_TRACKED:
                self._progress.popitem(last=False)
        schemes = ", ".join(self._scheme(i) for i in failed)
        reason = f"apprise: {len(failed)} of {len(self._urls)} URL(s) failed ({schemes}); apprise gives no reason"
        if attempts >= self.max_attempts:
            with self._lock:
                self._progress.pop(notification.id, None)
            return Outcome.permanent(f"{reason}; gave up after {attempts} attempt(s)")
        return Outcome.retry(f"{reason}; attempt {attempts} of {self.max_attempts}")

    def _notify(self, url: str, title: str, body: str, timeout_s: float) -> bool:
        import apprise as _apprise

        bounded = _with_timeouts(url, timeout_s)
        client = _apprise.Apprise()
        if not client.add(bounded):
            return False
        fmt = _apprise.NotifyFormat.MARKDOWN if self.body_format == "markdown" else _apprise.NotifyFormat.TEXT
        try:
            return bool(client.notify(body=body, title=title, body_format=fmt))
        except Exception as exc:  # noqa: BLE001 - a plugin bug must not kill the sender thread
            logger.warning("apprise %s: %s raised %s", self.name, self._scheme_of(url), type(exc).__name__)
            return False

    def _scheme(self, index: int) -> str:
        return self._scheme_of(self._urls[index].get())

    @staticmethod
    def _scheme_of(url: str) -> str:
        return url.split("://", 1)[0] + "://" + MASK

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out.update(urls=[self._scheme(i) for i in range(len(self._urls))], max_attempts=self.max_attempts)
        return out


def _with_timeouts(url: str, timeout_s: float) -> str:
    """Add apprise's socket connect/read timeouts (``cto``/``rto``) unless the URL sets them."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    keys = {k for k, _ in query}
    seconds = f"{max(0.1, float(timeout_s)):g}"
    query += [(k, seconds) for k in ("cto", "rto") if k not in keys]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def _register_parts(url: str) -> None:
    """Register the parts of an apprise URL that may be credentials (tokens hide anywhere)."""
    c.url_credentials(url.replace(url.split("://", 1)[0], "https", 1))
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    hosts = [netloc] if "." not in netloc and "[" not in netloc else []  # a token, not a host name
    for piece in [parts.username or "", *hosts, *parts.path.split("/")]:
        piece = urllib.parse.unquote(piece)
        if len(piece) >= 8 and any(ch.isdigit() for ch in piece):
            Secret(piece)
