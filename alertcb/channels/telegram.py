"""Telegram Bot API ``sendMessage`` in HTML parse mode.

User text is escaped (``&``, ``<``, ``>``), so a traceback's ``<module>`` cannot break the
markup; the message is cut to 4096 UTF-16 units with every open tag closed. The bot token
is in the URL path: it is masked in every error and log.
"""

from __future__ import annotations

import functools
import json
import logging
import re
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

logger = logging.getLogger("alertcb")
DEFAULT_API_URL = "https://api.telegram.org"
MAX_TEXT = 4096
#: sendPhoto accepts uploads up to 10 MB.
MAX_PHOTO_BYTES = 10 * 1024 * 1024
PHOTO_TYPES = frozenset({"image/png", "image/jpeg"})
_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]{20,}$")
_USERNAME = re.compile(r"^@?[A-Za-z][A-Za-z0-9_]{3,31}$")


class Telegram(Channel):
    """Sends alerts to a Telegram chat, group or channel through a bot.

    Args:
        bot_token: the token from @BotFather (``123456:ABC…``). A secret.
        chat_id: the chat's id (``-1001234567890``) or a channel's ``@name``.
        api_url: the Bot API base URL. Defaults to ``https://api.telegram.org``
            (a local Bot API server or a test stand-in otherwise).
        message_thread_id: a forum topic to post in (optional).
        mention_usernames: ``@usernames`` to mention from ``mention_min_severity`` up
            (Telegram has no @all).
        mention_min_severity: the least severity that mentions. Defaults to ``"critical"``;
            resolved alerts never mention.
        silent_below: send without a notification sound below this severity. Defaults to
            ``"warning"`` (info messages arrive silently).
        send_images: after the text, send the summary's loss-curve picture with ``sendPhoto``.
            Defaults to True.
        allow_insecure_http: allow ``http://`` to a non-loopback host. Defaults to False.
        name, min_severity, kinds, rate_limit_per_min: see `Channel`.

    Example:
        >>> Telegram(bot_token=os.environ["TG_TOKEN"], chat_id="-1001234567890")  # doctest: +SKIP
    """

    type: ClassVar[str] = "telegram"
    #: About 1 a second per chat and 20 a minute per group.
    default_rate_limit_per_min: ClassVar[float | None] = 20
    default_burst: ClassVar[int] = 3

    def __init__(
        self,
        *,
        bot_token: str | Secret,
        chat_id: str | int,
        api_url: str = DEFAULT_API_URL,
        message_thread_id: int | None = None,
        mention_usernames: list[str] | None = None,
        mention_min_severity: str = "critical",
        silent_below: str = "warning",
        send_images: bool = True,
        allow_insecure_http: bool = False,
        name: str | None = None,
        min_severity: str = "info",
        kinds: list[str] | None = None,
        rate_limit_per_min: float | None = None,
    ) -> None:
        super().__init__(name=name, min_severity=min_severity, kinds=kinds, rate_limit_per_min=rate_limit_per_min)
        token = c.secret("bot_token", bot_token)
        assert token is not None
        if not _TOKEN.match(token.get()):
            raise ConfigError("bot_token", "expected a bot token like '123456789:AA…' (from @BotFather)")
        Secret(token.get().split(":", 1)[1])  # the part after the bot id is the credential
        self._token = token
        if isinstance(chat_id, bool) or not isinstance(chat_id, (str, int)) or not str(chat_id).strip():
            raise ConfigError("chat_id", "expected a chat id (-100…) or a channel's @name")
        self.chat_id: str | int = chat_id if isinstance(chat_id, int) else c.string("chat_id", chat_id)
        self.api_url = check_url("api_url", api_url, allow_insecure_http=c.flag("allow_insecure_http", allow_insecure_http)).rstrip("/")
        if message_thread_id is not None and (isinstance(message_thread_id, bool) or not isinstance(message_thread_id, int)):
            raise ConfigError("message_thread_id", "expected an integer topic id")
        self.message_thread_id = message_thread_id
        names = c.string_list("mention_usernames", mention_usernames)
        for i, item in enumerate(names):
            if not _USERNAME.match(item):
                raise ConfigError(f"mention_usernames[{i}]", f"expected a Telegram @username, got {item!r}")
        self.mention_usernames = [n.lstrip("@") for n in names]
        self.mention_min_severity = check_severity("mention_min_severity", mention_min_severity)
        self.silent_below = check_severity("silent_below", silent_below)
        self.send_images = c.flag("send_images", send_images)

    def _endpoint(self, method: str = "sendMessage") -> str:
        return f"{self.api_url}/bot{self._token.get()}/{method}"

    def build_payload(self, notification: Notification, ctx: SendContext) -> dict[str, Any]:
        """The ``sendMessage`` body: HTML text ≤ 4096 UTF-16 units, previews off."""
        title = _chat.title_line(ctx, self.type, notification)
        body = _chat.render(ctx, self.type, notification, "body.j2", _chat.TELEGRAM)
        users = self.mention_usernames if _chat.mentions_due(notification, self.mention_min_severity) else []
        tail = ("\n\n" + " ".join(f"@{u}" for u in users)) if users else ""
        head = f"<b>{_chat.html_escape(_chat.cut_utf16(title, 300))}</b>\n\n"
        text = head + _chat.cut_html(body, MAX_TEXT - _chat.utf16_len(head + tail)) + tail
        payload: dict[str, Any] = {
            "chat_id": self.chat_id,
            "text": text,
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": True},
            "disable_notification": notification.severity < self.silent_below and not users,
        }
        if self.message_thread_id is not None:
            payload["message_thread_id"] = self.message_thread_id
        return payload

    def send(self, notification: Notification, ctx: SendContext) -> Outcome:
        payload = self.build_payload(notification, ctx)
        outcome = c.attempt(lambda: _chat.post(ctx, self._endpoint(), payload), classify_response)
        if outcome.verdict == "delivered":
            self._send_photos(notification, ctx)
        return outcome

    def photos(self, notification: Notification) -> list[Any]:
        """The image attachments sent with ``sendPhoto`` (PNG/JPEG ≤ 10 MB)."""
        if not self.send_images:
            return []
        return [a for a in notification.attachments if a.content_type in PHOTO_TYPES and len(a.data) <= MAX_PHOTO_BYTES]

    def messages_per_send(self, notification: Notification) -> int:
        """The text plus one message per photo (the rate-limit cost)."""
        return 1 + len(self.photos(notification))

    def _send_photos(self, notification: Notification, ctx: SendContext) -> None:
        # The text already arrived: a failed photo is logged, not retried (a retry would repeat the text).
        for photo in self.photos(notification):
            data = {"chat_id": str(self.chat_id), "disable_notification": "true"}
            if self.message_thread_id is not None:
                data["message_thread_id"] = str(self.message_thread_id)
            files = {"photo": (photo.filename, photo.data, photo.content_type)}
            request = functools.partial(c.post, ctx, self._endpoint("sendPhoto"), data=data, files=files)
            outcome = c.attempt(request, classify_response)
            if outcome.verdict != "delivered":
                logger.warning("telegram %s: photo %s not sent: %s", self.name, photo.filename, outcome.reason)

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out.update(
            bot_token="***",
            chat_id=self.chat_id,
            api_url=redact_url(self.api_url) if self.api_url != DEFAULT_API_URL else DEFAULT_API_URL,
            mention_usernames=list(self.mention_usernames),
            mention_min_severity=str(self.mention_min_severity),
            send_images=self.send_images,
        )
        return out


