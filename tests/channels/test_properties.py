"""Property-based tests: any Unicode input yields payloads within every limit, valid UTF-8,
with escaping that round-trips."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alertcb.channels import Email, PagerDuty, Slack, WeCom
from alertcb.channels.base import SendContext
from alertcb.channels.slack import cut, slack_len
from alertcb.events import Event, RunInfo
from alertcb.filters import md_escape, slack_escape, slack_unescape, strip_control, truncate_bytes
from alertcb.notification import Notification
from alertcb.render import Renderer
from tests.conftest_services import PD_ROUTING_KEY, PagerDutyStandIn, SlackStandIn

#: Every code point, surrogates and controls included; biased to markup specials and CJK.
ANY_CHAR = st.characters(exclude_categories=())
SPECIALS = st.sampled_from(list("&<>*_`~|[]#\\\r\n\t\x00") + ["训", "练", "😀", "&amp;", "<!channel>", "```", "\u200b"])
TEXT = st.lists(st.one_of(ANY_CHAR, SPECIALS), max_size=200).map("".join)
LONG_TEXT = st.one_of(TEXT, TEXT.map(lambda s: s * 50))

CTX = SendContext(None, Renderer(link_url="https://dash.example/?a=1&b=<2>").render, 1.0)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def notifications(draw: st.DrawFn) -> Notification:
    run = RunInfo(name=draw(TEXT) or "r", host=draw(TEXT), worker=draw(st.one_of(st.none(), TEXT)), labels={"k": draw(TEXT)})
    event = Event(
        kind=draw(st.sampled_from(["nonfinite", "spike", "crash", "custom", "threshold"])),
        title=draw(LONG_TEXT),
        message=draw(LONG_TEXT),
        severity=draw(st.sampled_from(["info", "warning", "critical"])),
        status=draw(st.sampled_from(["firing", "resolved"])),
        run=run,
        epoch=draw(st.one_of(st.none(), st.integers(0, 10**6))),
        step=draw(st.one_of(st.none(), st.integers(0, 10**12))),
        metrics={draw(TEXT): draw(st.floats(allow_nan=True, allow_infinity=True)) for _ in range(draw(st.integers(0, 3)))},
        details={draw(TEXT): draw(st.one_of(LONG_TEXT, st.floats(), st.integers())) for _ in range(draw(st.integers(0, 3)))},
    )
    extra = [Event(kind="custom", title=draw(TEXT), run=run) for _ in range(draw(st.integers(0, 3)))]
    return Notification(events=(event, *extra), suppressed=draw(st.integers(0, 10**9)), digest=bool(extra))


def _strict_utf8(text: str) -> bytes:
    return text.encode("utf-8")  # raises on a lone surrogate


@SETTINGS
@given(notifications(), st.sampled_from(["markdown", "markdown_v2", "text"]), st.booleans())
def test_wecom_payload_within_byte_limits(note: Notification, msgtype: str, mention: bool) -> None:
    """WeCom content is ≤ 4096/2048 UTF-8 bytes, valid UTF-8 and non-empty for any input."""
    channel = WeCom(key="k" * 20, msgtype=msgtype, mention_all_on_critical=mention)
    payload: Any = channel.build_payload(note, CTX)
    content = payload[payload["msgtype"]]["content"]
    limit = 2048 if payload["msgtype"] == "text" else 4096
    assert 0 < len(_strict_utf8(content)) <= limit
    json.loads(json.dumps(payload, ensure_ascii=False))


@SETTINGS
@given(notifications())
def test_slack_payload_valid_for_any_input(note: Notification) -> None:
    """The Slack stand-in's validator accepts every payload; all text is valid UTF-8."""
    payload = Slack(webhook_url="https://hooks.slack.com/services/T/B/xxxxxxxx").build_payload(note, CTX)
    raw = json.dumps(payload, ensure_ascii=False)
    _strict_utf8(raw)
    assert "" == SlackStandIn.validate(raw.encode())


@SETTINGS
@given(notifications())
def test_pagerduty_events_valid_for_any_input(note: Notification) -> None:
    """Every PagerDuty event passes the stand-in's field validation (summary ≤ 1024, …)."""
    stand_in = PagerDutyStandIn(PD_ROUTING_KEY)
    stand_in.server.server_close()
    for body in PagerDuty(routing_key=PD_ROUTING_KEY).build_events(note, CTX):
        raw = json.dumps(body, ensure_ascii=False)
        assert [] == stand_in.validate(_strict_utf8(raw))


@SETTINGS
@given(notifications())
def test_email_message_for_any_input(note: Notification) -> None:
    """Any input builds a message with a one-line subject that serialises."""
    msg = Email(host="127.0.0.1", sender="a@example.com", to=["b@example.com"]).build_message(note, CTX)
    assert not re.search(r"[\r\n]", msg["Subject"])
    assert msg.as_bytes()


@settings(max_examples=300, deadline=None)
@given(st.text(ANY_CHAR))
def test_slack_escape_round_trips(text: str) -> None:
    """Escaping exactly & < > round-trips, leaves no raw < >, and every & starts an entity."""
    escaped = slack_escape(text)
    assert slack_unescape(escaped) == strip_control(text)
    assert "<" not in escaped and ">" not in escaped
    assert re.fullmatch(r"(?:[^&]|&amp;|&lt;|&gt;)*", escaped, re.S)


@settings(max_examples=300, deadline=None)
@given(st.text(ANY_CHAR))
def test_md_escape_neutralises_tags(text: str) -> None:
    """WeCom markdown: user text can never open a tag such as <font> or <@user>."""
    assert "<" not in md_escape(text) and ">" not in md_escape(text)


@settings(max_examples=300, deadline=None)
@given(st.text(ANY_CHAR), st.integers(3, 5000))
def test_truncate_bytes_limits_and_keeps_a_prefix(text: str, limit: int) -> None:
    """truncate_bytes: ≤ limit bytes (limit ≥ the 3-byte marker), valid UTF-8, a prefix of the cleaned text."""
    out = truncate_bytes(text, limit)
    raw = _strict_utf8(out)
    cleaned = strip_control(text)
    if len(cleaned.encode("utf-8")) <= limit:
        assert cleaned == out
    else:
        assert len(raw) <= limit
        assert cleaned.startswith(out.removesuffix("…"))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(ANY_CHAR, SPECIALS)).map("".join).map(slack_escape), st.integers(12, 4000))
def test_slack_cut_within_limit(text: str, limit: int) -> None:
    """cut() of escaped mrkdwn stays within the limit (UTF-16 units) and is valid UTF-8."""
    out = cut(text, limit)
    assert slack_len(out) <= limit
    _strict_utf8(out)
