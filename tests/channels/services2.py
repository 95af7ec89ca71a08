"""Strict loopback stand-ins for DingTalk, Feishu/Lark, Teams (Workflows), Discord and Telegram.

Built from ../shared/SERVICES-2.md: each verifies what the real service verifies (signature,
keyword, token), enforces its size and rate limits, and answers with the service's own
error codes (HTTP 200 + errcode for DingTalk, ``code`` for Feishu, ``error_code`` for
Telegram…). Fault injection (``fail_next``/``fail_for``) comes from `StandIn`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html.parser
import json
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest_services import Reply, Request, SlidingWindow, StandIn

DINGTALK_TOKEN = "CANARYsecret7f3a9cDingTalkToken00"
DINGTALK_SECRET = "SECCANARYsecret7f3a9c0123456789"
FEISHU_HOOK = "CANARYsecret7f3a9c-feishu-hook-0000"
FEISHU_SECRET = "CANARYsecret7f3a9c-feishu-sign"
TEAMS_SIG = "CANARYsecret7f3a9cTeamsSig000000"
DISCORD_ID = "112233445566778899"
DISCORD_TOKEN = "CANARYsecret7f3a9cDiscordToken0000"
TELEGRAM_TOKEN = "123456789:CANARYsecret7f3a9cTelegramTok"
TELEGRAM_CHAT = "-1001234567890"

JSON = {"Content-Type": "application/json"}


def _json(request: Request) -> Any:
    try:
        return json.loads(request.body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


# ---------------------------------------------------------------- DingTalk
class DingTalkError:
    """Fault: HTTP 200 with this errcode (DingTalk's way of failing)."""

    def __init__(self, errcode: int, errmsg: str = "injected") -> None:
        self.errcode, self.errmsg = errcode, errmsg

    def __call__(self, request: Request) -> Reply:
        return Reply(200, JSON, {"errcode": self.errcode, "errmsg": self.errmsg})


class DingTalkStandIn(StandIn):
    """DingTalk custom robot: HTTP 200 always, ``errcode`` decides.

    Checks the token (300005/40035), Content-Type (43004), signature and 1-h timestamp
    window (310000 ``sign not match`` / ``invalid timestamp``), keyword (310000
    ``keywords not in content``), msgtype (400105), markdown title (400402), ≈ 20,000
    bytes (460101) and 20 messages a minute, then ``throttle_s`` throttled (130101).
    """

    PATH = "/robot/send"

    def __init__(self, token: str = DINGTALK_TOKEN, secret: str | None = None, keyword: str | None = None,
                 rate_limit: int = 20, window_s: float = 60.0, throttle_s: float = 600.0) -> None:
        super().__init__()
        self.token, self.secret, self.keyword = token, secret, keyword
        self.window = SlidingWindow(rate_limit, window_s)
        self.throttle_s = throttle_s
        self.throttled_until = 0.0
        self.errcodes: list[int] = []
        self.clock = time.time

    @property
    def url(self) -> str:
        return f"{self.base_url}{self.PATH}?access_token={self.token}"

    def respond(self, request: Request) -> Reply:
        code, message = self.check(request)
        with self.lock:
            self.errcodes.append(code)
        if code == 0:
            self.accept(_json(request), request)
        return Reply(200, JSON, {"errcode": code, "errmsg": message})

    def check(self, request: Request) -> tuple[int, str]:
        token = request.query.get("access_token")
        if request.path != self.PATH or token is None:
            return 40035, "缺少参数 access_token"
        if token != self.token:
            return 300005, "token is not exist"
        if not request.headers.get("content-type", "").startswith("application/json"):
            return 43004, "无效的HTTP HEADER Content-Type"
        if self.secret is not None:
            timestamp, signature = request.query.get("timestamp", ""), request.query.get("sign", "")
            try:
                skew = abs(self.clock() * 1000 - int(timestamp))
            except ValueError:
                return 310000, "invalid timestamp"
            if skew > 3600 * 1000:
                return 310000, "invalid timestamp"
            digest = hmac.new(self.secret.encode(), f"{timestamp}\n{self.secret}".encode(), hashlib.sha256).digest()
            # request.query is already URL-decoded once: an unencoded "+" arrives as a space
            if not hmac.compare_digest(base64.b64encode(digest).decode(), signature):
                return 310000, "sign not match"
        body = _json(request)
        if not isinstance(body, dict):
            return 400105, "不支持的消息类型"
        if len(request.body) > 20_000:
            return 460101, "message too long"
        msgtype = body.get("msgtype")
        if msgtype not in ("text", "markdown", "link", "actionCard", "feedCard") or not isinstance(body.get(msgtype), dict):
            return 400105, "不支持的消息类型"
        part = body[msgtype]
        if msgtype == "markdown":
            if not isinstance(part.get("title"), str) or not part["title"]:
                return 400402, "缺少参数 title"
            if not isinstance(part.get("text"), str) or not part["text"]:
                return 400402, "缺少参数 text"
            content = part["title"] + part["text"]
        elif msgtype == "text":
            if not isinstance(part.get("content"), str) or not part["content"]:
                return 400402, "缺少参数 content"
            content = part["content"]
        else:
            content = json.dumps(part, ensure_ascii=False)
        at = body.get("at", {})
        if not isinstance(at, dict) or not all(
            isinstance(at.get(k, []), list) for k in ("atMobiles", "atUserIds")
        ) or not isinstance(at.get("isAtAll", False), bool):
            return 400402, "invalid at"
        if self.keyword is not None and self.keyword not in content:
            return 310000, "keywords not in content"
        with self.lock:
            if request.time < self.throttled_until:
                return 130101, "send too fast, exceed 20 times per minute"
            if not self.window.allow(request.time):
                self.throttled_until = request.time + self.throttle_s
                return 130101, "send too fast, exceed 20 times per minute"
        return 0, "ok"

    @staticmethod
    def pinged(payload: dict[str, Any]) -> list[str]:
        """Who DingTalk would notify: @all, and each atMobiles/atUserIds entry written as @x in the text."""
        at = payload.get("at", {})
        text = payload.get("markdown", {}).get("text", "") or payload.get("text", {}).get("content", "")
        out = ["@all"] if at.get("isAtAll") else []
        return out + [m for m in at.get("atMobiles", []) + at.get("atUserIds", []) if f"@{m}" in text]


# ---------------------------------------------------------------- Feishu / Lark
class FeishuError:
    """Fault: this ``code`` (HTTP 200, or 400 for 9499)."""

    def __init__(self, code: int, msg: str = "injected") -> None:
        self.code, self.msg = code, msg

    def __call__(self, request: Request) -> Reply:
        return Reply(400 if self.code == 9499 else 200, JSON, {"code": self.code, "msg": self.msg, "data": {}})


class FeishuStandIn(StandIn):
    """Feishu/Lark custom bot: ``code`` decides.

    Checks the hook id (19001), body ≤ 20,000 bytes and valid JSON (HTTP 400, 9499),
    signature in the body and its 1-h window (19021), keyword (19024), the message
    shape (9499) and 100/min + 5/s (11232).
    """

    def __init__(self, hook: str = FEISHU_HOOK, secret: str | None = None, keyword: str | None = None,
                 per_min: int = 100, per_s: int = 5) -> None:
        super().__init__()
        self.hook, self.secret, self.keyword = hook, secret, keyword
        self.minute = SlidingWindow(per_min, 60.0)
        self.second = SlidingWindow(per_s, 1.0)
        self.codes: list[int] = []
        self.clock = time.time

    @property
    def url(self) -> str:
        return f"{self.base_url}/open-apis/bot/v2/hook/{self.hook}"

    def respond(self, request: Request) -> Reply:
        code, message = self.check(request)
        with self.lock:
            self.codes.append(code)
        if code == 0:
            self.accept(_json(request), request)
            return Reply(200, JSON, {"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"})
        return Reply(400 if code == 9499 else 200, JSON, {"code": code, "data": {}, "msg": message})

    def check(self, request: Request) -> tuple[int, str]:
        if request.path != f"/open-apis/bot/v2/hook/{self.hook}":
            return 19001, "param invalid: incoming webhook access token invalid"
        if len(request.body) > 20_000:
            return 9499, "Bad Request: request body too large"
        body = _json(request)
        if not isinstance(body, dict):
            return 9499, "Bad Request"
        if self.secret is not None:
            timestamp, signature = body.get("timestamp"), body.get("sign")
            try:
                skew = abs(self.clock() - int(str(timestamp)))
            except ValueError:
                return 19021, "sign match fail or timestamp is not within one hour from current time"
            expected = base64.b64encode(hmac.new(f"{timestamp}\n{self.secret}".encode(), b"", hashlib.sha256).digest()).decode()
            if skew > 3600 or not isinstance(signature, str) or not hmac.compare_digest(expected, signature):
                return 19021, "sign match fail or timestamp is not within one hour from current time"
        msg_type = body.get("msg_type")
        if msg_type == "interactive":
            card = body.get("card")
            if not isinstance(card, dict) or not isinstance(card.get("elements", []), list):
                return 9499, "Bad Request: card"
            header = card.get("header", {})
            if header and header.get("template") not in (None, "blue", "wathet", "turquoise", "green", "yellow", "orange",
                                                        "red", "carmine", "violet", "purple", "indigo", "grey", "default"):
                return 9499, "Bad Request: header template"
            texts = [str((header.get("title") or {}).get("content", ""))] + [
                str(e.get("content", "")) + str((e.get("text") or {}).get("content", "")) for e in card.get("elements", [])
                if isinstance(e, dict)
            ]
        elif msg_type == "text":
            texts = [str((body.get("content") or {}).get("text", ""))]
        elif msg_type == "post":
            texts = [json.dumps(body.get("content"), ensure_ascii=False)]
        else:
            return 9499, "Bad Request: msg_type"
        if self.keyword is not None and not any(self.keyword in t for t in texts):
            return 19024, "Key Words Not Found"
        with self.lock:
            if not (self.second.allow(request.time) and self.minute.allow(request.time)):
                return 11232, "frequency limited psm[lark.oapi.app_platform_runtime]appID[0]"
        return 0, "success"


# ---------------------------------------------------------------- Teams (Workflows)
class TeamsStandIn(StandIn):
    """A Teams Workflows trigger: 202 with an empty body once queued.

    401 ``DirectApiAuthorizationRequired`` without the right ``sig``; 404 for another
    flow; 400 for a body that is not a ``message`` with Adaptive Cards; 429 + Retry-After
    past ``per_s`` a second. Like the real flow, an oversized card (> 28,672 bytes) is
    queued (202) and then silently not posted: ``posted`` lists what reached the channel.
    """

    FLOW = "/workflows/0a1b2c3d4e5f/triggers/manual/paths/invoke"

    def __init__(self, sig: str = TEAMS_SIG, per_s: int = 4) -> None:
        super().__init__()
        self.sig = sig
        self.window = SlidingWindow(per_s, 1.0)
        self.posted: list[Any] = []
        self.dropped: list[str] = []

    @property
    def url(self) -> str:
        return f"{self.base_url}{self.FLOW}?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={self.sig}"

    def respond(self, request: Request) -> Reply:
        if request.path != self.FLOW:
            return Reply(404, JSON, {"error": {"code": "WorkflowNotFound", "message": "The workflow could not be found."}})
        if request.query.get("sig") != self.sig or request.query.get("sv") != "1.0":
            return Reply(401, JSON, {"error": {"code": "DirectApiAuthorizationRequired", "message": "unauthorised"}})
        body = _json(request)
        problem = self.validate(body)
        if problem:
            return Reply(400, JSON, {"error": {"code": "TriggerInputSchemaMismatch", "message": problem}})
        with self.lock:
            if not self.window.allow(request.time):
                return Reply(429, {"Retry-After": "1", **JSON}, {"error": {"code": "TooManyRequests"}})
        self.accept(body, request)
        with self.lock:
            if len(request.body) > 28_672:
                self.dropped.append(f"{len(request.body)} bytes")
            else:
                self.posted.append(body)
        return Reply(202, {}, b"")

    @staticmethod
    def validate(body: Any) -> str:
        if not isinstance(body, dict) or body.get("type") != "message":
            return "expected type 'message'"
        attachments = body.get("attachments")
        if not isinstance(attachments, list) or not attachments:
            return "expected attachments"
        for item in attachments:
            content = item.get("content") if isinstance(item, dict) else None
            if item.get("contentType") != "application/vnd.microsoft.card.adaptive" or not isinstance(content, dict):
                return "expected an Adaptive Card attachment"
            if content.get("type") != "AdaptiveCard" or content.get("version") not in ("1.0", "1.2", "1.3", "1.4", "1.5"):
                return "expected AdaptiveCard version ≤ 1.5"
            for block in content.get("body", []):
                if not isinstance(block, dict) or not isinstance(block.get("type"), str):
                    return "bad card element"
                if block["type"] == "TextBlock" and not isinstance(block.get("text"), str):
                    return "TextBlock without text"
            entities = (content.get("msteams") or {}).get("entities", [])
            texts = " ".join(b.get("text", "") for b in content.get("body", []))
            for entity in entities:
                if entity.get("type") == "mention" and entity.get("text") not in texts:
                    return "mention text not in the card"
        return ""

    @staticmethod
    def pinged(body: dict[str, Any]) -> list[str]:
        card = body["attachments"][0]["content"]
        return [e["mentioned"]["id"] for e in (card.get("msteams") or {}).get("entities", []) if e.get("type") == "mention"]


# ---------------------------------------------------------------- Discord
class DiscordStandIn(StandIn):
    """A Discord webhook: 200 + the message with ``wait=true`` (204 without).

    404 ``10015`` for another webhook, 401 ``50027`` for a wrong token, 400 ``50006`` for
    an empty message and ``50035`` for any broken limit (content 2000, ≤ 10 embeds, title
    256, description 4096, footer 2048, 6000 in all, username 80 without "discord"/"clyde");
    a bucket of ``per_window`` requests per ``window_s`` answered by 429 with
    ``retry_after`` (float seconds) and Retry-After. ``pings`` records whom each accepted
    message would notify, resolved the way Discord resolves ``allowed_mentions``.
    """

    def __init__(self, webhook_id: str = DISCORD_ID, token: str = DISCORD_TOKEN, per_window: int = 5, window_s: float = 2.0) -> None:
        super().__init__()
        self.webhook_id, self.token = webhook_id, token
        self.window = SlidingWindow(per_window, window_s)
        self.window_s = window_s
        self.pings: list[list[str]] = []
        self.without_wait = 0

    @property
    def url(self) -> str:
        return f"{self.base_url}/api/webhooks/{self.webhook_id}/{self.token}"

    def respond(self, request: Request) -> Reply:
        parts = request.path.strip("/").split("/")
        if len(parts) != 4 or parts[:2] != ["api", "webhooks"] or parts[2] != self.webhook_id:
            return Reply(404, JSON, {"message": "Unknown Webhook", "code": 10015})
        if parts[3] != self.token:
            return Reply(401, JSON, {"message": "Invalid Webhook Token", "code": 50027})
        body = _json(request)
        if not isinstance(body, dict):
            return Reply(400, JSON, {"message": "Cannot send an empty message", "code": 50006})
        if not body.get("content") and not body.get("embeds"):
            return Reply(400, JSON, {"message": "Cannot send an empty message", "code": 50006})
        errors = self.validate(body)
        if errors:
            return Reply(400, JSON, {"message": "Invalid Form Body", "code": 50035, "errors": errors})
        with self.lock:
            if not self.window.allow(request.time):
                wait = round(self.window_s / 2, 3)
                return Reply(429, {"Retry-After": str(max(1, int(wait))), **JSON},
                             {"message": "You are being rate limited.", "retry_after": wait, "global": False})
            self.pings.append(self.resolve_pings(body))
        self.accept(body, request)
        if request.query.get("wait") != "true":
            with self.lock:
                self.without_wait += 1
            return Reply(204, {}, b"")
        return Reply(200, JSON, {"id": "1", "type": 0, "content": body.get("content", ""), "embeds": body.get("embeds", [])})

    @staticmethod
    def validate(body: dict[str, Any]) -> dict[str, str]:
        errors: dict[str, str] = {}
        if len(body.get("content") or "") > 2000:
            errors["content"] = "Must be 2000 or fewer in length."
        username = body.get("username")
        if username is not None and (len(username) > 80 or any(w in username.lower() for w in ("discord", "clyde"))):
            errors["username"] = "Username cannot contain 'discord' or 'clyde' and must be ≤ 80"
        embeds = body.get("embeds") or []
        if len(embeds) > 10:
            errors["embeds"] = "Must be 10 or fewer in length."
        total = 0
        for i, embed in enumerate(embeds):
            for key, limit in (("title", 256), ("description", 4096)):
                value = embed.get(key) or ""
                total += len(value)
                if len(value) > limit:
                    errors[f"embeds.{i}.{key}"] = f"Must be {limit} or fewer in length."
            footer = (embed.get("footer") or {}).get("text") or ""
            total += len(footer)
            if len(footer) > 2048:
                errors[f"embeds.{i}.footer.text"] = "Must be 2048 or fewer in length."
            fields = embed.get("fields") or []
            if len(fields) > 25:
                errors[f"embeds.{i}.fields"] = "Must be 25 or fewer in length."
            for field in fields:
                total += len(field.get("name", "")) + len(field.get("value", ""))
            if not isinstance(embed.get("color", 0), int):
                errors[f"embeds.{i}.color"] = "Not an integer."
        if total > 6000:
            errors["embeds"] = "Embed size exceeds maximum size of 6000"
        return errors

    @staticmethod
    def resolve_pings(body: dict[str, Any]) -> list[str]:
        """Who would be notified: only ``content`` pings, filtered by ``allowed_mentions``."""
        import re

        content = body.get("content") or ""
        allowed = body.get("allowed_mentions")
        parse = ["users", "roles", "everyone"] if allowed is None else list(allowed.get("parse", []))
        users = [] if allowed is None else list(allowed.get("users", []))
        roles = [] if allowed is None else list(allowed.get("roles", []))
        out = []
        if "everyone" in parse:
            out += re.findall(r"@(everyone|here)", content)
        for uid in re.findall(r"<@!?(\d+)>", content):
            if "users" in parse or uid in users:
                out.append(f"user:{uid}")
        for rid in re.findall(r"<@&(\d+)>", content):
            if "roles" in parse or rid in roles:
                out.append(f"role:{rid}")
        return out


# ---------------------------------------------------------------- Telegram
_TG_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "blockquote", "tg-spoiler", "span", "tg-emoji"}


