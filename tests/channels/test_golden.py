"""What each channel sends for representative alerts matches tests/channels/golden/ (reviewed by eye).

Regenerate with ``UPDATE_GOLDEN=1`` and read the diff before committing it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from alertcb.channels import DingTalk, Discord, Email, Feishu, Slack, Teams, Telegram, Webhook, WeCom
from alertcb.channels.base import SendContext
from alertcb.notification import Notification
from alertcb.render import Renderer

from .alerts import ALERTS, note

GOLDEN = Path(__file__).parent / "golden"
RENDERER = Renderer(link_url="https://dash.example/run/42", run_dir="/runs/exp42")
CTX = SendContext(None, RENDERER.render, 5.0)
KEY = "golden-key-0000"


def wecom(msgtype: str, **kwargs: object) -> Callable[[Notification], str]:
    channel = WeCom(key=KEY, msgtype=msgtype, **kwargs)  # type: ignore[arg-type]

    def render(n: Notification) -> str:
        payload = channel.build_payload(n, CTX)
        body = payload[payload["msgtype"]]
        head = f"msgtype: {payload['msgtype']}"
        for field in ("mentioned_list", "mentioned_mobile_list"):
            if field in body:
                head += f"\n{field}: {json.dumps(body[field])}"
        return f"{head}\n---\n{body['content']}"

    return render


def slack(n: Notification) -> str:
    payload = Slack(webhook_url="https://hooks.slack.com/services/T0/B0/golden0000", mention_here=True).build_payload(n, CTX)
    out = [f"text: {payload['text']}"]
    for block in payload["blocks"]:
        out.append(f"--- {block['type']} ({block['text']['type']})\n{block['text']['text']}")
    return "\n".join(out)


def email_text(n: Notification) -> str:
    msg = Email(host="127.0.0.1", sender="ml@example.com", to=["oncall@example.com"], security="none").build_message(n, CTX)
    text = msg.get_body(preferencelist=("plain",))
    assert text is not None
    return f"Subject: {msg['Subject']}\n\n{text.get_content()}"


def email_html(n: Notification) -> str:
    msg = Email(host="127.0.0.1", sender="ml@example.com", to=["oncall@example.com"], security="none").build_message(n, CTX)
    html = msg.get_body(preferencelist=("html",))
    assert html is not None
    return str(html.get_content())


def webhook(n: Notification) -> str:
    return str(json.loads(Webhook(url="https://hooks.example.com/alertcb").build_body(n, CTX))["text"])


def flatten(value: Any, path: str = "") -> list[str]:
    """Every string of a JSON payload as ``path: text`` (multi-line text below its path), for reading."""
    if isinstance(value, dict):
        return [line for key, item in value.items() for line in flatten(item, f"{path}.{key}" if path else str(key))]
    if isinstance(value, list):
        return [line for i, item in enumerate(value) for line in flatten(item, f"{path}[{i}]")]
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return [f"{path}:\n{text}" if "\n" in text else f"{path}: {text}"]


def payload(channel: Any) -> Callable[[Notification], str]:
    return lambda n: "\n".join(flatten(channel.build_payload(n, CTX)))


def template(*names: str) -> Callable[[Notification], str]:
    return lambda n: "\n---\n".join(RENDERER.render(name, n) for name in names)


RENDERINGS: dict[str, Callable[[Notification], str]] = {
    "console.txt": template("console/alert.txt.j2"),
    "wecom.md": wecom("markdown"),
    "wecom.md2": wecom("markdown_v2"),
    "wecom.txt": wecom("markdown", mention_all_on_critical=True),
    "slack.txt": slack,
    "email.txt": email_text,
    "email.html": email_html,
    "webhook.txt": webhook,
    "pagerduty.txt": template("pagerduty/alert.summary.txt.j2"),
    "alertmanager.txt": template("alertmanager/alert.summary.txt.j2", "alertmanager/alert.description.txt.j2"),
    "dingtalk.txt": payload(DingTalk(access_token="golden0000", at_all_on_critical=True)),
    "feishu.txt": payload(Feishu(webhook_url="https://open.feishu.cn/open-apis/bot/v2/hook/golden0000")),
    "teams.txt": payload(Teams(webhook_url="https://example.webhook.office.com/workflows/golden?sig=golden0000")),
    "discord.txt": payload(Discord(webhook_url="https://discord.com/api/webhooks/1/golden0000")),
    "telegram.txt": payload(Telegram(bot_token="123456789:GoldenTokenGoldenToken00", chat_id=-100123)),
}
CASES = [(alert, channel) for alert in sorted(ALERTS) for channel in sorted(RENDERINGS)]


@pytest.mark.parametrize(("alert", "channel"), CASES)
def test_golden(alert: str, channel: str) -> None:
    """The channel's rendering of the alert is exactly the reviewed golden file."""
    text = RENDERINGS[channel](note(ALERTS[alert]())).rstrip("\n") + "\n"
    path = GOLDEN / f"{alert}.{channel}"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"missing golden file {path}; run with UPDATE_GOLDEN=1 and review it"
    assert path.read_text(encoding="utf-8") == text


def test_every_golden_file_belongs_to_a_case() -> None:
    """No stale golden files are left behind."""
    expected = {f"{alert}.{channel}" for alert, channel in CASES}
    assert expected == {p.name for p in GOLDEN.iterdir() if p.is_file()}
