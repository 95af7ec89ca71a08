"""Text helpers shared by the chat channels (DingTalk, Feishu/Lark, Teams, Discord, Telegram, apprise).

Each service has its own markup, so the channel hands its templates a small set of
markup functions (`Markup`): ``esc`` (user text, escaped *and* defanged so it can never
mention anyone), ``b`` (bold), ``code`` (inline code), ``pre`` (a block such as a
traceback) and ``link``. The body templates live in ``templates/chat/`` and are shared;
a file ``<type>/<group>.<part>`` overrides them for one service.
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Callable
from typing import Any

from alertcb.channels import _http
from alertcb.channels.base import SendContext
from alertcb.events import Severity
from alertcb.filters import ELLIPSIS, strip_control
from alertcb.notification import Notification
from alertcb.render import template_group

ZWSP = "\u200b"
#: "<" that would open a mention or a tag: <@id> <@&role> <#chan> <!channel> <at ...> </at>.
_MENTION_OPEN = re.compile(r"<(?=\s*(?:[@!#&]|/?at\b))", re.IGNORECASE)
_AT = re.compile("@(?!\u200b)")
_PARTIAL_ENTITY = re.compile(r"&#?[A-Za-z0-9]{0,8}$")
_BACKSLASH_SPECIALS = re.compile(r"([\\`*_~|\[\]])")
_LINE_START_SPECIALS = re.compile(r"(?m)^(\s*)([#>+-])")
_LARK_SPECIALS = {c: f"&#{ord(c)};" for c in "&<>*_~`[]()#\\$"}
#: Card/embed colour names per severity (resolved is green everywhere).
SEVERITY_COLOR = {"critical": "red", "warning": "orange", "info": "blue", "resolved": "green"}


def defang(text: Any) -> str:
    """Plain text with every mention made inert: ``@`` and mention-opening ``<`` get a zero-width space.

    Example:
        >>> defang("@all <@123>") == "@\u200ball <\u200b@\u200b123>"
        True
    """
    text = _AT.sub("@" + ZWSP, strip_control(text))
    return _MENTION_OPEN.sub("<" + ZWSP, text)


def md_escape(text: Any) -> str:
    """CommonMark-style backslash escapes (Discord, DingTalk, Teams), defanged."""
    return _LINE_START_SPECIALS.sub(r"\1\\\2", _BACKSLASH_SPECIALS.sub(r"\\\1", defang(text)))


def lark_escape(text: Any) -> str:
    """Feishu/Lark card markdown: specials as HTML entities (what Feishu documents), defanged."""
    return "".join(_LARK_SPECIALS.get(ch, ch) for ch in defang(text))


def html_escape(text: Any) -> str:
    """Telegram HTML: exactly ``&``, ``<``, ``>`` as entities, defanged."""
    return html.escape(defang(text), quote=False)


def plain(text: Any) -> str:
    """Plain text (apprise): control characters dropped, defanged."""
    return defang(text)


@dataclasses.dataclass(frozen=True)
class Markup:
    """The markup functions a chat template calls (all take and return ``str``)."""

    esc: Callable[[Any], str]
    b: Callable[[str], str]
    code: Callable[[Any], str]
    pre: Callable[[Any], str]
    link: Callable[[str, str], str]
    quote: Callable[[str], str]

    def context(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _quote_lines(text: str) -> str:
    return "\n".join("> " + line for line in text.split("\n"))


MARKDOWN = Markup(  # Discord
    esc=md_escape,
    b=lambda s: f"**{s}**",
    code=lambda s: "`" + defang(s).replace("`", "'") + "`",
    pre=lambda s: "```\n" + defang(s).replace("```", "'''") + "\n```",
    link=lambda url, label: f"[{label}]({url})",
    quote=_quote_lines,
)
DINGTALK = Markup(  # no code blocks in DingTalk markdown: quoted lines instead
    esc=md_escape,
    b=lambda s: f"**{s}**",
    code=md_escape,
    pre=lambda s: _quote_lines(md_escape(s)),
    link=lambda url, label: f"[{label}]({url})",
    quote=_quote_lines,
)
TEAMS = Markup(  # Adaptive Card TextBlock markdown: bold, italic, lists, links; no code
    esc=md_escape,
    b=lambda s: f"**{s}**",
    code=md_escape,
    pre=lambda s: "\n\n".join(md_escape(line) for line in str(s).split("\n")),
    link=lambda url, label: f"[{label}]({url})",
    quote=lambda s: s,
)
LARK = Markup(
    esc=lark_escape,
    b=lambda s: f"**{s}**",
    code=lark_escape,
    pre=lambda s: lark_escape(s),
    link=lambda url, label: f"[{label}]({url})",
    quote=lambda s: s,
)
TELEGRAM = Markup(
    esc=html_escape,
    b=lambda s: f"<b>{s}</b>",
    code=lambda s: f"<code>{html_escape(s)}</code>",
    pre=lambda s: f"<pre>{html_escape(s)}</pre>",
    link=lambda url, label: f'<a href="{html.escape(url, quote=True)}">{label}</a>',
    quote=lambda s: f"<blockquote>{s}</blockquote>",
)
PLAIN = Markup(
    esc=plain,
    b=lambda s: s,
    code=plain,
    pre=plain,
    link=lambda url, label: f"{label}: {url}",
    quote=lambda s: s,
)


def render(ctx: SendContext, channel_type: str, notification: Notification, part: str, markup: Markup) -> str:
    """Render ``<type>/<group>.<part>``, else the shared ``chat/<group>.<part>``."""
    import jinja2

    group = template_group(notification)
    extra = markup.context()
    try:
        return ctx.render(f"{channel_type}/{group}.{part}", notification, **extra)
    except jinja2.TemplateNotFound as exc:
        if exc.name != f"{channel_type}/{group}.{part}":
            raise
    return ctx.render(f"chat/{group}.{part}", notification, **extra)


def title_line(ctx: SendContext, channel_type: str, notification: Notification) -> str:
    """The one-line plain title (card header, embed title, DingTalk title): defanged, one line."""
    text = render(ctx, channel_type, notification, "title.txt.j2", PLAIN)
    return defang(" ".join(text.split())) or "alertcb alert"


# --- mentions -------------------------------------------------------------------------------


def mentions_due(notification: Notification, minimum: Severity) -> bool:
    """Whether configured mentions apply: firing (not resolved) and at least ``minimum`` severe."""
    return not notification.event.resolved and notification.severity >= minimum


def all_due(notification: Notification, enabled: bool) -> bool:
    """Whether an @all-style mention applies: enabled, firing and critical."""
    return enabled and not notification.event.resolved and notification.severity >= Severity.CRITICAL


def color_key(notification: Notification) -> str:
    return "resolved" if notification.event.resolved else str(notification.severity)


# --- length-aware cutting -------------------------------------------------------------------


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units (Telegram's and Discord's measure; ≥ code points)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def cut_utf16(text: str, limit: int, marker: str = ELLIPSIS) -> str:
    """Cut ``text`` to ``limit`` UTF-16 units on a code-point boundary."""
    if utf16_len(text) <= limit:
        return text
    budget = max(0, limit - utf16_len(marker))
    return text.encode("utf-16-le", "surrogatepass")[: budget * 2].decode("utf-16-le", "ignore") + marker


def cut_bytes(text: str, limit: int, marker: str = ELLIPSIS) -> str:
    """Cut ``text`` to ``limit`` UTF-8 bytes on a code-point boundary."""
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) <= limit:
        return text
    budget = max(0, limit - len(marker.encode("utf-8")))
    return raw[:budget].decode("utf-8", "ignore") + marker


def cut_markdown(text: str, limit: int, measure: Callable[[str], int] = utf16_len) -> str:
    """Cut escaped markdown without splitting an escape or entity, closing an open ``` fence."""
    if measure(text) <= limit:
        return text
    room = max(0, limit - 8)
    out = text
    # shrink by the measured overshoot until it fits (a few rounds at most)
    while measure(out) > room and out:
        size = measure(out)  # ≥ len(out): keep a proportional prefix, then shrink a little more
        out = out[: min(len(out) - 1, len(out) * room // size)]
    out = _PARTIAL_ENTITY.sub("", out)
    if out.endswith("\\") and (len(out) - len(out.rstrip("\\"))) % 2:
        out = out[:-1]
    out += ELLIPSIS
    if out.count("```") % 2:
        out += "\n```"
    return out


