"""A canary secret in every URL, key and password never shows in reprs, describe(),
ConfigError messages, Outcome reasons or logs, across failure modes."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from alertcb.channels import (
    Alertmanager,
    Apprise,
    DingTalk,
    Discord,
    Email,
    Feishu,
    Lark,
    PagerDuty,
    Slack,
    Teams,
    Telegram,
    Webhook,
    WeCom,
)
from alertcb.channels.base import Channel
from alertcb.errors import ConfigError
from alertcb.notification import Attachment
from tests.conftest_services import (
    PD_ROUTING_KEY,
    SMTP_USER,
    WECOM_KEY,
    PagerDutyStandIn,
    Receiver,
    Reply,
    Request,
    SlackStandIn,
    SmtpServer,
    StandIn,
    WeComStandIn,
    free_port,
    make_notification,
    send_once,
)

CANARY = "CANARYsecret7f3a9c"


def _echo(request: Request, status: int = 400) -> Reply:
    """A hostile error page that reflects the request line, headers and body."""
    reflected = f"{request.path}?{request.query} {request.headers} {request.body[:300]!r}"
    return Reply(status, {"Retry-After": "1"}, f"error: {reflected}")


def _channels(url: Callable[[str], str]) -> list[Channel]:
    """Every HTTP channel with the canary in its credentials, pointed at ``url(kind)``."""
    return [
        WeCom(key=WECOM_KEY, webhook_url=url("wecom")),
        Slack(webhook_url=url("slack")),
        PagerDuty(routing_key=PD_ROUTING_KEY, url=url("pagerduty")),
        Webhook(url=url("webhook") + f"?token={CANARY}-tok", headers={"Authorization": f"Bearer {CANARY}-bearer"}, secret=f"{CANARY}-hmac"),
        Alertmanager(urls=[url("alertmanager").replace("http://", f"http://user:{CANARY}-basic@")]),
        DingTalk(webhook_url=url("dingtalk") + f"?access_token={CANARY}-dt", secret=f"SEC{CANARY}-sign"),
        Feishu(webhook_url=url("feishu"), secret=f"{CANARY}-fs"),
        Lark(webhook_url=url("lark"), secret=f"{CANARY}-lark"),
        Teams(webhook_url=url("teams") + f"?api-version=1&sv=1.0&sig={CANARY}-sig"),
        Discord(webhook_url=url("discord")),
        Telegram(bot_token=f"123456789:{CANARY}TelegramTok", chat_id="-100", api_url=url("telegram").split("/telegram/")[0]),
        Apprise(urls=[url("apprise").replace("http", "json", 1), url("apprise2").replace("http", "form", 1).replace("//", f"//u:{CANARY}-pw@", 1)]),
    ]


def _assert_clean(*texts: Any) -> None:
    for text in texts:
        assert CANARY not in str(text), text


def test_repr_and_describe_hide_secrets(tmp_path: Path) -> None:
    """repr(), str() and describe() of every channel are free of the canary."""
    channels = _channels(lambda kind: f"https://{kind}.example.com/hook/{CANARY}-path")
    channels.append(Email(host="smtp.example.com", sender="a@example.com", to=["b@example.com"], username="u", password=f"{CANARY}-pw"))
    for channel in channels:
        _assert_clean(repr(channel), str(channel), json.dumps(channel.describe(), ensure_ascii=False))


@pytest.mark.parametrize("fault", ["echo", "refused", "hang", "reset", 500, 429])
def test_outcome_reasons_and_logs_are_clean(fault: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Whatever goes wrong, the reason and the alertcb log never contain a secret."""
    server = StandIn()
    server.start()
    dead_port = free_port()
    try:
        if fault == "echo":
            server.fail_for(60, _echo)
        elif fault != "refused":
            server.fail_for(60, fault if fault != 429 else (lambda request: _echo(request, 429)))
        base = server.base_url if fault != "refused" else f"http://127.0.0.1:{dead_port}"
        channels = _channels(lambda kind: f"{base}/{kind}/{CANARY}-path")
        note = make_notification(attachments=(Attachment("x.png", "image/png", b"\x89PNG" + b"\0" * 3 * 1024 * 1024),))
        with caplog.at_level(logging.DEBUG, logger="alertcb"):
            for channel in channels:
                outcome = send_once(channel, note, timeout_s=0.3)
                assert "delivered" != outcome.verdict
                _assert_clean(outcome.reason, repr(outcome))
    finally:
        server.stop()
    _assert_clean(*(r.getMessage() for r in caplog.records if r.name == "alertcb"))


def test_stand_ins_receive_the_real_secrets(
    wecom_server: WeComStandIn, slack_server: SlackStandIn, pagerduty_server: PagerDutyStandIn, receiver: Receiver
) -> None:
    """Masking is only for display: the services get the real key, URL and routing key."""
    for channel in (
        WeCom(key=WECOM_KEY, webhook_url=wecom_server.url),
        Slack(webhook_url=slack_server.url),
        PagerDuty(routing_key=PD_ROUTING_KEY, url=pagerduty_server.url),
        Webhook(url=receiver.url, secret=f"{CANARY}-hmac"),
    ):
        assert "delivered" == send_once(channel, make_notification()).verdict