def classify_response(status: int, headers: Any, text: str) -> Outcome:
    """``ok: true`` delivered; 429 waits ``parameters.retry_after``; 5xx retry;
    400/401/403/404 permanent (a migrated group names its new chat id)."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        if 200 <= status < 300:
            return Outcome.retry(f"Telegram: HTTP {status} without a JSON answer (proxy?)")
        return classify_http(status, headers, text)
    if data.get("ok") is True and 200 <= status < 300:
        return Outcome.delivered()
    raw_code = data.get("error_code")
    code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else status
    description = str(data.get("description") or "")[:200]
    raw_params = data.get("parameters")
    params: dict[str, Any] = raw_params if isinstance(raw_params, dict) else {}
    if code == 429:
        wait = params.get("retry_after")
        seconds = float(wait) if isinstance(wait, (int, float)) and not isinstance(wait, bool) and wait >= 0 else None
        return Outcome.retry(f"Telegram 429: {description or 'too many requests'}", seconds)
    if code >= 500:
        return Outcome.retry(f"Telegram {code}: {description}")
    if "migrate_to_chat_id" in params:
        return Outcome.permanent(f"Telegram {code}: {description}; set chat_id = {params['migrate_to_chat_id']}")
    return Outcome.permanent(f"Telegram {code}: {description or 'error'}")
