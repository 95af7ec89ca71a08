"""Feishu (飞书) and Lark custom bots: an interactive card coloured by severity.

Feishu answers HTTP 200 (400 for a bad body) with ``code`` in the body; success is
``code == 0``. With a ``secret`` the body carries ``timestamp`` (epoch seconds) and
``sign = base64(HMAC-SHA256(key=timestamp + "\\n" + secret, msg=""))``. The body must
stay within 20,000 bytes: the card's markdown is cut to fit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any, ClassVar

from alertcb.channels import _chat
from alertcb.channels import _http as c
from alertcb.channels.base import (
    Channel,
    Notification,
    Outcome,
    SendContext,
    classify_http,
)
from alertcb.redact import Secret, redact_url
from alertcb.validate import check_severity

MAX_BODY_BYTES = 20_000
RATE_LIMITED = 11232
PERMANENT_CODES = {
    19021: "signature check failed or timestamp more than 1 h off",
    19024: "keyword missing from the message",
    19022: "IP address not allowed",
    19001: "invalid webhook (bot removed?)",
    9499: "bad or oversized request body",
}
TEMPLATE_COLOR = {"critical": "red", "warning": "orange", "info": "blue", "resolved": "green"}


class Feishu(Channel):
    """Sends alerts to a Feishu group's custom bot as an interactive card.

    Args:
        webhook_url: the bot's URL (``https://open.feishu.cn/open-apis/bot/v2/hook/<id>``)
            or a proxy/test endpoint. A secret.
        secret: the signing secret ("签名校验"). A secret.
        keyword: a keyword the bot requires ("自定义关键词"); prepended to the card title.
        mention_user_ids: open_ids (``ou_…``) to @-mention from ``mention_min_severity`` up.
        mention_all_on_critical: @all on firing critical alerts. Defaults to False.
        mention_min_severity: the least severity that mentions ``mention_user_ids``.
            Defaults to ``"critical"``; resolved alerts never mention.
        allow_insecure_http: allow ``http://`` to a non-loopback host. Defaults to False.
        name, min_severity, kinds, rate_limit_per_min: see `Channel`.

    Example:
        >>> Feishu(webhook_url=os.environ["FEISHU_HOOK"], secret=os.environ["FEISHU_SECRET"])  # doctest: +SKIP
    """

    type: ClassVar[str] = "feishu"
    #: 100 a minute and 5 a second per bot.
    default_rate_limit_per_min: ClassVar[float | None] = 100
    default_burst: ClassVar[int] = 5

    def __init__(
        self,
        *,
        webhook_url: str | Secret,
        secret: str | Secret | None = None,
        keyword: str | None = None,
        mention_user_ids: list[str] | None = None,
        mention_all_on_critical: bool = False,
        mention_min_severity: str = "critical",
        allow_insecure_http: bool = False,
        name: str | None = None,
        min_severity: str = "info",
        kinds: list[str] | None = None,
        rate_limit_per_min: float | None = None,
    ) -> None:
        super().__init__(name=name, min_severity=min_severity, kinds=kinds, rate_limit_per_min=rate_limit_per_min)
        url = c.webhook_endpoint("webhook_url", webhook_url, allow_insecure_http=allow_insecure_http)
        hook_id = url.get().rstrip("/").rsplit("/", 1)[-1]
        if len(hook_id) >= 8:
            Secret(hook_id)  # the hook id is the credential
        self._url = url
        self._secret = c.secret("secret", secret, required=False)
        self.keyword = c.string("keyword", keyword) if keyword is not None else None
        self.mention_user_ids = c.string_list("mention_user_ids", mention_user_ids)
        self.mention_all_on_critical = c.flag("mention_all_on_critical", mention_all_on_critical)
        self.mention_min_severity = check_severity("mention_min_severity", mention_min_severity)

    def signature(self, now_s: int | None = None) -> dict[str, str]:
        """``{"timestamp", "sign"}`` for the body (empty without a secret)."""
        if self._secret is None:
            return {}
        timestamp = str(int(time.time()) if now_s is None else now_s)
        return {"timestamp": timestamp, "sign": sign(self._secret.get(), timestamp)}

    def mention_markup(self, notification: Notification) -> str:
        ids = list(self.mention_user_ids) if _chat.mentions_due(notification, self.mention_min_severity) else []
        if _chat.all_due(notification, self.mention_all_on_critical):
            ids.append("all")
        return " ".join(f"<at id={i}></at>" for i in ids)

    def build_payload(self, notification: Notification, ctx: SendContext, now_s: int | None = None) -> dict[str, Any]:
        """The JSON body: ``msg_type: interactive`` with a header coloured by severity, ≤ 20,000 bytes."""
        title = _chat.title_line(ctx, self.type, notification)
        if self.keyword:
            title = f"{self.keyword} {title}"
        body = _chat.render(ctx, self.type, notification, "body.j2", _chat.LARK)
        mentions = self.mention_markup(notification)
        payload: dict[str, Any] = {
            **self.signature(now_s),
            "msg_type": "interactive",
            "card": {
                "config": {"wide_screen_mode": True},
                "header": {
                    "template": TEMPLATE_COLOR[_chat.color_key(notification)],
                    "title": {"tag": "plain_text", "content": _chat.cut_utf16(title, 200)},
                },
                "elements": [{"tag": "markdown", "content": ""}],
            },
        }
        element = payload["card"]["elements"][0]
        tail = f"\n\n{mentions}" if mentions else ""
        element["content"] = body + tail
        over = len(_chat.dumps(payload)) - MAX_BODY_BYTES
        if over > 0:  # cut the markdown by the overshoot (escaped JSON is never shorter than the text)
            room = max(0, len(body.encode("utf-8")) - over - 16)
            element["content"] = _chat.cut_markdown(body, room, _utf8_len) + tail
            while len(_chat.dumps(payload)) > MAX_BODY_BYTES and room > 0:
                room = max(0, room - 256)
                element["content"] = _chat.cut_markdown(body, room, _utf8_len) + tail
        return payload

    def send(self, notification: Notification, ctx: SendContext) -> Outcome:
        payload = self.build_payload(notification, ctx)
        service = _service(self.type)
        return c.attempt(
            lambda: _chat.post(ctx, self._url.get(), payload),
            lambda status, headers, text: classify_response(status, headers, text, service=service),
        )

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out.update(
            webhook_url=redact_url(self._url.get()),
            signed=self._secret is not None,
            keyword=self.keyword,
            mention_user_ids=list(self.mention_user_ids),
            mention_all_on_critical=self.mention_all_on_critical,
            mention_min_severity=str(self.mention_min_severity),
        )
        return out


class Lark(Feishu):
    """Feishu's international edition (``https://open.larksuite.com/open-apis/bot/v2/hook/<id>``).

    Same API, signing and limits as `Feishu`; see its arguments.
    """

    type: ClassVar[str] = "lark"


def _service(kind: str) -> str:
    return "Lark" if kind == "lark" else "Feishu"


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def sign(secret: str, timestamp: str) -> str:
    """``base64(HMAC-SHA256(key=timestamp + "\\n" + secret, msg=""))``."""
    digest = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def classify_response(status: int, headers: Any, text: str, service: str = "Feishu") -> Outcome:
    """Classify a Feishu/Lark answer on ``code`` (``StatusCode`` in legacy answers), not the status."""
    try:
        data = json.loads(text)
        code = int(data["code"] if "code" in data else data["StatusCode"])
    except (ValueError, KeyError, TypeError, AttributeError):
        if status != 200:
            return classify_http(status, headers, text)
        return Outcome.retry(f"{service}: HTTP 200 without a code (proxy or outage?)")
    if code == 0:
        return Outcome.delivered() if 200 <= status < 300 else classify_http(status, headers, text)
    message = str(data.get("msg") or data.get("StatusMessage") or "")[:120]
    detail = f" ({message})" if message else ""
    if code == RATE_LIMITED:
        return Outcome.retry(f"{service} code {code}: rate limited (100/min, 5/s per bot){detail}")
    if status >= 500:
        return classify_http(status, headers, text)
    return Outcome.permanent(f"{service} code {code}: {PERMANENT_CODES.get(code, 'unknown error')}{detail}")