class _TelegramHTML(html.parser.HTMLParser):
    """Parses Telegram's HTML subset strictly; ``error`` is Telegram's message for bad markup."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.text: list[str] = []
        self.error = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _TG_TAGS:
            self.error = self.error or f"Unsupported start tag \"{tag}\""
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.error = self.error or f"Unmatched end tag \"{tag}\""
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if "<" in data or ">" in data:
            self.error = self.error or "Unexpected character"
        self.text.append(data)

    def handle_entityref(self, name: str) -> None:
        if name not in ("lt", "gt", "amp", "quot"):
            self.error = self.error or f"Unsupported entity \"{name}\""
        self.text.append(html.unescape(f"&{name};"))

    def handle_charref(self, name: str) -> None:
        self.text.append(html.unescape(f"&#{name};"))


def parse_telegram_html(text: str) -> tuple[str, str]:
    """``(visible text, error)`` as Telegram's parser would give them."""
    import re

    if re.search(r"&(?!(?:[a-z]+|#\d+|#x[0-9a-f]+);)", text, re.I):
        return "", "Can't find end of the entity"
    parser = _TelegramHTML()
    parser.feed(text)
    parser.close()
    if not parser.error and parser.stack:
        parser.error = f"Can't find end tag corresponding to start tag \"{parser.stack[-1]}\""
    return "".join(parser.text), parser.error


