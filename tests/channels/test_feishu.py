"""Feishu/Lark bot against the strict stand-in: body signature (SERVICES-2.md vector),
keyword, ``code`` in the body, 5/s and 100/min, the 20,000-byte limit, card colours, mentions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from alertcb.channels import Feishu, Lark
from alertcb.channels.feishu import classify_response, sign
from tests.channels.services2 import FEISHU_SECRET, FeishuError, FeishuStandIn
from tests.conftest_services import Reply, make_event, make_notification, send_once


def _channel(server: FeishuStandIn, cls: type[Feishu] = Feishu, **kwargs: Any) -> Feishu:
    options: dict[str, Any] = {"webhook_url": server.url, "secret": FEISHU_SECRET, "keyword": "alertcb"}
    options.update(kwargs)
    return cls(**options)


def test_signature_matches_the_documented_vector() -> None:
    assert "wIYnsu8FVaSE8x2O1maZ/0OJfPi1/3VYoTEzg9LOuC8=" == sign("fs-example-secret", "1700000000")
    channel = Feishu(webhook_url="https://open.feishu.cn/open-apis/bot/v2/hook/abcdef-123456", secret="fs-example-secret")
    assert {"timestamp": "1700000000", "sign": "wIYnsu8FVaSE8x2O1maZ/0OJfPi1/3VYoTEzg9LOuC8="} == channel.signature(1700000000)


@pytest.mark.parametrize("cls", [Feishu, Lark])
def test_signed_card_is_delivered(feishu_server: FeishuStandIn, cls: type[Feishu]) -> None:
    outcome = send_once(_channel(feishu_server, cls), make_notification())
    assert "delivered" == outcome.verdict, outcome.reason
    (body,) = feishu_server.accepted
    assert "interactive" == body["msg_type"] and "red" == body["card"]["header"]["template"]
    assert body["card"]["header"]["title"]["content"].startswith("alertcb ")


@pytest.mark.parametrize(
    ("severity", "status", "colour"),
    [("critical", "firing", "red"), ("warning", "firing", "orange"), ("info", "firing", "blue"), ("critical", "resolved", "green")],
)
def test_header_colour_follows_severity(feishu_server: FeishuStandIn, severity: str, status: str, colour: str) -> None:
    note = make_notification(make_event(severity=severity, status=status))
    assert "delivered" == send_once(_channel(feishu_server), note).verdict
    assert colour == feishu_server.accepted[0]["card"]["header"]["template"]


@pytest.mark.parametrize(("change", "code"), [({"secret": "wrong-secret-0000"}, 19021), ({"keyword": None}, 19024), ({"secret": None}, 19021)])
def test_rejections_are_permanent(feishu_server: FeishuStandIn, change: dict[str, Any], code: int) -> None:
    """A code in an HTTP 200 body is never counted as delivered."""
    outcome = send_once(_channel(feishu_server, **change), make_notification())
    assert "permanent" == outcome.verdict and str(code) in outcome.reason
    assert [code] == feishu_server.codes and not feishu_server.accepted


def test_stale_timestamp_is_refused(feishu_server: FeishuStandIn) -> None:
    feishu_server.clock = lambda: __import__("time").time() - 7200
    assert "19021" in send_once(_channel(feishu_server), make_notification()).reason


def test_five_a_second_then_rate_limited(feishu_server: FeishuStandIn) -> None:
    channel = _channel(feishu_server)
    outcomes = [send_once(channel, make_notification()) for _ in range(6)]
    assert ["delivered"] * 5 + ["retry"] == [o.verdict for o in outcomes]
    assert "11232" in outcomes[-1].reason


@pytest.mark.parametrize(
    ("status", "body", "verdict"),
    [
        (200, '{"code":0,"msg":"success","data":{}}', "delivered"),
        (200, '{"StatusCode":0,"StatusMessage":"success"}', "delivered"),
        (200, '{"code":19021,"msg":"sign match fail"}', "permanent"),
        (200, '{"code":19024,"msg":"Key Words Not Found"}', "permanent"),
        (200, '{"code":19022,"msg":"Ip Not Allowed"}', "permanent"),
        (200, '{"code":19001,"msg":"param invalid"}', "permanent"),
        (200, '{"code":11232,"msg":"frequency limited"}', "retry"),
        (400, '{"code":9499,"msg":"Bad Request"}', "permanent"),
        (200, "<html>proxy</html>", "retry"),
        (503, "unavailable", "retry"),
        (500, '{"code":500,"msg":"internal"}', "retry"),
    ],
)
def test_every_code_is_classified(status: int, body: str, verdict: str) -> None:
    assert verdict == classify_response(status, {}, body).verdict


def test_injected_faults(feishu_server: FeishuStandIn) -> None:
    feishu_server.fail_next(FeishuError(11232), FeishuError(9499), Reply(502, {}, "bad gateway"))
    channel = _channel(feishu_server)
    assert ["retry", "permanent", "retry", "delivered"] == [send_once(channel, make_notification()).verdict for _ in range(4)]


def test_body_stays_within_20000_bytes(feishu_server: FeishuStandIn) -> None:
    """CJK and markup specials grow when escaped; the body is cut to fit and still accepted."""
    details = {f"梯度{i}": "训练<爆炸>&*" * 20 for i in range(400)}  # 400 short details: all listed
    event = make_event(title="训练失败*" * 400, message="梯度<爆炸>&" * 10_000, details=details)
    channel = _channel(feishu_server)
    built = json.dumps(channel.build_payload(make_notification(event), _ctx()), ensure_ascii=False, separators=(",", ":"))
    assert 19_000 < len(built.encode()) <= 20_000  # cut to fit, not emptied
    assert "delivered" == send_once(channel, make_notification(event)).verdict
    assert len(feishu_server.requests[-1].body) <= 20_000


def test_mentions_only_on_critical_and_never_from_text(feishu_server: FeishuStandIn) -> None:
    channel = _channel(feishu_server, mention_user_ids=["ou_abc"], mention_all_on_critical=True)
    hostile = '<at user_id="all">所有人</at> <at id=all></at> @all'
    for severity in ("critical", "warning"):
        send_once(channel, make_notification(make_event(title=hostile, message=hostile, severity=severity)))
    critical, warning = (b["card"]["elements"][0]["content"] for b in feishu_server.accepted)
    assert critical.endswith("<at id=ou_abc></at> <at id=all></at>") and critical.count("<at") == 2
    assert "<at" not in warning
    assert all("<at" not in b["card"]["header"]["title"]["content"] for b in feishu_server.accepted)


def _ctx() -> Any:
    from alertcb.channels.base import SendContext
    from alertcb.render import Renderer

    return SendContext(None, Renderer().render, 1.0)


def test_many_mentions_still_fit(feishu_server: FeishuStandIn) -> None:
    """Even a long mention list leaves a body within 20,000 bytes (the text gives way)."""
    ids = [f"ou_{i:030d}" for i in range(400)]
    channel = _channel(feishu_server, mention_user_ids=ids)
    details = {f"k{i}": "训练" * 50 for i in range(300)}
    assert "delivered" == send_once(channel, make_notification(make_event(details=details))).verdict
    assert len(feishu_server.requests[-1].body) <= 20_000
