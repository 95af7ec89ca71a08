"""WeCom channel against a stand-in robot that enforces SERVICES.md (HTTP 200 + errcode)."""

from __future__ import annotations

import base64
import hashlib
import logging

import pytest

from alertcb.channels import WeCom
from alertcb.errors import ConfigError
from alertcb.notification import Attachment
from tests.conftest_services import (
    WECOM_KEY,
    Reply,
    WeComError,
    WeComStandIn,
    free_port,
    make_event,
    make_notification,
    send_once,
)

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def wecom(server: WeComStandIn, **kwargs: object) -> WeCom:
    return WeCom(key=WECOM_KEY, webhook_url=server.url, **kwargs)  # type: ignore[arg-type]


def test_markdown_is_the_default_with_colour_by_severity(wecom_server: WeComStandIn) -> None:
    """A critical alert goes out as markdown, headline first, coloured 'warning'."""
    outcome = send_once(wecom(wecom_server), make_notification())
    assert "delivered" == outcome.verdict
    (payload,) = wecom_server.accepted
    assert "markdown" == payload["msgtype"]
    content = payload["markdown"]["content"]
    first = content.splitlines()[0]
    assert first.startswith("🔴 **exp42 · <font color=\"warning\">loss is NaN</font>**")
    assert "at epoch 3, step 1,234" in first
    assert "loss=NaN" in content and "median: 0.4131" in content
    assert "host gpu\\-07" not in content and "host gpu-07" in content


@pytest.mark.parametrize(
    ("severity", "status", "colour"),
    [("critical", "firing", "warning"), ("warning", "firing", "warning"), ("info", "firing", "comment"), ("critical", "resolved", "info")],
)
def test_colour_follows_severity_and_resolution(wecom_server: WeComStandIn, severity: str, status: str, colour: str) -> None:
    """Resolved alerts are green (info); info is grey (comment); the rest red/orange (warning)."""
    send_once(wecom(wecom_server), make_notification(make_event(severity=severity, status=status)))
    assert f'<font color="{colour}">loss is NaN' in wecom_server.accepted[0]["markdown"]["content"]


def test_critical_mentions_everyone_as_text(wecom_server: WeComStandIn) -> None:
    """With mention_all_on_critical, a critical alert is a text message mentioning @all."""
    channel = wecom(wecom_server, mention_all_on_critical=True, mentioned_mobile_list=["13800000000"])
    assert "delivered" == send_once(channel, make_notification()).verdict
    payload = wecom_server.accepted[0]
    assert "text" == payload["msgtype"]
    assert ["@all"] == payload["text"]["mentioned_list"]
    assert ["13800000000"] == payload["text"]["mentioned_mobile_list"]
    assert payload["text"]["content"].startswith("🔴 exp42 · loss is NaN at epoch 3, step 1,234")


def test_warnings_and_resolves_do_not_mention(wecom_server: WeComStandIn) -> None:
    """Below mention_min_severity, and for resolves, the default markdown is used."""
    channel = wecom(wecom_server, mention_all_on_critical=True, mentioned_list=["zhangsan"])
    send_once(channel, make_notification(make_event(severity="warning")))
    send_once(channel, make_notification(make_event(status="resolved")))
    assert ["markdown", "markdown"] == [p["msgtype"] for p in wecom_server.accepted]


def test_mention_min_severity_lowers_the_bar(wecom_server: WeComStandIn) -> None:
    """mention_min_severity='warning' mentions the listed users for warnings."""
    channel = wecom(wecom_server, mentioned_list=["zhangsan"], mention_min_severity="warning")
    send_once(channel, make_notification(make_event(severity="warning")))
    assert ["zhangsan"] == wecom_server.accepted[0]["text"]["mentioned_list"]


def test_markdown_v2_has_no_colour_tags(wecom_server: WeComStandIn) -> None:
    """msgtype='markdown_v2' renders its own template (no <font>, which v2 shows literally)."""
    send_once(wecom(wecom_server, msgtype="markdown_v2"), make_notification())
    payload = wecom_server.accepted[0]
    assert "markdown_v2" == payload["msgtype"]
    assert "<font" not in payload["markdown_v2"]["content"]


@pytest.mark.parametrize(("mention", "limit"), [(False, 4096), (True, 2048)])
def test_long_chinese_text_is_cut_to_the_byte_limit(wecom_server: WeComStandIn, mention: bool, limit: int) -> None:
    """100 KB of 3-byte characters still fits (bytes, cut on a code-point boundary)."""
    event = make_event(message="训练失败" * 10_000, title="损失函数变成 NaN" * 50, details={"traceback": "帧\n" * 5000})
    channel = wecom(wecom_server, mention_all_on_critical=mention)
    assert "delivered" == send_once(channel, make_notification(event)).verdict
    payload = wecom_server.accepted[0]
    content = payload[payload["msgtype"]]["content"]
    assert len(content.encode("utf-8")) <= limit
    assert content.startswith("🔴")


def test_image_attachment_follows_as_an_image_message(wecom_server: WeComStandIn) -> None:
    """A PNG attachment is sent after the text as base64 + md5 of the raw bytes."""
    note = make_notification(attachments=(Attachment("loss.png", "image/png", PNG, "loss-curve"),))
    assert "delivered" == send_once(wecom(wecom_server), note).verdict
    text, image = wecom_server.accepted
    assert "markdown" == text["msgtype"]
    assert "image" == image["msgtype"]
    assert PNG == base64.b64decode(image["image"]["base64"])
    assert hashlib.md5(PNG).hexdigest() == image["image"]["md5"]


