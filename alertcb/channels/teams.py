"""Microsoft Teams through a Workflows ("When a Teams webhook request is received") URL.

The body is an Adaptive Card 1.4 in a ``message`` envelope, kept ≤ 20,000 bytes
(Teams refuses 28 KB after adding its own fields). Teams answers **202 with an empty
body**: the request was queued, not posted, and the flow may still fail unseen, so a
"delivered" here means "accepted by the flow" (see docs/channels.md).
"""

from __future__ import annotations

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
from alertcb.errors import ConfigError
from alertcb.redact import Secret, redact_url
from alertcb.validate import check_severity

MAX_BODY_BYTES = 20_000
CARD_COLOR = {"critical": "Attention", "warning": "Warning", "info": "Accent", "resolved": "Good"}
ADAPTIVE = "application/vnd.microsoft.card.adaptive"


class Teams(Channel):
    """Sends alerts to a Microsoft Teams channel or chat through a Workflows webhook.

    Args:
        webhook_url: the Workflows URL (``https://…logic.azure.com/workflows/…/invoke?…&sig=…``).
            A secret: ``sig`` in its query is the credential; the query is kept intact.
        mention_users: user principal names or Entra ids (``ada@contoso.com``) to
            @-mention from ``mention_min_severity`` up.
        mention_min_severity: the least severity that mentions. Defaults to ``"critical"``;
            resolved alerts never mention.
        allow_insecure_http: allow ``http://`` to a non-loopback host. Defaults to False.
        name, min_severity, kinds, rate_limit_per_min: see `Channel`.

    Example:
        >>> Teams(webhook_url=os.environ["TEAMS_WORKFLOW_URL"], min_severity="warning")  # doctest: +SKIP
    """

    type: ClassVar[str] = "teams"
    #: Undocumented for Workflows; the retired connectors allowed 4 a second.
    default_rate_limit_per_min: ClassVar[float | None] = 60
    default_burst: ClassVar[int] = 4

    def __init__(
        self,
        *,
        webhook_url: str | Secret,
        mention_users: list[str] | None = None,
        mention_min_severity: str = "critical",
        allow_insecure_http: bool = False,
        name: str | None = None,
        min_severity: str = "info",
        kinds: list[str] | None = None,
        rate_limit_per_min: float | None = None,
    ) -> None:
        super().__init__(name=name, min_severity=min_severity, kinds=kinds, rate_limit_per_min=rate_limit_per_min)
        self._url = c.webhook_endpoint("webhook_url", webhook_url, allow_insecure_http=allow_insecure_http)
        self.mention_users = c.string_list("mention_users", mention_users)
        for i, user in enumerate(self.mention_users):
            if any(ch in user for ch in "<>"):
                raise ConfigError(f"mention_users[{i}]", "expected a user principal name or id, without < or >")
        self.mention_min_severity = check_severity("mention_min_severity", mention_min_severity)

    def build_payload(self, notification: Notification, ctx: SendContext) -> dict[str, Any]:
        """The ``message`` envelope with one Adaptive Card (≤ 20,000 bytes)."""
        title = _chat.title_line(ctx, self.type, notification)
        body = _chat.render(ctx, self.type, notification, "body.j2", _chat.TEAMS)
        users = self.mention_users if _chat.mentions_due(notification, self.mention_min_severity) else []
        blocks: list[dict[str, Any]] = [
            {
                "type": "TextBlock",
                "text": _chat.md_escape(_chat.cut_utf16(title, 300)),
                "size": "Medium",
                "weight": "Bolder",
                "color": CARD_COLOR[_chat.color_key(notification)],
                "wrap": True,
            },
            {"type": "TextBlock", "text": body, "wrap": True},
        ]
        card: dict[str, Any] = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": blocks,
            "msteams": {"width": "Full"},
        }
        if users:
            mention_text = " ".join(f"<at>{u}</at>" for u in users)
            blocks.append({"type": "TextBlock", "text": mention_text, "wrap": True})
            card["msteams"]["entities"] = [
                {"type": "mention", "text": f"<at>{u}</at>", "mentioned": {"id": u, "name": u}}
                for u in users
            ]
        payload = {"type": "message", "attachments": [{"contentType": ADAPTIVE, "contentUrl": None, "content": card}]}
        over = len(_chat.dumps(payload)) - MAX_BODY_BYTES
        if over > 0:
            room = max(0, len(body.encode("utf-8")) - over - 16)
            while True:
                blocks[1]["text"] = _chat.cut_markdown(body, room, _utf8_len)
                if len(_chat.dumps(payload)) <= MAX_BODY_BYTES or room == 0:
                    break
                room = max(0, room - 512)
        return payload

    def send(self, notification: Notification, ctx: SendContext) -> Outcome:
        payload = self.build_payload(notification, ctx)
        return c.attempt(lambda: _chat.post(ctx, self._url.get(), payload), classify_response)

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out.update(
            webhook_url=redact_url(self._url.get()),
            mention_users=list(self.mention_users),
            mention_min_severity=str(self.mention_min_severity),
        )
        return out


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def classify_response(status: int, headers: Any, text: str) -> Outcome:
    """Any 2xx is accepted (202: queued by the flow); 429 honours Retry-After; 5xx retry;
    401 (no/bad ``sig``, OAuth-only flow), 404 (flow deleted or off) and 400 are permanent."""
    outcome = classify_http(status, headers, text)
    if outcome.verdict == "permanent":
        hint = {401: "unauthorised: bad sig or an OAuth-only flow", 404: "flow deleted or turned off", 400: "card rejected"}
        if status in hint:
            return Outcome.permanent(f"Teams: {hint[status]} ({outcome.reason})")
    return outcome
