"""Only configured mentions ping, only on critical by default; hostile text never mentions anyone."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alertcb.channels import Slack, WeCom
from alertcb.errors import ConfigError
from alertcb.filters import NO_MENTION, no_mentions
from tests.conftest_services import (
    WECOM_KEY,
    SlackStandIn,
    WeComStandIn,
    make_event,
    make_notification,
    send_once,
)

HOSTILE = "<@all> @all <!channel> <!here> <@U024BE7LH> <!subteam^SAZ94GDB8> @here @channel @everyone &lt;@all&gt;"
#: A live mention in any of the services' syntaxes (raw or HTML-escaped), not followed by the word joiner.
LIVE = re.compile(r"(?:<|&lt;)[@!]|(?<![\w.])@(?:all|here|channel|everyone)\b")


def hostile_event(**fields: Any) -> Any:
    """Mention syntax everywhere text comes from: title, message, metric names, details, a traceback."""
    return make_event(
        title=f"loss {HOSTILE}",
        message=f"ValueError: {HOSTILE}\nsecond line {HOSTILE}",
        metrics={"<!channel>": 1.0, "@all": 2.0, "`<@all>`": 3.0},
        details={"note": HOSTILE, "traceback": f'Traceback\n  File "x.py", line 1, in <module>\n    raise ValueError("{HOSTILE}")\nValueError: {HOSTILE}'},
        **fields,
    )


def live_mentions(text: str) -> list[str]:
    return LIVE.findall(text)


def test_no_mentions_makes_every_syntax_inert() -> None:
    """Each service's mention syntax gets a word joiner; ordinary text and our own markup are untouched."""
    assert [] == live_mentions(no_mentions(HOSTILE))
    assert NO_MENTION in no_mentions("@all")
    for keep in ('<font color="warning">x</font>', "<https://dash.example|Open run>", "mail ml@all.example", "a < b > c"):
        assert keep == no_mentions(keep)


@pytest.mark.parametrize("msgtype", ["markdown", "markdown_v2", "text"])
def test_wecom_hostile_text_mentions_nobody(wecom_server: WeComStandIn, msgtype: str) -> None:
    """In markdown (inline code included), markdown_v2 and text, rendered text carries no live mention."""
    channel = WeCom(key=WECOM_KEY, webhook_url=wecom_server.url, msgtype=msgtype)  # type: ignore[arg-type]
    assert "delivered" == send_once(channel, make_notification(hostile_event())).verdict
    payload = wecom_server.accepted[0]
    body = payload[payload["msgtype"]]
    assert [] == live_mentions(body["content"]), body["content"]
    assert "mentioned_list" not in body and "mentioned_mobile_list" not in body


def test_wecom_mentions_only_the_configured_people_on_critical(wecom_server: WeComStandIn) -> None:
    """A critical alert with hostile text mentions exactly the configured ids; a warning mentions no one."""
    channel = WeCom(key=WECOM_KEY, webhook_url=wecom_server.url, mentioned_list=["zhangsan"], mentioned_mobile_list=["13800000000"])
    send_once(channel, make_notification(hostile_event()))
    send_once(channel, make_notification(hostile_event(severity="warning")))
    critical, warning = wecom_server.accepted
    assert (["zhangsan"], ["13800000000"]) == (critical["text"]["mentioned_list"], critical["text"]["mentioned_mobile_list"])
    assert [] == live_mentions(critical["text"]["content"])
    assert "markdown" == warning["msgtype"] and [] == live_mentions(warning["markdown"]["content"])


def slack_texts(payload: dict[str, Any]) -> list[str]:
    return [payload["text"], *(block["text"]["text"] for block in payload["blocks"])]


def test_slack_hostile_text_mentions_nobody(slack_server: SlackStandIn) -> None:
    """Header (plain_text), every section and the fallback: no live mention, and none configured → none at all."""
    assert "delivered" == send_once(Slack(webhook_url=slack_server.url), make_notification(hostile_event())).verdict
    payload = slack_server.accepted[0]
    assert "plain_text" == payload["blocks"][0]["text"]["type"]
    for text in slack_texts(payload):
        assert [] == live_mentions(text), text


@pytest.mark.parametrize(
    ("severity", "status", "mentioned"),
    [("critical", "firing", True), ("warning", "firing", False), ("info", "firing", False), ("critical", "resolved", False)],
)
def test_slack_mentions_follow_severity(slack_server: SlackStandIn, severity: str, status: str, mentioned: bool) -> None:
    """Configured mentions lead the message and the fallback on critical only (default); never on a resolve."""
    channel = Slack(webhook_url=slack_server.url, mention_here=True, mention_users=["U024BE7LH"], mention_groups=["SAZ94GDB8"])
    send_once(channel, make_notification(hostile_event(severity=severity, status=status)))
    payload = slack_server.accepted[0]
    expected = ["<!here>", "<!subteam^SAZ94GDB8>", "<@U024BE7LH>"] if mentioned else []
    assert expected == live_mentions_with_ids(payload["blocks"][1]["text"]["text"])
    assert expected == live_mentions_with_ids(payload["text"])
    assert [] == live_mentions(payload["blocks"][0]["text"]["text"])