def test_smtp_failures_are_clean(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Bad password, TLS failure and a dead server: no password in reasons or logs."""
    server = SmtpServer(tmp_path, SMTP_USER, "right-password")
    server.start()
    try:
        outcomes = []
        with caplog.at_level(logging.DEBUG, logger="alertcb"):
            for ca_file in (server.ca_file, None):
                channel = Email(
                    host="127.0.0.1", port=server.port, sender="a@example.com", to=["b@example.com"],
                    username=SMTP_USER, password=f"{CANARY}-pw", ca_file=ca_file,
                )
                outcomes.append(send_once(channel, make_notification()))
            dead = Email(host="127.0.0.1", port=free_port(), sender="a@example.com", to=["b@example.com"], username="u", password=f"{CANARY}-pw", security="ssl")
            outcomes.append(send_once(dead, make_notification()))
    finally:
        server.stop()
    assert ["permanent", "permanent", "retry"] == [o.verdict for o in outcomes]
    _assert_clean(*(o.reason for o in outcomes), *(r.getMessage() for r in caplog.records))


@pytest.mark.parametrize(
    "build",
    [
        lambda: WeCom(webhook_url=f"http://remote.example.com/send?key={CANARY}"),
        lambda: WeCom(webhook_url=f"ftp://remote.example.com/{CANARY}"),
        lambda: Slack(webhook_url=f"http://hooks.example.com/services/{CANARY}"),
        lambda: Slack(webhook_url=f"https://hooks.example.com:bad/{CANARY}"),
        lambda: PagerDuty(routing_key=f"{CANARY}-too-long-for-a-routing-key"),
        lambda: Webhook(url=f"http://remote.example.com/{CANARY}"),
        lambda: Webhook(url="https://x.example.com", headers={"X-Token": f"{CANARY}\r\nX: y"}),
        lambda: Alertmanager(urls=[f"http://am.example.com/{CANARY}"]),
        lambda: DingTalk(webhook_url=f"http://oapi.example.com/robot/send?access_token={CANARY}"),
        lambda: DingTalk(access_token=f"{CANARY}-tok", secret=42),  # type: ignore[arg-type]
        lambda: Feishu(webhook_url=f"ftp://open.example.com/hook/{CANARY}"),
        lambda: Teams(webhook_url=f"https://x.example.com:bad/{CANARY}?sig={CANARY}"),
        lambda: Discord(webhook_url=f"http://discord.example.com/api/webhooks/1/{CANARY}"),
        lambda: Telegram(bot_token=f"{CANARY}-not-a-token", chat_id="1"),
        lambda: Apprise(urls=[f"json://hooks.example.com/{CANARY}"]),
        lambda: Apprise(urls=[f"unknownscheme://{CANARY}"]),
        lambda: Email(host="h.example.com", sender="a@example.com", to=["b@example.com"], password=f"{CANARY}-pw"),
    ],
)
def test_config_errors_never_echo_secrets(build: Callable[[], Channel]) -> None:
    """ConfigError messages name the field, not the secret value."""
    with pytest.raises(ConfigError) as info:
        build()
    _assert_clean(str(info.value), repr(info.value))


def test_third_party_loggers_do_not_leak_webhook_urls(wecom_server: WeComStandIn, caplog: pytest.LogCaptureFixture) -> None:
    """With the root logger at INFO (a common setup), no log record anywhere holds the key."""
    with caplog.at_level(logging.DEBUG):
        send_once(WeCom(key=WECOM_KEY, webhook_url=wecom_server.url), make_notification())
    _assert_clean(*(r.getMessage() for r in caplog.records))


def test_run_dir_outbox_and_stats_of_failing_chat_channels_are_clean(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Through the Notifier, failing deliveries to every new chat channel leave no canary in
    the run directory, the outbox, stats() or the logs."""
    from alertcb.notifier import Notifier

    server = StandIn()
    server.start()
    server.fail_for(60, _echo)
    try:
        channels = [c for c in _channels(lambda kind: f"{server.base_url}/{kind}/{CANARY}-path")
                    if c.type in ("dingtalk", "feishu", "lark", "teams", "discord", "telegram", "apprise")]
        with caplog.at_level(logging.DEBUG):
            notifier = Notifier(channels=channels, run_name="exp42", run_dir=tmp_path, group_wait_s=0.0,
                                retry_base_s=0.05, retry_max_s=0.1, deadline_s=1.0, attempt_timeout_s=0.5)
            notifier.emit(notifier.event("custom", "loss is NaN", "details", severity="critical"))
            notifier.flush(3.0)
            stats = json.dumps(notifier.stats(), default=str)
            notifier.close(1.0)
    finally:
        server.stop()
    _assert_clean(stats, *(r.getMessage() for r in caplog.records))
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written
    for path in written:
        assert CANARY.encode() not in path.read_bytes(), path
