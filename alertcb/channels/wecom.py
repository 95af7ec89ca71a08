"""WeCom (企业微信) group robot: markdown by default, text when people are @-mentioned.

Every WeCom answer is HTTP 200; success is ``errcode == 0``. Limits are UTF-8 bytes
(4096 for markdown, 2048 for text), so text is cut on a code-point boundary.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import urllib.parse
from typing import Any, ClassVar, Literal

from alertcb.channels import _http as c
from alertcb.channels.base import (
    Channel,
    Notification,
    Outcome,
    SendContext,
    check_url,
    classify_http,
    render_digest,
)
from alertcb.errors import ConfigError
from alertcb.events import Severity
from alertcb.filters import no_mentions, truncate_bytes
from alertcb.redact import Secret, redact_url
from alertcb.validate import check_severity

logger = logging.getLogger("alertcb")

DEFAULT_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
MAX_BYTES = {"markdown": 4096, "markdown_v2": 4096, "text": 2048}
TEMPLATE_PART = {"markdown": "md.j2", "markdown_v2": "md2.j2", "text": "txt.j2"}
IMAGE_MAX_BYTES = 2 * 1024 * 1024
IMAGE_TYPES = frozenset({"image/png", "image/jpeg"})
#: errcodes worth retrying (the dispatcher backs off) and permanent ones, from SERVICES.md.
RETRYABLE_ERRCODES = {45009: "rate limited (20 messages/min per robot)", -1: "system busy", 45033: "too many concurrent calls"}
PERMANENT_ERRCODES = {
    93000: "invalid webhook URL or robot removed",
    93004: "robot disabled",
    93008: "robot is not in the group",
    40008: "invalid message type",
    44004: "empty content",
    45002: "content too large",
}


class WeCom(Channel):
    """Sends alerts to a WeCom group robot.

    Args:
        key: the robot's key (the ``key=`` of its webhook URL). A secret.
        webhook_url: the full endpoint URL (a proxy or test server). With ``key`` too,
            the key is added as the ``key`` query parameter. Treated as a secret.
        msgtype: ``"markdown"`` (default, colour by severity), ``"markdown_v2"`` or ``"text"``.
            Messages that @-mention people are always ``text``.
        mentioned_list: user ids to @-mention (``"@all"`` for everyone).
        mentioned_mobile_list: phone numbers to @-mention.
            Only these lists mention people: mention syntax (``@all``, ``<@userid>``) in
            titles, messages, metric names or exceptions is made inert in every msgtype.
        mention_min_severity: mention only for notifications at least this severe
            (default ``"critical"``); resolves never mention.
        mention_all_on_critical: add ``@all`` to critical alerts. Defaults to False.
        mention_in_markdown: mention ``mentioned_list`` user ids as ``<@userid>`` inside the
            markdown message (keeps colours and layout) instead of switching to ``text``;
            ``@all`` and phone numbers still need ``text``. Defaults to False.
        send_images: send image attachments (PNG/JPEG ≤ 2 MB) as extra ``image``
            messages after the text. Defaults to True.
        allow_insecure_http: allow ``http://`` to a non-loopback host. Defaults to False.
        name, min_severity, kinds, rate_limit_per_min: see `Channel`.

    Example:
        >>> WeCom(key="3f1c...", mention_all_on_critical=True)  # doctest: +SKIP
    """

    type: ClassVar[str] = "wecom"
    default_rate_limit_per_min: ClassVar[float | None] = 20
    default_burst: ClassVar[int] = 1

    def __init__(
        self,
        *,
        key: str | Secret | None = None,
        webhook_url: str | Secret | None = None,
        msgtype: Literal["markdown", "markdown_v2", "text"] = "markdown",
        mentioned_list: list[str] | None = None,
        mentioned_mobile_list: list[str] | None = None,
        mention_min_severity: str = "critical",
        mention_all_on_critical: bool = False,
        mention_in_markdown: bool = False,
        send_images: bool = True,
        allow_insecure_http: bool = False,
        name: str | None = None,
        min_severity: str = "info",
        kinds: list[str] | None = None,
        rate_limit_per_min: float | None = None,
    ) -> None:
        super().__init__(name=name, min_severity=min_severity, kinds=kinds, rate_limit_per_min=rate_limit_per_min)
        key_secret = c.secret("key", key, required=False)
        url_secret = c.secret("webhook_url", webhook_url, required=False)
        if key_secret is None and url_secret is None:
            raise ConfigError("key", "set the robot's key (or webhook_url, its full URL)")
        insecure = c.flag("allow_insecure_http", allow_insecure_http)
        if url_secret is None:
            url = f"{DEFAULT_URL}?key={urllib.parse.quote(key_secret.get(), safe='') if key_secret else ''}"
        else:
            url = c.url_credentials(check_url("webhook_url", url_secret, allow_insecure_http=insecure))
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
            for value in query.get("key", []):
                Secret(value)  # registered, so scrub() masks it everywhere
            if key_secret is not None:
                if "key" in query:
                    raise ConfigError("key", "webhook_url already carries a key; set only one of them")
                sep = "&" if urllib.parse.urlsplit(url).query else "?"
                url = f"{url}{sep}key={urllib.parse.quote(key_secret.get(), safe='')}"
        self._url = Secret(url)
        if msgtype not in MAX_BYTES:
            raise ConfigError("msgtype", f"expected one of {sorted(MAX_BYTES)}, got {msgtype!r}")
        self.msgtype: str = msgtype
        self.mentioned_list = c.string_list("mentioned_list", mentioned_list)
        self.mentioned_mobile_list = c.string_list("mentioned_mobile_list", mentioned_mobile_list)
        self.mention_min_severity = check_severity("mention_min_severity", mention_min_severity)
        self.mention_all_on_critical = c.flag("mention_all_on_critical", mention_all_on_critical)
        self.mention_in_markdown = c.flag("mention_in_markdown", mention_in_markdown)
        for i, user in enumerate(self.mentioned_list):
            if any(ch in user for ch in "<>") or not user.strip():
                raise ConfigError(f"mentioned_list[{i}]", f"expected a WeCom user id or '@all', got {user!r}")
        self.send_images = c.flag("send_images", send_images)

    def mentions(self, notification: Notification) -> tuple[list[str], list[str]]:
        """The user ids and phone numbers to @-mention for ``notification``."""
        if notification.event.resolved:
            return [], []
        users: list[str] = []
        mobiles: list[str] = []
        if notification.severity >= self.mention_min_severity:
            users, mobiles = list(self.mentioned_list), list(self.mentioned_mobile_list)
        if self.mention_all_on_critical and notification.severity >= Severity.CRITICAL and "@all" not in users:
            users.append("@all")
        return users, mobiles

    def build_payload(self, notification: Notification, ctx: SendContext) -> dict[str, Any]:
        """The JSON body of the text/markdown message."""
        users, mobiles = self.mentions(notification)
        inline = (
            self.mention_in_markdown and self.msgtype == "markdown" and users and not mobiles and "@all" not in users
        )
        msgtype = "text" if (users or mobiles) and not inline else self.msgtype
        tail = "\n" + " ".join(f"<@{user}>" for user in users) if inline else ""
        limit = MAX_BYTES[msgtype] - len(tail.encode("utf-8"))
        # Rendered text (titles, messages, metric names, exceptions) never mentions anyone:
        # only mentioned_list / mentioned_mobile_list (and mention_in_markdown's tail) do.
        if notification.digest:  # name as many incidents as fit the byte limit, count the rest
            text = render_digest(
                ctx,
                f"wecom/digest.{TEMPLATE_PART[msgtype]}",
                notification,
                lambda t: len(no_mentions(t).encode("utf-8")) <= limit,
            )
        else:
            text = c.render_part(ctx, "wecom", notification, TEMPLATE_PART[msgtype])
        content = truncate_bytes(no_mentions(text), limit) or truncate_bytes(
            no_mentions(notification.event.title or "alert"), 256
        )
        content += tail
        if msgtype == "text":
            body: dict[str, Any] = {"content": content}
            if users:
                body["mentioned_list"] = users
            if mobiles:
                body["mentioned_mobile_list"] = mobiles
            return {"msgtype": "text", "text": body}
        return {"msgtype": msgtype, msgtype: {"content": content}}

    def send(self, notification: Notification, ctx: SendContext) -> Outcome:
        outcome = self._post(ctx, self.build_payload(notification, ctx))
        if outcome.verdict == "delivered" and self.send_images:
            self._send_images(notification, ctx)
        return outcome

    def messages_per_send(self, notification: Notification) -> int:
        """The text message plus one ``image`` message per sendable image (the rate-limit cost)."""
        return 1 + len(self._images(notification)) if self.send_images else 1

    def _images(self, notification: Notification) -> list[Any]:
        return [
            a for a in notification.attachments if a.content_type in IMAGE_TYPES and len(a.data) <= IMAGE_MAX_BYTES
        ]

    def _send_images(self, notification: Notification, ctx: SendContext) -> None:
        # Images are extras: the text already arrived, so a failed image is logged, not
        # retried (a retry would repeat the text).
        for attachment in notification.attachments:
            if attachment.content_type not in IMAGE_TYPES:
                continue
            if len(attachment.data) > IMAGE_MAX_BYTES:
                logger.warning("wecom %s: image %s skipped (%d bytes > 2 MB)", self.name, attachment.filename, len(attachment.data))
                continue
            payload = {"msgtype": "image", "image": image_body(attachment.data)}
            outcome = self._post(ctx, payload)
            if outcome.verdict != "delivered":
                logger.warning("wecom %s: image %s not sent: %s", self.name, attachment.filename, outcome.reason)

    def _post(self, ctx: SendContext, payload: dict[str, Any]) -> Outcome:
        return c.attempt(lambda: c.post_json(ctx, self._url.get(), payload), classify_response)

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out.update(
            url=redact_url(self._url.get()),
            msgtype=self.msgtype,
            mentioned_list=list(self.mentioned_list),
            mentioned_mobile_list=f"{len(self.mentioned_mobile_list)} number(s)",
            mention_min_severity=str(self.mention_min_severity),
            mention_all_on_critical=self.mention_all_on_critical,
            mention_in_markdown=self.mention_in_markdown,
            send_images=self.send_images,
        )
        return out


def image_body(data: bytes) -> dict[str, str]:
    """WeCom's ``image`` body: base64 of the raw bytes and their MD5."""
    return {"base64": base64.b64encode(data).decode("ascii"), "md5": hashlib.md5(data, usedforsecurity=False).hexdigest()}


def classify_response(status: int, headers: Any, text: str) -> Outcome:
    """Classify a WeCom answer: read ``errcode`` of an HTTP 200, never ``errmsg`` alone."""
    if status != 200:
        return classify_http(status, headers, text)
    try:
        import json

        errcode = int(json.loads(text)["errcode"])
    except (ValueError, KeyError, TypeError):
        return Outcome.retry("WeCom: HTTP 200 without an errcode (proxy or outage?)")
    if errcode == 0:
        return Outcome.delivered()
    if errcode in RETRYABLE_ERRCODES:
        return Outcome.retry(f"WeCom errcode {errcode}: {RETRYABLE_ERRCODES[errcode]}")
    meaning = PERMANENT_ERRCODES.get(errcode, "unknown error")
    return Outcome.permanent(f"WeCom errcode {errcode}: {meaning}")
