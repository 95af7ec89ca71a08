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


# --- the chat channels (DingTalk, Feishu/Lark, Teams, Discord, Telegram) -----------------------

@SETTINGS
@given(notifications(), st.booleans())
def test_dingtalk_payload_within_limits(note: Notification, mention: bool) -> None:
    """≤ 20,000 bytes, a title, valid UTF-8, and only configured mentions for any input."""
    from alertcb.channels import DingTalk
    from tests.channels.services2 import DingTalkStandIn

    channel = DingTalk(access_token="t" * 20, keyword="训练", at_mobiles=["13800000000"] if mention else [])
    payload = channel.build_payload(note, CTX)
    raw = _strict_utf8(json.dumps(payload, ensure_ascii=False, separators=(",", ":")))
    assert len(raw) <= 20_000 and payload["markdown"]["title"] and "训练" in payload["markdown"]["text"]
    assert set(DingTalkStandIn.pinged(payload)) <= {"13800000000"}


@SETTINGS
@given(notifications())
def test_feishu_body_within_20000_bytes(note: Notification) -> None:
    from alertcb.channels import Feishu
    from alertcb.channels._chat import dumps

    payload = Feishu(webhook_url="https://open.feishu.cn/open-apis/bot/v2/hook/abcdefgh1234", secret="s3cret-0000").build_payload(note, CTX)
    assert len(dumps(payload)) <= 20_000
    content = payload["card"]["elements"][0]["content"]
    _strict_utf8(content)
    assert "<at" not in content and "<at" not in payload["card"]["header"]["title"]["content"]


@SETTINGS
@given(notifications())
def test_teams_card_valid_and_small(note: Notification) -> None:
    from alertcb.channels import Teams
    from alertcb.channels._chat import dumps
    from tests.channels.services2 import TeamsStandIn

    payload = Teams(webhook_url="https://x.logic.azure.com/workflows/1?sig=abcdefgh12345").build_payload(note, CTX)
    assert len(dumps(payload)) <= 20_000 and "" == TeamsStandIn.validate(payload)
    assert [] == TeamsStandIn.pinged(payload)


@SETTINGS
@given(notifications())
def test_discord_payload_within_limits_and_pings_nobody(note: Notification) -> None:
    from alertcb.channels import Discord
    from tests.channels.services2 import DiscordStandIn

    payload = Discord(webhook_url="https://discord.com/api/webhooks/1/abcdefghijklmnop1234").build_payload(note, CTX)
    _strict_utf8(json.dumps(payload, ensure_ascii=False))
    assert {} == DiscordStandIn.validate(payload)
    embed = payload["embeds"][0]
    assert [] == DiscordStandIn.resolve_pings(payload)
    assert [] == DiscordStandIn.resolve_pings({"content": embed["title"] + embed["description"]})


@SETTINGS
@given(notifications())
def test_telegram_html_parses_within_4096_units(note: Notification) -> None:
    """Telegram's strict parser accepts the HTML, and the visible text is ≤ 4096 UTF-16 units."""
    from alertcb.channels import Telegram
    from alertcb.channels._chat import utf16_len
    from tests.channels.services2 import parse_telegram_html

    payload = Telegram(bot_token="123456:" + "A" * 30, chat_id="-1").build_payload(note, CTX)
    visible, error = parse_telegram_html(payload["text"])
    assert "" == error and 0 < utf16_len(visible) <= 4096
    assert utf16_len(payload["text"]) <= 4096


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(ANY_CHAR, SPECIALS, st.sampled_from(["<b>", "</b>", "<pre>", "&amp;", "😀"]))).map("".join), st.integers(2, 5000))
def test_cut_html_closes_tags_and_keeps_entities(text: str, limit: int) -> None:
    """cut_html on escaped text wrapped in tags: within the limit, parseable, a prefix when cut."""
    from alertcb.channels._chat import cut_html, html_escape, utf16_len, visible_html
    from tests.channels.services2 import parse_telegram_html

    markup = f"<b>{html_escape(text)}</b><pre>{html_escape(text)}</pre>"
    out = cut_html(markup, max(limit, 20))
    assert utf16_len(out) <= max(limit, 20)
    assert "" == parse_telegram_html(out)[1]
    assert visible_html(markup).startswith(visible_html(out).removesuffix("…"))


@settings(max_examples=300, deadline=None)
@given(st.text(ANY_CHAR))
def test_no_escaper_lets_a_mention_through(text: str) -> None:
    """Whatever the text, no escaper's output holds @all, @everyone, <@, <at or <!."""
    from alertcb.channels._chat import html_escape, lark_escape, md_escape, plain

    hostile = text + "@all @everyone @here <@1> <@&2> <at id=all></at> <!channel>"
    for escape in (md_escape, lark_escape, html_escape, plain):
        out = escape(hostile)
        for needle in ("@all", "@everyone", "@here", "<@", "<at", "<!"):
            assert needle not in out, (escape.__name__, needle)
