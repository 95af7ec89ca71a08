"""Discord webhook: one embed coloured by severity, posted with ``?wait=true``.

``wait=true`` makes Discord answer 200 with the saved message (without it, 204 and a
failed save goes unreported). ``allowed_mentions`` is always sent with ``parse: []``, so
nothing in an alert pings anyone except the users and roles configured here.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import urllib.parse
from typing import Any, ClassVar

from alertcb.channels import _chat
from alertcb.channels import _http as c
from alertcb.channels.base import (
    Channel,
    Notification,
    Outcome,
    SendContext,
    classify_http,
    retry_after_seconds,
)
from alertcb.errors import ConfigError
from alertcb.redact import Secret, redact_url
from alertcb.validate import check_severity

MAX_CONTENT = 2000
MAX_TITLE = 256
MAX_DESCRIPTION = 4096
MAX_FOOTER = 2048
MAX_EMBED_TOTAL = 6000
MAX_USERNAME = 80
#: Uploads are limited to 10 MB per message (the free tier); images beyond it are left out.
MAX_IMAGE_BYTES = 8 * 1024 * 1024
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
EMBED_COLOR = {"critical": 0xE01E5A, "warning": 0xF2A900, "info": 0x3B82F6, "resolved": 0x2EB67D}
PERMANENT_CODES = {
    50035: "invalid form body",
    50006: "empty message",
    50027: "invalid webhook token",
    10015: "unknown webhook (deleted)",
}


class Discord(Channel):
    """Sends alerts to a Discord channel through a webhook.

    Args:
        webhook_url: ``https://discord.com/api/webhooks/<id>/<token>`` (or a proxy/test
            endpoint). A secret. ``wait=true`` is added to its query.
        username: the name shown as the sender (≤ 80 characters, not containing
            "discord" or "clyde"). Defaults to the webhook's own name.
        mention_user_ids: user ids to ping from ``mention_min_severity`` up.
        mention_role_ids: role ids to ping from ``mention_min_severity`` up.
        mention_everyone_on_critical: ``@everyone`` on firing critical alerts. Defaults to False.
        mention_min_severity: the least severity that pings. Defaults to ``"critical"``;
            resolved alerts never ping.
        allow_insecure_http: allow ``http://`` to a non-loopback host. Defaults to False.
        name, min_severity, kinds, rate_limit_per_min: see `Channel`.

    Example:
        >>> Discord(webhook_url=os.environ["DISCORD_WEBHOOK_URL"], mention_user_ids=["80351110224678912"])  # doctest: +SKIP
    """

    type: ClassVar[str] = "discord"
    #: Discord allows about 5 requests per 2 s per webhook and 30 a minute per channel.
    default_rate_limit_per_min: ClassVar[float | None] = 30
    default_burst: ClassVar[int] = 5

    def __init__(
        self,
        *,
        webhook_url: str | Secret,
        username: str | None = None,
        mention_user_ids: list[str] | None = None,
        mention_role_ids: list[str] | None = None,
        mention_everyone_on_critical: bool = False,
        mention_min_severity: str = "critical",
        allow_insecure_http: bool = False,
        name: str | None = None,
        min_severity: str = "info",
        kinds: list[str] | None = None,
        rate_limit_per_min: float | None = None,
    ) -> None:
        super().__init__(name=name, min_severity=min_severity, kinds=kinds, rate_limit_per_min=rate_limit_per_min)
        url = c.webhook_endpoint("webhook_url", webhook_url, allow_insecure_http=allow_insecure_http)
        for segment in urllib.parse.urlsplit(url.get()).path.split("/"):
            if len(segment) >= 16:
                Secret(segment)  # the token segment is the credential
        self._url = Secret(with_wait(url.get()))
        if username is not None:
            username = c.string("username", username)
            if len(username) > MAX_USERNAME or any(w in username.lower() for w in ("discord", "clyde")):
                raise ConfigError("username", "expected ≤ 80 characters without 'discord' or 'clyde'")
        self.username = username
        self.mention_user_ids = _snowflakes("mention_user_ids", mention_user_ids)
        self.mention_role_ids = _snowflakes("mention_role_ids", mention_role_ids)
        self.mention_everyone_on_critical = c.flag("mention_everyone_on_critical", mention_everyone_on_critical)
        self.mention_min_severity = check_severity("mention_min_severity", mention_min_severity)

    def build_payload(self, notification: Notification, ctx: SendContext) -> dict[str, Any]:
        """The JSON body: an embed within Discord's limits and a strict ``allowed_mentions``."""
        title = _chat.title_line(ctx, self.type, notification)
        body = _chat.render(ctx, self.type, notification, "body.j2", _chat.MARKDOWN)
        due = _chat.mentions_due(notification, self.mention_min_severity)
        users = list(self.mention_user_ids) if due else []
        roles = list(self.mention_role_ids) if due else []
        everyone = _chat.all_due(notification, self.mention_everyone_on_critical)
        embed: dict[str, Any] = {
            "title": _chat.cut_utf16(title, MAX_TITLE),
            "description": _chat.cut_markdown(body, MAX_DESCRIPTION) or "—",
            "color": EMBED_COLOR[_chat.color_key(notification)],
            "footer": {"text": _chat.cut_utf16(f"alertcb · {notification.event.kind}", 200)},
        }
        if math.isfinite(notification.event.time):
            embed["timestamp"] = _dt.datetime.fromtimestamp(notification.event.time, tz=_dt.timezone.utc).isoformat()
        payload: dict[str, Any] = {
            "embeds": [embed],
            "allowed_mentions": {"parse": ["everyone"] if everyone else [], "users": users, "roles": roles},
        }
        pings = (["@everyone"] if everyone else []) + [f"<@{u}>" for u in users] + [f"<@&{r}>" for r in roles]
        if pings:
            payload["content"] = " ".join(pings)[:MAX_CONTENT]
        if self.username:
            payload["username"] = self.username
        image = self.image(notification)
        if image is not None:  # shown inside the embed, uploaded in the same request
            embed["image"] = {"url": f"attachment://{image.filename}"}
            payload["attachments"] = [{"id": 0, "filename": image.filename}]
        return payload

    def image(self, notification: Notification) -> Any:
        """The first image attachment that Discord accepts (the summary's loss curve), or None."""
        for attachment in notification.attachments:
            if attachment.content_type in IMAGE_TYPES and len(attachment.data) <= MAX_IMAGE_BYTES:
                return attachment
        return None

    def send(self, notification: Notification, ctx: SendContext) -> Outcome:
        payload = self.build_payload(notification, ctx)
        image = self.image(notification)
        if image is None:
            return c.attempt(lambda: _chat.post(ctx, self._url.get(), payload), classify_response)
        # one multipart request: the text and the picture arrive together or not at all
        form = {"payload_json": _chat.dumps(payload).decode("utf-8")}
        files = {"files[0]": (image.filename, image.data, image.content_type)}
        return c.attempt(lambda: c.post(ctx, self._url.get(), data=form, files=files), classify_response)

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out.update(
            webhook_url=redact_url(self._url.get()),
            username=self.username,
            mention_user_ids=list(self.mention_user_ids),
            mention_role_ids=list(self.mention_role_ids),
            mention_everyone_on_critical=self.mention_everyone_on_critical,
            mention_min_severity=str(self.mention_min_severity),
        )
        return out