def test_oversized_image_is_skipped_and_logged(wecom_server: WeComStandIn, caplog: pytest.LogCaptureFixture) -> None:
    """Images over 2 MB are not sent (WeCom would reject them); the text still is."""
    big = Attachment("huge.png", "image/png", b"\x89PNG" + b"\0" * (2 * 1024 * 1024))
    with caplog.at_level(logging.WARNING, logger="alertcb"):
        assert "delivered" == send_once(wecom(wecom_server), make_notification(attachments=(big,))).verdict
    assert 1 == len(wecom_server.requests)
    assert "huge.png skipped" in caplog.text


def test_failed_image_does_not_fail_the_delivered_text(wecom_server: WeComStandIn) -> None:
    """The text arrived, so an image failure is logged, not retried (a retry would repeat the text)."""
    wecom_server.fail_next(Reply(200, {}, {"errcode": 0}), WeComError(45009))
    note = make_notification(attachments=(Attachment("loss.png", "image/png", PNG),))
    assert "delivered" == send_once(wecom(wecom_server), note).verdict


@pytest.mark.parametrize(
    ("errcode", "verdict"),
    [
        (0, "delivered"),
        (45009, "retry"),
        (-1, "retry"),
        (45033, "retry"),
        (93000, "permanent"),
        (93004, "permanent"),
        (93008, "permanent"),
        (40008, "permanent"),
        (44004, "permanent"),
        (45002, "permanent"),
        (12345, "permanent"),
    ],
)
def test_errcode_table(wecom_server: WeComStandIn, errcode: int, verdict: str) -> None:
    """HTTP 200 is not success: the errcode decides delivered / retry / permanent."""
    wecom_server.fail_next(WeComError(errcode))
    outcome = send_once(wecom(wecom_server), make_notification())
    assert verdict == outcome.verdict
    if errcode:
        assert f"errcode {errcode}" in outcome.reason


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        (Reply(500, {}, "oops"), "retry"),
        (Reply(502, {}, ""), "retry"),
        (Reply(429, {"Retry-After": "3"}, ""), "retry"),
        (Reply(404, {}, "not found"), "permanent"),
        (Reply(200, {}, "<html>proxy</html>"), "retry"),
        (Reply(200, {}, {"errmsg": "ok"}), "retry"),
    ],
)
def test_http_status_table(wecom_server: WeComStandIn, reply: Reply, verdict: str) -> None:
    """Non-200 answers use the HTTP classification; a 200 without errcode is not success."""
    wecom_server.fail_next(reply)
    assert verdict == send_once(wecom(wecom_server), make_notification()).verdict


def test_robot_rate_limit_gives_45009_and_a_retry(wecom_server: WeComStandIn) -> None:
    """The stand-in allows 20 messages a minute; the 21st is errcode 45009 → retry."""
    channel = wecom(wecom_server)
    verdicts = [send_once(channel, make_notification()).verdict for _ in range(21)]
    assert ["delivered"] * 20 + ["retry"] == verdicts
    assert 45009 == wecom_server.errcodes[-1]
    assert 20 == WeCom.default_rate_limit_per_min


def test_wrong_key_is_permanent(wecom_server: WeComStandIn) -> None:
    """A removed robot / bad key (93000) is not retried."""
    channel = WeCom(key="another-key-000", webhook_url=wecom_server.url)
    outcome = send_once(channel, make_notification())
    assert ("permanent", "WeCom errcode 93000: invalid webhook URL or robot removed") == (outcome.verdict, outcome.reason)


@pytest.mark.parametrize("fault", ["hang", "reset"])
def test_network_faults_are_retryable(wecom_server: WeComStandIn, fault: str) -> None:
    """A hung robot times out and a reset connection fails: both are retried."""
    wecom_server.fail_next(fault)
    outcome = send_once(wecom(wecom_server), make_notification(), timeout_s=0.5)
    assert "retry" == outcome.verdict


def test_connection_refused_is_retryable() -> None:
    """Nothing listening: retry."""
    channel = WeCom(key=WECOM_KEY, webhook_url=f"http://127.0.0.1:{free_port()}/cgi-bin/webhook/send")
    assert "retry" == send_once(channel, make_notification()).verdict


def test_key_alone_targets_the_official_endpoint() -> None:
    """key= builds https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=… (shown redacted)."""
    assert "https://qyapi.weixin.qq.com/***" == WeCom(key=WECOM_KEY).describe()["url"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({}, "key"),
        ({"webhook_url": "http://qyapi.example.com/send?key=K"}, "webhook_url"),
        ({"key": "k1234", "webhook_url": "https://x.example/send?key=k5678"}, "key"),
        ({"key": "k1234", "msgtype": "news"}, "msgtype"),
        ({"key": "k1234", "mentioned_list": "@all"}, "mentioned_list"),
        ({"key": "k1234", "mention_min_severity": "loud"}, "mention_min_severity"),
        ({"key": "k1234", "min_severity": "loud"}, "min_severity"),
    ],
)
def test_config_errors_name_the_field(kwargs: dict[str, object], field: str) -> None:
    """Bad settings raise ConfigError naming the field, at construction."""
    with pytest.raises(ConfigError) as info:
        WeCom(**kwargs)  # type: ignore[arg-type]
    assert field == info.value.field
