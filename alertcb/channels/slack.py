"""Slack incoming webhook: Block Kit blocks plus a ``text`` fallback, within every limit.

The body template (``slack/<group>.mrkdwn.j2``) is split into section blocks on blank
lines (``` fences are kept whole); long paragraphs are cut into several sections.
Lengths are counted in UTF-16 code units, which is never less than Slack's count.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from alertcb.channels import _http as c
from alertcb.channels.base import (
    Channel,
    Notification,
    Outcome,
    SendContext,
    classify_http,
    render_digest,
)
from alertcb.errors import ConfigError
from alertcb.filters import ELLIPSIS, no_mentions, strip_control
from alertcb.redact import Secret, redact_url
from alertcb.validate import check_severity

MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000
MAX_HEADER_CHARS = 150
MAX_FIELDS = 10
MAX_FIELD_CHARS = 2000
MAX_TEXT_CHARS = 40_000
FENCE = "```"
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,4}$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")


class Slack(Channel):
    """Sends alerts to a Slack incoming webhook.

    Args:
        webhook_url: the webhook URL (``https://hooks.slack.com/services/T…/B…/…``) or a
            proxy/test endpoint. A secret: it is never shown.
        mention_users: Slack member ids to mention (``"U024BE7LH"``; ``<@U…>``).
        mention_groups: user-group ids to mention (``"SAZ94GDB8"``; ``<!subteam^S…>``).
        mention_here: mention the channel's active members (``<!here>``). Defaults to False.
        mention_channel: mention every member (``<!channel>``). Defaults to False.
        mention_min_severity: mention only for notifications at least this severe
            (default ``"critical"``); resolves never mention. Only these settings mention
            people: mention syntax in titles, messages, metric names or exceptions
            (``<!channel>``, ``<@U…>``, ``@here``) is made inert, header and fallback included.
        allow_insecure_http: allow ``http://`` to a non-loopback host. Defaults to False.
        name, min_severity, kinds, rate_limit_per_min: see `Channel`.

    Example:
        >>> Slack(webhook_url=os.environ["SLACK_WEBHOOK_URL"], mention_here=True)  # doctest: +SKIP
    """

    type: ClassVar[str] = "slack"
    default_rate_limit_per_min: ClassVar[float | None] = 60
    default_burst: ClassVar[int] = 3

    def __init__(
        self,
        *,
        webhook_url: str | Secret,
        mention_users: list[str] | None = None,
        mention_groups: list[str] | None = None,
        mention_here: bool = False,
        mention_channel: bool = False,
        mention_min_severity: str = "critical",
        allow_insecure_http: bool = False,
        name: str | None = None,
        min_severity: str = "info",
        kinds: list[str] | None = None,
        rate_limit_per_min: float | None = None,
    ) -> None:
        super().__init__(name=name, min_severity=min_severity, kinds=kinds, rate_limit_per_min=rate_limit_per_min)
        url = c.webhook_endpoint("webhook_url", webhook_url, allow_insecure_http=allow_insecure_http)
        path = url.get().split("://", 1)[-1].partition("/")[2]
        if len(path) >= 8:
            Secret(path)  # the path (T…/B…/token) is the credential: mask it wherever it shows up
        self._url = url
        self.mention_users = _ids("mention_users", mention_users, _USER_ID, "a member id like 'U024BE7LH'")
        self.mention_groups = _ids("mention_groups", mention_groups, _GROUP_ID, "a user-group id like 'SAZ94GDB8'")
        self.mention_here = c.flag("mention_here", mention_here)
        self.mention_channel = c.flag("mention_channel", mention_channel)
        self.mention_min_severity = check_severity("mention_min_severity", mention_min_severity)

    def mentions(self, notification: Notification) -> str:
        """The mention markup for ``notification`` (``"<!here> <@U024BE7LH>"``), or ``""``."""
        if notification.event.resolved or notification.severity < self.mention_min_severity:
            return ""
        parts = ["<!channel>"] if self.mention_channel else []
        parts += ["<!here>"] if self.mention_here else []
        parts += [f"<!subteam^{g}>" for g in self.mention_groups]
        parts += [f"<@{u}>" for u in self.mention_users]
        return " ".join(parts)

    def build_payload(self, notification: Notification, ctx: SendContext) -> dict[str, Any]:
        """The JSON body: ``text`` fallback, a header block and section blocks."""
        if notification.digest:  # name as many incidents as fit the block limits, count the rest
            header = render_line(no_mentions(ctx.render("slack/digest.header.txt.j2", notification)))
            fallback = no_mentions(strip_control(ctx.render("slack/digest.fallback.txt.j2", notification)).strip())
            body = no_mentions(
                render_digest(ctx, "slack/digest.mrkdwn.j2", notification, lambda t: section_count(t) < MAX_BLOCKS)
            )
            fallback = fallback or header
        else:
            header = render_line(no_mentions(c.render_part(ctx, "slack", notification, "header.txt.j2")))
            body = no_mentions(c.render_part(ctx, "slack", notification, "mrkdwn.j2"))
            fallback = no_mentions(strip_control(c.render_part(ctx, "slack", notification, "fallback.txt.j2")).strip())
            fallback = fallback or header or no_mentions(notification.event.title or "alertcb alert")
        mentions = self.mentions(notification)
        if mentions:  # added after the rendered text was made inert
            body, fallback = f"{mentions} {body}", f"{mentions} {fallback}"
        return build_payload(header, body, fallback)

    def send(self, notification: Notification, ctx: SendContext) -> Outcome:
        payload = self.build_payload(notification, ctx)
        return c.attempt(lambda: c.post_json(ctx, self._url.get(), payload), classify_response)

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out.update(
            webhook_url=redact_url(self._url.get()),
            mention_users=list(self.mention_users),
            mention_groups=list(self.mention_groups),
            mention_here=self.mention_here,
            mention_channel=self.mention_channel,
            mention_min_severity=str(self.mention_min_severity),
        )
        return out


def _ids(field: str, value: Any, pattern: re.Pattern[str], what: str) -> list[str]:
    ids = c.string_list(field, value)
    for i, item in enumerate(ids):
        if not pattern.match(item):
            raise ConfigError(f"{field}[{i}]", f"expected {what}, got {item!r}")
    return ids


def classify_response(status: int, headers: Any, text: str) -> Outcome:
    """200 ``ok`` is delivered; 429 (with Retry-After) and 5xx retry; other 4xx are permanent."""
    if 200 <= status < 300:
        body = text.strip()
        if body in ("ok", ""):
            return Outcome.delivered()
        try:
            if json.loads(body).get("ok") is True:  # workflow webhooks answer {"ok": true}
                return Outcome.delivered()
        except (ValueError, AttributeError):
            pass
        return Outcome.permanent(f"Slack: HTTP {status} with an unexpected body: {body[:100]}")
    return classify_http(status, headers, text)


# --- the block builder --------------------------------------------------------------------


def slack_len(text: str) -> int:
    """Length in UTF-16 code units (≥ code points: a safe measure for Slack's limits)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def cut(text: str, limit: int, marker: str = ELLIPSIS) -> str:
    """Cut escaped mrkdwn to ``limit`` units without splitting an entity, a link or a code fence."""
    if slack_len(text) <= limit:
        return text
    budget = limit - slack_len(marker) - len(FENCE) - 1
    out = text.encode("utf-16-le", "surrogatepass")[: max(0, budget) * 2].decode("utf-16-le", "ignore")
    out = _PARTIAL_ENTITY.sub("", out)
    lt, gt = out.rfind("<"), out.rfind(">")
    if lt > gt:  # an unclosed <link|text>
        out = out[:lt]
    out += marker
    if out.count(FENCE) % 2:
        out += "\n" + FENCE
    return out


def render_line(text: str) -> str:
    """One plain-text line for the header block (≤ 150 chars)."""
    line = " ".join(strip_control(text).split())
    if slack_len(line) <= MAX_HEADER_CHARS:
        return line
    raw = line.encode("utf-16-le", "surrogatepass")[: (MAX_HEADER_CHARS - 1) * 2]
    return raw.decode("utf-16-le", "ignore") + ELLIPSIS


def paragraphs(mrkdwn: str) -> list[str]:
    """Split on blank lines, except inside ``` fences."""
    out: list[str] = []
    current: list[str] = []
    in_fence = False
    for line in strip_control(mrkdwn).split("\n"):
        if not in_fence and not line.strip():
            if current:
                out.append("\n".join(current))
                current = []
            continue
        current.append(line)
        if line.count(FENCE) % 2:
            in_fence = not in_fence
    if current:
        out.append("\n".join(current))
    return out


def pieces(paragraph: str, limit: int = MAX_SECTION_CHARS) -> list[str]:
    """Split one paragraph into chunks of ≤ ``limit`` units at line boundaries (fences re-opened)."""
    if slack_len(paragraph) <= limit:
        return [paragraph]
    budget = limit - 2 * (len(FENCE) + 1)
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in paragraph.split("\n"):
        line = cut(line, budget)
        if current and size + slack_len(line) + 1 > budget:
            chunks.append("\n".join(current))
            current, size = [], 0
        current.append(line)
        size += slack_len(line) + 1
    if current:
        chunks.append("\n".join(current))
    out: list[str] = []
    open_fence = False
    for chunk in chunks:
        if open_fence:
            chunk = FENCE + "\n" + chunk
        if chunk.count(FENCE) % 2:
            chunk += "\n" + FENCE
            open_fence = True
        else:
            open_fence = False
        out.append(cut(chunk, limit))
    return out


def section_count(mrkdwn: str) -> int:
    """How many section blocks ``mrkdwn`` becomes."""
    return sum(1 for para in paragraphs(mrkdwn) for p in pieces(para) if p.strip())


def build_payload(header: str, mrkdwn: str, fallback: str) -> dict[str, Any]:
    """Assemble blocks within Slack's limits (≤ 50 blocks, sections ≤ 3000, header ≤ 150)."""
    blocks: list[dict[str, Any]] = []
    if header:
        blocks.append({"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}})
    sections = [p for para in paragraphs(mrkdwn) for p in pieces(para) if p.strip()]
    room = MAX_BLOCKS - len(blocks)
    if len(sections) > room:
        omitted = len(sections) - (room - 1)
        sections = sections[: room - 1] + [f"_… {omitted} more section(s) omitted_"]
    blocks.extend({"type": "section", "text": {"type": "mrkdwn", "text": s}} for s in sections)
    return {"text": cut(fallback, MAX_TEXT_CHARS), "blocks": blocks, "unfurl_links": False}
