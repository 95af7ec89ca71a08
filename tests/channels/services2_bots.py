"""Stand-ins for Discord's webhook and Telegram's Bot API (see tests/channels/services2.py)."""

from __future__ import annotations

import html.parser
import json
import urllib.parse
from typing import Any

from tests.conftest_services import Reply, Request, SlidingWindow, StandIn

DISCORD_ID = "112233445566778899"
DISCORD_TOKEN = "CANARYsecret7f3a9cDiscordToken0000"
TELEGRAM_TOKEN = "123456789:CANARYsecret7f3a9cTelegramTok"
TELEGRAM_CHAT = "-1001234567890"
JSON = {"Content-Type": "application/json"}


def parse_multipart(request: Request) -> dict[str, tuple[str | None, bytes]]:
    """A multipart/form-data body as ``{field: (filename, bytes)}`` ({} when it is not one)."""
    import email.parser
    import email.policy

    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        return {}
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + request.body
    )
    out: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        out[str(name)] = (part.get_filename(), part.get_payload(decode=True) or b"")
    return out


def _json(request: Request) -> Any:
    try:
        return json.loads(request.body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


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
        self.files: list[dict[str, bytes]] = []  # uploads of each accepted message
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
        form = parse_multipart(request)
        files = {k: v for k, v in form.items() if k.startswith("files[")}
        body = json.loads(form["payload_json"][1]) if "payload_json" in form else _json(request)
        if sum(len(data) for _, data in files.values()) > 10 * 1024 * 1024:
            return Reply(413, JSON, {"message": "Request entity too large", "code": 40005})
        if not isinstance(body, dict):
            return Reply(400, JSON, {"message": "Cannot send an empty message", "code": 50006})
        names = {name for name, _ in files.values()}
        for embed in body.get("embeds") or []:
            url = (embed.get("image") or {}).get("url", "")
            if url.startswith("attachment://") and url[len("attachment://"):] not in names:
                return Reply(400, JSON, {"message": "Invalid Form Body", "code": 50035, "errors": {"embeds.image": "unknown attachment"}})
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
            self.files.append({name or "": data for name, data in files.values()})
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
        self.photos: list[bytes] = []

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
        method = path.rsplit("/", 1)[-1]
        if not path.startswith("/bot") or method not in ("sendMessage", "sendPhoto") or ":" not in path:
            return self._error(404, "Not Found")
        if path != f"/bot{self.token}/{method}":
            return self._error(401, "Unauthorized")
        if method == "sendPhoto":
            return self.send_photo(request)
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

    def send_photo(self, request: Request) -> Reply:
        form = parse_multipart(request)
        if form.get("chat_id", (None, b""))[1].decode() != self.chat_id:
            return self._error(400, "Bad Request: chat not found")
        photo = form.get("photo", (None, b""))[1]
        if len(photo) > 10 * 1024 * 1024:
            return self._error(400, "Bad Request: file is too big")
        if not (photo.startswith(b"\x89PNG\r\n\x1a\n") or photo.startswith(b"\xff\xd8\xff")):
            return self._error(400, "Bad Request: IMAGE_PROCESS_FAILED")
        with self.lock:
            if not self.window.allow(request.time):
                return self._error(429, "Too Many Requests: retry after 3", retry_after=3)
            self.photos.append(photo)
        return Reply(200, JSON, {"ok": True, "result": {"message_id": 1, "photo": [{"file_id": "x"}]}})