def live_mentions_with_ids(text: str) -> list[str]:
    return re.findall(r"<[@!][^>\u2060]*>", text)


def test_slack_mention_min_severity_is_configurable(slack_server: SlackStandIn) -> None:
    """mention_min_severity='warning' pings for warnings too; mention_channel adds <!channel>."""
    channel = Slack(webhook_url=slack_server.url, mention_channel=True, mention_min_severity="warning")
    send_once(channel, make_notification(make_event(severity="warning")))
    assert slack_server.accepted[0]["text"].startswith("<!channel> ")


def test_webhook_text_is_inert_but_events_stay_exact() -> None:
    """The webhook's display text is made inert; the event data keeps the original title byte for byte."""
    import json

    from alertcb.channels import Webhook
    from alertcb.channels.base import SendContext
    from alertcb.render import Renderer

    event = hostile_event()
    body = json.loads(Webhook(url="https://hooks.example.com/x").build_body(make_notification(event), SendContext(None, Renderer().render, 1.0)))
    assert [] == live_mentions(body["text"])
    assert event.title == body["events"][0]["title"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"mention_users": ["@all"]}, "mention_users[0]"),
        ({"mention_users": "U024BE7LH"}, "mention_users"),
        ({"mention_groups": ["U024BE7LH"]}, "mention_groups[0]"),
        ({"mention_here": "yes"}, "mention_here"),
        ({"mention_min_severity": "loud"}, "mention_min_severity"),
    ],
)
def test_slack_mention_config_errors_name_the_field(kwargs: dict[str, Any], field: str) -> None:
    """Bad mention settings raise ConfigError naming the field, at construction."""
    with pytest.raises(ConfigError) as info:
        Slack(webhook_url="https://hooks.slack.com/services/T0/B0/xxxxxxxx", **kwargs)
    assert field == info.value.field


_PIECES = st.sampled_from(["<", ">", "@", "!", "&lt;", "&gt;", "all", "here", "channel", "everyone", "U024", "at ", " ", "\u2060", "x", "."])


@given(st.lists(st.one_of(_PIECES, st.text(max_size=3)), max_size=30).map("".join))
@settings(max_examples=300, deadline=None)
def test_no_mentions_leaves_no_live_mention_in_any_text(text: str) -> None:
    """Whatever the text, the result has no live mention, and applying it twice changes nothing more."""
    once = no_mentions(text)
    assert [] == live_mentions(once)
    assert once == no_mentions(once)
    assert text == once.replace(NO_MENTION, "") or NO_MENTION in text


def test_wecom_mention_in_markdown_keeps_the_layout(wecom_server: WeComStandIn) -> None:
    """mention_in_markdown: user ids as <@id> after the (inert) markdown text; @all still needs text."""
    channel = WeCom(key=WECOM_KEY, webhook_url=wecom_server.url, mentioned_list=["zhangsan", "lisi"], mention_in_markdown=True)
    send_once(channel, make_notification(hostile_event()))
    send_once(channel, make_notification(hostile_event(severity="warning")))
    loud = WeCom(key=WECOM_KEY, webhook_url=wecom_server.url, mentioned_list=["zhangsan"], mention_in_markdown=True, mention_all_on_critical=True)
    send_once(loud, make_notification(hostile_event()))
    critical, warning, everyone = wecom_server.accepted
    content = critical["markdown"]["content"]
    assert "markdown" == critical["msgtype"] and content.endswith("\n<@zhangsan> <@lisi>")
    assert ["<@zhangsan>", "<@lisi>"] == re.findall(r"<@[^>\u2060]*>", content)
    assert "<@" not in warning["markdown"]["content"].replace("<\u2060@", "")
    assert "text" == everyone["msgtype"] and ["zhangsan", "@all"] == everyone["text"]["mentioned_list"]


def test_wecom_mentioned_list_rejects_markup() -> None:
    """A user id with < or > would be markup, not an id: ConfigError naming the entry."""
    with pytest.raises(ConfigError) as info:
        WeCom(key=WECOM_KEY, mentioned_list=["ok", "<@all>"])
    assert "mentioned_list[1]" == info.value.field


def test_digests_are_inert_too(wecom_server: WeComStandIn, slack_server: SlackStandIn) -> None:
    """A digest of hostile incidents (the rate-limited path) mentions nobody in WeCom or Slack."""
    second = make_event(title=f"second {HOSTILE}", message=HOSTILE, fingerprint="b")
    note = make_notification(hostile_event(), second, digest=True)
    send_once(WeCom(key=WECOM_KEY, webhook_url=wecom_server.url), note)
    send_once(Slack(webhook_url=slack_server.url), note)
    assert [] == live_mentions(wecom_server.accepted[0]["markdown"]["content"])
    for text in slack_texts(slack_server.accepted[0]):
        assert [] == live_mentions(text), text
