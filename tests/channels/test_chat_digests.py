"""Summaries, progress digests and `alertcb send-test` through the chat channels, against
their strict stand-ins: the native rich format, within limits, whatever the run."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from alertcb.channels import Apprise, DingTalk, Discord, Feishu, Teams, Telegram
from alertcb.channels.base import Channel
from tests.channels.services2 import (
    DINGTALK_SECRET,
    FEISHU_SECRET,
    TELEGRAM_CHAT,
    TELEGRAM_TOKEN,
    DingTalkStandIn,
    DiscordStandIn,
    FeishuStandIn,
    TeamsStandIn,
    TelegramStandIn,
)
from tests.conftest_services import Receiver, StandIn, send_once
from tests.report.helpers import alert_event, notification, summary_event

ROOT = Path(__file__).resolve().parents[2]


def _text(kind: str, server: StandIn) -> str:
    """The human-readable text of the last accepted message."""
    import json

    body: Any = server.accepted[-1]
    if kind == "apprise":
        return body.json()["title"] + "\n" + body.json()["message"]
    if kind == "telegram":
        return server.visible[-1]  # type: ignore[attr-defined, no-any-return]
    return json.dumps(body, ensure_ascii=False)


SERVICES: dict[str, Callable[[], tuple[StandIn, Callable[[StandIn], Channel]]]] = {
    "dingtalk": lambda: (DingTalkStandIn(secret=DINGTALK_SECRET), lambda s: DingTalk(webhook_url=s.url, secret=DINGTALK_SECRET)),  # type: ignore[attr-defined]
    "feishu": lambda: (FeishuStandIn(secret=FEISHU_SECRET), lambda s: Feishu(webhook_url=s.url, secret=FEISHU_SECRET)),  # type: ignore[attr-defined]
    "teams": lambda: (TeamsStandIn(), lambda s: Teams(webhook_url=s.url)),  # type: ignore[attr-defined]
    "discord": lambda: (DiscordStandIn(), lambda s: Discord(webhook_url=s.url)),  # type: ignore[attr-defined]
    "telegram": lambda: (TelegramStandIn(), lambda s: Telegram(bot_token=TELEGRAM_TOKEN, chat_id=TELEGRAM_CHAT, api_url=s.base_url)),
    "apprise": lambda: (Receiver(), lambda s: Apprise(urls=[s.base_url.replace("http://", "json://") + "/hook"])),
}


@pytest.fixture(params=sorted(SERVICES))
def service(request: pytest.FixtureRequest) -> Any:
    server, build = SERVICES[request.param]()
    server.start()
    yield request.param, server, build(server)
    server.stop()


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (lambda: summary_event("completed"), ["training completed", "12/12 epochs", "report.html"]),
        (lambda: summary_event("crashed", epochs=1000, frames=200), ["training crashed", "1,000 epochs", "ValueError"]),
        (lambda: alert_event("progress"), ["epoch 4/12", "ETA", "alerts since the last digest"]),
        (lambda: alert_event("crash"), ["crash detected", "RuntimeError"]),
    ],
    ids=["summary", "summary-crashed-1000-epochs", "progress", "crash-alert"],
)
def test_digests_and_alerts_are_delivered_within_limits(service: Any, event: Callable[[], Any], expected: list[str]) -> None:
    """The stand-in accepts each (so every limit holds) and the text says what matters."""
    kind, server, channel = service
    outcome = send_once(channel, notification(event()))
    assert "delivered" == outcome.verdict, (kind, outcome.reason)
    text = _text(kind, server)
    for words in expected:
        assert words in text, (kind, words)
    if kind == "teams":
        assert server.posted and not server.dropped


def test_send_test_through_every_chat_channel(tmp_path: Path) -> None:
    """`alertcb send-test --config` reaches each new channel and reports it delivered."""
    started = {kind: SERVICES[kind]() for kind in SERVICES}
    for server, _ in started.values():
        server.start()
    try:
        s = {kind: server for kind, (server, _) in started.items()}
        config = tmp_path / "alertcb.toml"
        config.write_text(
            f"""
[channels.dt]
type = "dingtalk"
webhook_url = "{s['dingtalk'].url}"  # type: ignore
secret = "{DINGTALK_SECRET}"

[channels.fs]
type = "lark"
webhook_url = "{s['feishu'].url}"
secret = "{FEISHU_SECRET}"

[channels.ms]
type = "teams"
webhook_url = "{s['teams'].url}"

[channels.dc]
type = "discord"
webhook_url = "{s['discord'].url}"

[channels.tg]
type = "telegram"
bot_token = "{TELEGRAM_TOKEN}"
chat_id = "{TELEGRAM_CHAT}"
api_url = "{s['telegram'].base_url}"

[channels.ap]
type = "apprise"
urls = ["{s['apprise'].base_url.replace('http://', 'json://')}/hook"]
""".replace("  # type: ignore", "")
        )
        result = subprocess.run(
            [sys.executable, "-m", "alertcb", "send-test", "--config", str(config), "--timeout", "15"],
            capture_output=True, text=True, timeout=60, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        )
    finally:
        for server, _ in started.values():
            server.stop()
    assert 0 == result.returncode, result.stdout + result.stderr
    for name in ("dt", "fs", "ms", "dc", "tg", "ap"):
        assert f"{name}: delivered" in result.stdout
    assert "CANARY" not in result.stdout + result.stderr
    assert all(len(server.accepted) == 1 for server, _ in started.values())


def test_discord_summary_carries_the_loss_curve_in_one_request(discord_server: DiscordStandIn) -> None:
    """The PNG is uploaded with the embed (multipart), shown as the embed's image."""
    note = notification(summary_event("completed"))
    assert "delivered" == send_once(Discord(webhook_url=discord_server.url), note).verdict
    (files,) = discord_server.files
    assert {"loss_curve.png": note.attachments[0].data} == files
    assert "attachment://loss_curve.png" == discord_server.accepted[0]["embeds"][0]["image"]["url"]
    assert 1 == len(discord_server.requests)


def test_telegram_summary_sends_the_photo_after_the_text(telegram_server: TelegramStandIn) -> None:
    note = notification(summary_event("completed"))
    channel = Telegram(bot_token=TELEGRAM_TOKEN, chat_id=TELEGRAM_CHAT, api_url=telegram_server.base_url)
    assert 2 == channel.messages_per_send(note)
    assert "delivered" == send_once(channel, note).verdict
    assert [note.attachments[0].data] == telegram_server.photos and 1 == len(telegram_server.accepted)
    quiet = Telegram(bot_token=TELEGRAM_TOKEN, chat_id=TELEGRAM_CHAT, api_url=telegram_server.base_url, send_images=False)
    assert 1 == quiet.messages_per_send(note)


def test_a_failed_photo_does_not_repeat_the_text(telegram_server: TelegramStandIn, caplog: pytest.LogCaptureFixture) -> None:
    """The text arrived: the photo's failure is logged and the notification counts as delivered."""
    from tests.conftest_services import Reply

    note = notification(summary_event("completed"))
    channel = Telegram(bot_token=TELEGRAM_TOKEN, chat_id=TELEGRAM_CHAT, api_url=telegram_server.base_url)
    telegram_server.fail_next(lambda request: telegram_server.respond(request), Reply(500, {}, "down"))
    assert "delivered" == send_once(channel, note).verdict
    assert 1 == len(telegram_server.accepted) and not telegram_server.photos
    assert any("photo loss_curve.png not sent" in r.getMessage() for r in caplog.records)
