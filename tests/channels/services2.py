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
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.channels.services2_bots import (  # noqa: F401 - re-exported: one import for every stand-in
    DISCORD_ID,
    DISCORD_TOKEN,
    TELEGRAM_CHAT,
    TELEGRAM_TOKEN,
    DiscordStandIn,
    TelegramStandIn,
    parse_telegram_html,
)
from tests.conftest_services import Reply, Request, SlidingWindow, StandIn

DINGTALK_TOKEN = "CANARYsecret7f3a9cDingTalkToken00"
DINGTALK_SECRET = "SECCANARYsecret7f3a9c0123456789"
FEISHU_HOOK = "CANARYsecret7f3a9c-feishu-hook-0000"
FEISHU_SECRET = "CANARYsecret7f3a9c-feishu-sign"
TEAMS_SIG = "CANARYsecret7f3a9cTeamsSig000000"

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
