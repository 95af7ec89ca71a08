"""DingTalk robot against the strict stand-in: signing (SERVICES-2.md vectors), keyword,
errcodes in HTTP 200 bodies, the 20/min throttle, mentions and the size limit."""

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest

from alertcb.channels import DingTalk
from alertcb.channels.dingtalk import classify_response, sign
from alertcb.errors import ConfigError
from tests.channels.services2 import DINGTALK_SECRET, DINGTALK_TOKEN, DingTalkError, DingTalkStandIn
from tests.conftest_services import Reply, make_event, make_notification, send_once


def _channel(server: DingTalkStandIn, **kwargs: Any) -> DingTalk:
    options: dict[str, Any] = {"webhook_url": server.url, "secret": DINGTALK_SECRET, "keyword": "训练"}
    options.update(kwargs)
    return DingTalk(**options)


def test_signature_matches_the_documented_vector() -> None:
    """SERVICES-2.md: SEC0123456789abcdef at 1700000000000 signs to TSZb…BZk=, then URL-encoded."""
    assert "TSZbRFUuvaSQaRKUpF970OPCb2/LcQAP3wOvwZIzBZk=" == sign("SEC0123456789abcdef", "1700000000000")
    url = DingTalk(access_token="t" * 20, secret="SEC0123456789abcdef").signed_url(1700000000000)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert ["TSZbRFUuvaSQaRKUpF970OPCb2/LcQAP3wOvwZIzBZk="] == query["sign"]
    assert "sign=TSZbRFUuvaSQaRKUpF970OPCb2%2FLcQAP3wOvwZIzBZk%3D" in url  # encoded: no "+" turning into a space


def test_signed_message_with_keyword_is_delivered(dingtalk_server: DingTalkStandIn) -> None:
    outcome = send_once(_channel(dingtalk_server), make_notification())
    assert "delivered" == outcome.verdict, outcome.reason
    (payload,) = dingtalk_server.accepted
    assert "markdown" == payload["msgtype"] and payload["markdown"]["title"]
    assert "loss is NaN" in payload["markdown"]["text"] and "训练" in payload["markdown"]["text"]


@pytest.mark.parametrize(
    ("change", "errmsg"),
    [
        ({"secret": "SECwrong-secret-0000"}, "sign not match"),
        ({"keyword": None}, "keywords not in content"),
        ({"secret": None}, "invalid timestamp"),
    ],
)
def test_security_failures_are_permanent(dingtalk_server: DingTalkStandIn, change: dict[str, Any], errmsg: str) -> None:
    """310000 (HTTP 200!) is never counted as delivered, and not retried."""
    outcome = send_once(_channel(dingtalk_server, **change), make_notification())
    assert "permanent" == outcome.verdict
    assert "310000" in outcome.reason and errmsg in outcome.reason
    assert [310000] == dingtalk_server.errcodes and not dingtalk_server.accepted


def test_stale_timestamp_is_refused(dingtalk_server: DingTalkStandIn) -> None:
    """A clock more than an hour off: 310000 invalid timestamp."""
    dingtalk_server.clock = lambda: __import__("time").time() + 7200
    outcome = send_once(_channel(dingtalk_server), make_notification())
    assert "permanent" == outcome.verdict and "invalid timestamp" in outcome.reason


def test_throttled_robot_waits_ten_minutes() -> None:
    """Past 20 a minute: errcode 130101, retried after throttled_wait_s (600 s by default)."""
    server = DingTalkStandIn(rate_limit=2)
    server.start()
    try:
        channel = DingTalk(webhook_url=server.url)
        outcomes = [send_once(channel, make_notification()) for _ in range(3)]
    finally:
        server.stop()
    assert ["delivered", "delivered", "retry"] == [o.verdict for o in outcomes]
    assert 600.0 == outcomes[2].retry_after_s and "130101" in outcomes[2].reason