class TelegramStandIn(StandIn):
    """The Bot API's ``sendMessage``: ``{"ok": true, "result": …}`` or ``{"ok": false, "error_code", "description"}``.

    404 for a malformed path, 401 for another token, 400 ``chat not found``, ``message text
    is empty``, ``can't parse entities`` (strict HTML), ``message is too long`` (> 4096 UTF-16
    units of visible text); 429 with ``parameters.retry_after`` past ``per_min`` a minute.
    """

    def __init__(self, token: str = TELEGRAM_TOKEN, chat_id: str = TELEGRAM_CHAT, per_min: int = 20) -> None:
        super().__init__()
        self.token, self.chat_id = token, chat_id
        self.window = SlidingWindow(per_min, 60.0)
        self.visible: list[str] = []

    @property
    def api_url(self) -> str:
        return self.base_url

    @staticmethod
    def _error(code: int, description: str, **parameters: Any) -> Reply:
        body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if parameters:
            body["parameters"] = parameters
        return Reply(code, JSON, body)

    def respond(self, request: Request) -> Reply:
        path = urllib.parse.unquote(request.path)
        if not path.startswith("/bot") or not path.endswith("/sendMessage") or ":" not in path:
            return self._error(404, "Not Found")
        if path != f"/bot{self.token}/sendMessage":
            return self._error(401, "Unauthorized")
        body = _json(request)
        if not isinstance(body, dict):
            return self._error(400, "Bad Request: message text is empty")
        if str(body.get("chat_id")) != self.chat_id:
            return self._error(400, "Bad Request: chat not found")
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            return self._error(400, "Bad Request: message text is empty")
        visible = text
        if body.get("parse_mode") == "HTML":
            visible, error = parse_telegram_html(text)
            if error:
                return self._error(400, f"Bad Request: can't parse entities: {error}")
        if len(visible.encode("utf-16-le", "surrogatepass")) // 2 > 4096:
            return self._error(400, "Bad Request: message is too long")
        with self.lock:
            if not self.window.allow(request.time):
                return self._error(429, "Too Many Requests: retry after 3", retry_after=3)
            self.visible.append(visible)
        self.accept(body, request)
        return Reply(200, JSON, {"ok": True, "result": {"message_id": len(self.accepted), "chat": {"id": int(self.chat_id)}, "text": visible}})


# ---------------------------------------------------------------- fixtures
@pytest.fixture
def dingtalk_server() -> Iterator[DingTalkStandIn]:
    server = DingTalkStandIn(secret=DINGTALK_SECRET, keyword="训练")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def feishu_server() -> Iterator[FeishuStandIn]:
    server = FeishuStandIn(secret=FEISHU_SECRET, keyword="alertcb")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def teams_server() -> Iterator[TeamsStandIn]:
    server = TeamsStandIn()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def discord_server() -> Iterator[DiscordStandIn]:
    server = DiscordStandIn()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def telegram_server() -> Iterator[TelegramStandIn]:
    server = TelegramStandIn()
    server.start()
    yield server
    server.stop()