_TAG = re.compile(r"<(/?)([a-z-]+)(?:\s[^>]*)?>", re.IGNORECASE)


def cut_html(text: str, limit: int) -> str:
    """Cut Telegram HTML to ``limit`` UTF-16 units: no split tag or entity, every open tag closed."""
    if utf16_len(text) <= limit:
        return text
    budget = limit - 1
    while budget > 0:
        out = cut_utf16(text, budget, "")
        lt, gt = out.rfind("<"), out.rfind(">")
        if lt > gt:
            out = out[:lt]
        out = _PARTIAL_ENTITY.sub("", out) + ELLIPSIS
        out += _closing(out)
        if utf16_len(out) <= limit:
            return out
        budget -= max(1, utf16_len(out) - limit)
    return ELLIPSIS


def _open_tags(text: str) -> list[str]:
    stack: list[str] = []
    for match in _TAG.finditer(text):
        name = match.group(2).lower()
        if match.group(1):
            if name in stack:
                del stack[len(stack) - 1 - stack[::-1].index(name) :]
        else:
            stack.append(name)
    return stack


def _closing(text: str) -> str:
    return "".join(f"</{name}>" for name in reversed(_open_tags(text)))


def visible_html(text: str) -> str:
    """What Telegram shows for ``text`` (tags removed, entities decoded): for tests and length checks."""
    return html.unescape(_TAG.sub("", text))


# --- sending --------------------------------------------------------------------------------


def dumps(payload: Any) -> bytes:
    """Compact UTF-8 JSON: the exact bytes sent, so size limits are measured on them."""
    import json

    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8", "replace")


def post(ctx: SendContext, url: str, payload: Any, headers: dict[str, str] | None = None) -> Any:
    """POST ``payload`` as compact JSON; transport errors become (scrubbed) `TransportError`."""
    sent = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    return _http.post(ctx, url, content=dumps(payload), headers=sent)
