"""DingTalk (钉钉) custom robot: markdown with a title, optional signing and keyword.

DingTalk answers HTTP 200 to everything; success is ``errcode == 0`` in the body.
With a ``secret`` each request carries ``timestamp`` (epoch ms) and
``sign = urlencode(base64(HMAC-SHA256(secret, timestamp + "\\n" + secret)))`` in the query.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.parse
from typing import Any, ClassVar

from alertcb.channels import _chat
from alertcb.channels import _http as c
from alertcb.channels.base import (
    Channel,
    Notification,
    Outcome,
    SendContext,
    check_url,
    classify_http,
)
from alertcb.errors import ConfigError
from alertcb.redact import Secret, redact_url
from alertcb.validate import check_severity

DEFAULT_URL = "https://oapi.dingtalk.com/robot/send"
#: A message is ≈ 20,000 bytes at most *(low)*: the body stays well under it.
MAX_TEXT_BYTES = 18_000
MAX_TITLE_CHARS = 100
RATE_LIMITED = 130101
RETRYABLE_ERRCODES = {-1: "system busy"}
PERMANENT_ERRCODES = {
    310000: "security check failed (keyword, signature, timestamp or IP allow-list)",
    400402: "a required field is missing",
    300005: "unknown access token",
    40035: "no access token",
    400105: "unsupported msgtype",
    460101: "message too long",
    43004: "bad Content-Type",
}


class DingTalk(Channel):
    """Sends alerts to a DingTalk group's custom robot as markdown.

    Args:
        webhook_url: the robot's URL (``https://oapi.dingtalk.com/robot/send?access_token=…``)
            or a proxy/test endpoint. A secret.
        access_token: the robot's token, instead of ``webhook_url``. A secret.
        secret: the signing secret (``SEC…``) when the robot uses "加签" signing. A secret.
        keyword: a keyword the robot requires ("自定义关键词"); prepended to every message.
        at_mobiles: phone numbers to @-mention (from ``mention_min_severity`` up).
        at_user_ids: DingTalk user ids to @-mention (same rule).
        at_all_on_critical: @all on firing critical alerts. Defaults to False.
        mention_min_severity: the least severity that mentions ``at_mobiles``/``at_user_ids``.
            Defaults to ``"critical"``; resolved alerts never mention.
        throttled_wait_s: how long to wait after errcode 130101 (the robot is throttled
            for 10 minutes after 20 messages in a minute). Defaults to 600.
        allow_insecure_http: allow ``http://`` to a non-loopback host. Defaults to False.
        name, min_severity, kinds, rate_limit_per_min: see `Channel`.

    Example:
        >>> DingTalk(access_token=os.environ["DINGTALK_TOKEN"], secret=os.environ["DINGTALK_SECRET"])  # doctest: +SKIP
    """

    type: ClassVar[str] = "dingtalk"
    default_rate_limit_per_min: ClassVar[float | None] = 20
    default_burst: ClassVar[int] = 1

    def __init__(
        self,
        *,
        webhook_url: str | Secret | None = None,
        access_token: str | Secret | None = None,
        secret: str | Secret | None = None,
        keyword: str | None = None,
        at_mobiles: list[str] | None = None,
        at_user_ids: list[str] | None = None,
        at_all_on_critical: bool = False,
        mention_min_severity: str = "critical",
        throttled_wait_s: float = 600.0,
        allow_insecure_http: bool = False,
        name: str | None = None,
        min_severity: str = "info",
        kinds: list[str] | None = None,
        rate_limit_per_min: float | None = None,
    ) -> None:
        super().__init__(name=name, min_severity=min_severity, kinds=kinds, rate_limit_per_min=rate_limit_per_min)
        url_secret = c.secret("webhook_url", webhook_url, required=False)
        token = c.secret("access_token", access_token, required=False)
        insecure = c.flag("allow_insecure_http", allow_insecure_http)
        if url_secret is None and token is None:
            raise ConfigError("webhook_url", "set the robot's webhook_url (or its access_token)")
        if url_secret is None:
            assert token is not None
            url = f"{DEFAULT_URL}?access_token={urllib.parse.quote(token.get(), safe='')}"
        else:
            url = c.url_credentials(check_url("webhook_url", url_secret, allow_insecure_http=insecure))
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
            for value in query.get("access_token", []):
                Secret(value)
            if token is not None:
                if "access_token" in query:
                    raise ConfigError("access_token", "webhook_url already carries an access_token; set only one")
                sep = "&" if urllib.parse.urlsplit(url).query else "?"
                url = f"{url}{sep}access_token={urllib.parse.quote(token.get(), safe='')}"
        self._url = Secret(url)
        self._secret = c.secret("secret", secret, required=False)
        self.keyword = c.string("keyword", keyword) if keyword is not None else None
        self.at_mobiles = c.string_list("at_mobiles", at_mobiles)
        self.at_user_ids = c.string_list("at_user_ids", at_user_ids)
        self.at_all_on_critical = c.flag("at_all_on_critical", at_all_on_critical)
        self.mention_min_severity = check_severity("mention_min_severity", mention_min_severity)
        self.throttled_wait_s = c.number("throttled_wait_s", throttled_wait_s)

    def signed_url(self, now_ms: int | None = None) -> str:
        """The URL to POST to, with ``timestamp`` and ``sign`` when a secret is set."""
        url = self._url.get()
        if self._secret is None:
            return url
        timestamp = str(int(time.time() * 1000) if now_ms is None else now_ms)
        signature = urllib.parse.quote_plus(sign(self._secret.get(), timestamp))
        return f"{url}{'&' if '?' in url else '?'}timestamp={timestamp}&sign={signature}"

    def build_payload(self, notification: Notification, ctx: SendContext) -> dict[str, Any]:
        """The JSON body: a ``markdown`` message with title, text and ``at``."""
        title = _chat.title_line(ctx, self.type, notification)
        body = _chat.render(ctx, self.type, notification, "body.j2", _chat.DINGTALK)
        mobiles = self.at_mobiles if _chat.mentions_due(notification, self.mention_min_severity) else []
        users = self.at_user_ids if _chat.mentions_due(notification, self.mention_min_severity) else []
        at_all = _chat.all_due(notification, self.at_all_on_critical)
        tail = " ".join([f"@{m}" for m in mobiles] + [f"@{u}" for u in users])
        head = f"{self.keyword} " if self.keyword else ""  # verbatim: the robot looks for it
        heading = f"#### {head}{_chat.md_escape(title)}\n\n"
        room = MAX_TEXT_BYTES - len((heading + "\n\n" + tail).encode("utf-8"))
        text = heading + _chat.cut_markdown(body, room, _utf8_len) + (f"\n\n{tail}" if tail else "")
        short_title = _chat.cut_utf16((f"{self.keyword} " if self.keyword else "") + title, MAX_TITLE_CHARS)
        return {
            "msgtype": "markdown",
            "markdown": {"title": short_title, "text": text},
            "at": {"atMobiles": list(mobiles), "atUserIds": list(users), "isAtAll": at_all},
        }

    def send(self, notification: Notification, ctx: SendContext) -> Outcome:
        payload, url = self.build_payload(notification, ctx), self.signed_url()
        return c.attempt(
            lambda: _chat.post(ctx, url, payload),
            lambda status, headers, text: classify_response(status, headers, text, self.throttled_wait_s),
        )

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out.update(
            webhook_url=redact_url(self._url.get()),
            signed=self._secret is not None,
            keyword=self.keyword,
            at_mobiles=f"{len(self.at_mobiles)} number(s)",
            at_user_ids=list(self.at_user_ids),
            at_all_on_critical=self.at_all_on_critical,
            mention_min_severity=str(self.mention_min_severity),
        )
        return out


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def sign(secret: str, timestamp: str) -> str:
    """``base64(HMAC-SHA256(key=secret, msg=timestamp + "\\n" + secret))``, not yet URL-encoded."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def classify_response(status: int, headers: Any, text: str, throttled_wait_s: float = 600.0) -> Outcome:
    """Classify a DingTalk answer: ``errcode`` of the body decides, never the HTTP 200 alone."""
    if status != 200:
        return classify_http(status, headers, text)
    try:
        errcode = int(json.loads(text)["errcode"])
    except (ValueError, KeyError, TypeError):
        return Outcome.retry("DingTalk: HTTP 200 without an errcode (proxy or outage?)")
    if errcode == 0:
        return Outcome.delivered()
    if errcode == RATE_LIMITED:
        return Outcome.retry(f"DingTalk errcode {errcode}: rate limited (20/min; throttled for 10 min)", throttled_wait_s)
    if errcode in RETRYABLE_ERRCODES:
        return Outcome.retry(f"DingTalk errcode {errcode}: {RETRYABLE_ERRCODES[errcode]}")
    meaning = PERMANENT_ERRCODES.get(errcode, "unknown error")
    return Outcome.permanent(f"DingTalk errcode {errcode}: {meaning}{_errmsg(text)}")


def _errmsg(text: str) -> str:
    try:
        message = str(json.loads(text).get("errmsg") or "")[:120]
    except (ValueError, AttributeError):
        return ""
    return f" ({message})" if message else ""