def _snowflakes(field: str, value: Any) -> list[str]:
    ids = c.string_list(field, value)
    for i, item in enumerate(ids):
        if not item.isdigit():
            raise ConfigError(f"{field}[{i}]", f"expected a numeric Discord id, got {item!r}")
    return ids


def with_wait(url: str) -> str:
    """``url`` with ``wait=true`` in its query (other parameters kept)."""
    parts = urllib.parse.urlsplit(url)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True) if k != "wait"]
    query.append(("wait", "true"))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def classify_response(status: int, headers: Any, text: str) -> Outcome:
    """200/204 delivered; 429 waits ``retry_after`` (body, float seconds) or Retry-After;
    5xx retry; 50035/50006/50027/10015 and other 4xx permanent."""
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    if status == 429:
        wait = _retry_after(data, headers)
        scope = "global" if data.get("global") else "webhook"
        return Outcome.retry(f"Discord: HTTP 429 rate limited ({scope} bucket)", wait)
    if 200 <= status < 300 or status >= 500:
        return classify_http(status, headers, text)
    code = data.get("code")
    if isinstance(code, int):
        meaning = PERMANENT_CODES.get(code, str(data.get("message") or "error")[:120])
        return Outcome.permanent(f"Discord: HTTP {status} code {code}: {meaning}")
    return classify_http(status, headers, text)


def _retry_after(data: dict[str, Any], headers: Any) -> float | None:
    header = retry_after_seconds(headers.get("retry-after") if headers is not None else None)
    value = data.get("retry_after")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0:
        body = float(value)
        if header is not None and body > 100 * max(header, 1.0):
            return header  # the body was in milliseconds (seen in the wild): trust the header
        return body if header is None else max(body, header)
    return header