@pytest.mark.parametrize(
    ("status", "body", "verdict", "retry_after"),
    [
        (200, '{"errcode":0,"errmsg":"ok"}', "delivered", None),
        (200, '{"errcode":310000,"errmsg":"keywords not in content"}', "permanent", None),
        (200, '{"errcode":130101,"errmsg":"send too fast"}', "retry", 600.0),
        (200, '{"errcode":400402,"errmsg":"缺少参数 title"}', "permanent", None),
        (200, '{"errcode":300005,"errmsg":"token is not exist"}', "permanent", None),
        (200, '{"errcode":40035,"errmsg":"缺少参数 access_token"}', "permanent", None),
        (200, '{"errcode":400105,"errmsg":"不支持的消息类型"}', "permanent", None),
        (200, '{"errcode":460101,"errmsg":"message too long"}', "permanent", None),
        (200, '{"errcode":43004,"errmsg":"无效的HTTP HEADER Content-Type"}', "permanent", None),
        (200, '{"errcode":-1,"errmsg":"系统繁忙"}', "retry", None),
        (200, "<html>proxy</html>", "retry", None),
        (502, "bad gateway", "retry", None),
        (404, "not found", "permanent", None),
    ],
)
def test_every_errcode_is_classified(status: int, body: str, verdict: str, retry_after: float | None) -> None:
    outcome = classify_response(status, {}, body)
    assert (verdict, retry_after) == (outcome.verdict, outcome.retry_after_s)


def test_injected_errcode_reaches_the_channel(dingtalk_server: DingTalkStandIn) -> None:
    dingtalk_server.fail_next(DingTalkError(130101), Reply(500, {}, "down"))
    channel = _channel(dingtalk_server, throttled_wait_s=1.5)
    verdicts = [send_once(channel, make_notification()) for _ in range(3)]
    assert ["retry", "retry", "delivered"] == [o.verdict for o in verdicts]
    assert 1.5 == verdicts[0].retry_after_s


def test_mentions_only_on_critical_and_never_from_text(dingtalk_server: DingTalkStandIn) -> None:
    """@all and the configured mobiles on a firing critical alert only; text never mentions."""
    channel = _channel(dingtalk_server, at_mobiles=["13800000000"], at_all_on_critical=True)
    hostile = "x @all @13800000000 @everyone"
    for severity in ("critical", "warning"):
        for status in ("firing", "resolved"):
            event = make_event(title=hostile, message=hostile, severity=severity, status=status)
            assert "delivered" == send_once(channel, make_notification(event)).verdict
    pinged = [DingTalkStandIn.pinged(p) for p in dingtalk_server.accepted]
    assert [["@all", "13800000000"], [], [], []] == pinged
    quiet = DingTalk(webhook_url=dingtalk_server.url, secret=DINGTALK_SECRET, keyword="训练", at_mobiles=["13800000000"])
    send_once(quiet, make_notification(make_event(title=hostile, severity="warning")))
    assert [] == DingTalkStandIn.pinged(dingtalk_server.accepted[-1])
    assert "@13800000000" not in dingtalk_server.accepted[-1]["markdown"]["text"]


def test_huge_input_stays_within_the_size_limit(dingtalk_server: DingTalkStandIn) -> None:
    """A 100 KB CJK traceback and a long title: accepted (≤ 20,000 bytes)."""
    event = make_event(title="训练失败" * 500, message="梯度" * 20_000, details={"traceback": "训练\n" * 30_000})
    assert "delivered" == send_once(_channel(dingtalk_server), make_notification(event)).verdict


def test_configuration_errors() -> None:
    with pytest.raises(ConfigError) as info:
        DingTalk()
    assert "webhook_url" == info.value.field
    with pytest.raises(ConfigError) as info:
        DingTalk(webhook_url=f"https://oapi.dingtalk.com/robot/send?access_token={DINGTALK_TOKEN}", access_token="x" * 10)
    assert "access_token" == info.value.field
    with pytest.raises(ConfigError) as info:
        DingTalk(webhook_url=f"http://oapi.example.com/robot/send?access_token={DINGTALK_TOKEN}")
    assert "webhook_url" == info.value.field
    with pytest.raises(ConfigError) as info:
        DingTalk(access_token="x" * 10, mention_min_severity="loud")
    assert "mention_min_severity" == info.value.field
