"""Slack channel against a stand-in webhook that enforces block limits and its pace."""

from __future__ import annotations

import pytest

from alertcb.channels import Slack
from alertcb.channels.slack import build_payload, cut, paragraphs, pieces
from alertcb.errors import ConfigError
from alertcb.events import Event
from tests.conftest_services import Reply, SlackStandIn, free_port, make_event, make_notification, send_once


def slack(server: SlackStandIn) -> Slack:
    return Slack(webhook_url=server.url)


def test_blocks_with_header_sections_and_fallback(slack_server: SlackStandIn) -> None:
    """A header block, mrkdwn sections and a text fallback; 200 'ok' is delivered."""
    assert "delivered" == send_once(slack(slack_server), make_notification()).verdict
    (payload,) = slack_server.accepted
    header, *sections = payload["blocks"]
    assert {"type": "plain_text", "text": "🔴 exp42 · loss is NaN", "emoji": True} == header["text"]
    assert all("section" == s["type"] and "mrkdwn" == s["text"]["type"] for s in sections)
    assert sections[0]["text"]["text"].startswith("*loss is NaN* at epoch 3, step 1,234")
    assert "🔴 exp42 · loss is NaN at epoch 3, step 1,234" == payload["text"]


def test_mrkdwn_escapes_exactly_amp_lt_gt(slack_server: SlackStandIn) -> None:
    """User text has & < > escaped (no injected <!channel> or links) and nothing else."""
    event = make_event(title="x <!channel> & *bold*", message="a<b>c & d_e")
    send_once(slack(slack_server), make_notification(event))
    body = "\n".join(b["text"]["text"] for b in slack_server.accepted[0]["blocks"][1:])
    assert "x &lt;\u2060!channel&gt; &amp; *bold*" in body  # escaped, and the mention made inert
    assert "a&lt;b&gt;c &amp; d_e" in body
    assert "<!channel>" not in body


def test_link_url_becomes_a_link(slack_server: SlackStandIn) -> None:
    """link_url is rendered as <url|Open run> with & escaped inside."""
    send_once(slack(slack_server), make_notification(), link_url="https://dash.example/run?a=1&b=2")
    body = slack_server.accepted[0]["blocks"][-1]["text"]["text"]
    assert "<https://dash.example/run?a=1&amp;b=2|Open run>" in body


def test_huge_notification_stays_within_every_limit(slack_server: SlackStandIn) -> None:
    """A 200 KB traceback, 500 metrics and a 300-event digest are still a valid payload."""
    traceback = "\n".join(f'  File "train.py", line {i}, in step\n    loss = model(x) & <tensor>' for i in range(3000))
    head = make_event(
        title="T" * 500,
        message=("word " * 2000 + "\n\n") * 30,
        metrics={f"m{i}": i / 7 for i in range(500)},
        details={"traceback": traceback, **{f"d{i}": "v" * 400 for i in range(60)}},
    )
    others = [make_event(title=f"incident {i}", severity="warning") for i in range(300)]
    outcome = send_once(slack(slack_server), make_notification(head, *others, suppressed=10**9, digest=True))
    assert "delivered" == outcome.verdict, slack_server.invalid
    payload = slack_server.accepted[0]
    assert len(payload["blocks"]) <= 50
    assert len(payload["blocks"][0]["text"]["text"]) <= 150


@pytest.mark.parametrize(
    ("reply", "verdict", "retry_after_s"),
    [
        (Reply(200, {}, "ok"), "delivered", None),
        (Reply(400, {}, "invalid_payload"), "permanent", None),
        (Reply(400, {}, "user_not_found"), "permanent", None),
        (Reply(403, {}, "action_prohibited"), "permanent", None),
        (Reply(404, {}, "channel_not_found"), "permanent", None),
        (Reply(404, {}, "no_service"), "permanent", None),
        (Reply(410, {}, "channel_is_archived"), "permanent", None),
        (Reply(429, {"Retry-After": "7"}, "rate_limited"), "retry", 7.0),
        (Reply(500, {}, "rollup_error"), "retry", None),
        (Reply(503, {}, ""), "retry", None),
        (Reply(200, {}, "<html>captive portal</html>"), "permanent", None),
    ],
)
def test_status_table(slack_server: SlackStandIn, reply: Reply, verdict: str, retry_after_s: float | None) -> None:
    """Only 5xx, 429 (with its Retry-After) and network errors are retried."""
    slack_server.fail_next(reply)
    outcome = send_once(slack(slack_server), make_notification())
    assert (verdict, retry_after_s) == (outcome.verdict, outcome.retry_after_s)
    if verdict != "delivered":
        assert reply.encoded().decode()[:20] in outcome.reason


def test_past_its_pace_slack_answers_429_with_retry_after(slack_server: SlackStandIn) -> None:
    """The stand-in allows a burst of 3 then 1/s: the 4th quick message gets 429 + Retry-After."""
    channel = slack(slack_server)
    outcomes = [send_once(channel, make_notification()) for _ in range(4)]
    assert ["delivered"] * 3 + ["retry"] == [o.verdict for o in outcomes]
    assert outcomes[-1].retry_after_s is not None and outcomes[-1].retry_after_s >= 1
    assert 60 == Slack.default_rate_limit_per_min


def test_revoked_webhook_is_permanent(slack_server: SlackStandIn) -> None:
    """A wrong/revoked token answers 404 no_service: not retried."""
    channel = Slack(webhook_url=slack_server.base_url + "/services/T000/B000/revoked-token")
    outcome = send_once(channel, make_notification())
    assert ("permanent", "HTTP 404: no_service") == (outcome.verdict, outcome.reason)


@pytest.mark.parametrize("fault", ["hang", "reset"])
def test_network_faults_are_retryable(slack_server: SlackStandIn, fault: str) -> None:
    """Hang (timeout) and reset are retried."""
    slack_server.fail_next(fault)
    assert "retry" == send_once(slack(slack_server), make_notification(), timeout_s=0.5).verdict


def test_connection_refused_is_retryable() -> None:
    """Nothing listening: retry."""
    channel = Slack(webhook_url=f"http://127.0.0.1:{free_port()}/services/T/B/xxxxxxxxxx")
    assert "retry" == send_once(channel, make_notification()).verdict


def test_config_rejects_plain_http_to_a_remote_host() -> None:
    """http:// only to loopback unless allow_insecure_http; the URL is not echoed."""
    url = "http://hooks.example.com/services/T/B/s3cret-token-value"
    with pytest.raises(ConfigError) as info:
        Slack(webhook_url=url)
    assert "webhook_url" == info.value.field
    assert "s3cret-token-value" not in str(info.value)
    assert Slack(webhook_url=url, allow_insecure_http=True).describe()["webhook_url"] == "http://hooks.example.com/***"


# --- the block builder -----------------------------------------------------------------------


def test_paragraphs_split_on_blank_lines_but_not_inside_code_fences() -> None:
    """A traceback with blank lines stays in one code block."""
    text = "one\n\n```\na\n\nb\n```\n\n\nthree"
    assert ["one", "```\na\n\nb\n```", "three"] == paragraphs(text)


def test_long_code_block_is_split_with_fences_reopened() -> None:
    """Each piece of a long fenced block is itself a closed fence, ≤ 3000 chars."""
    block = "```\n" + "\n".join("x" * 100 for _ in range(100)) + "\n```"
    parts = pieces(block)
    assert len(parts) > 1
    assert all(len(p) <= 3000 and p.startswith("```") and p.endswith("```") for p in parts)


def test_cut_never_splits_an_entity_or_a_link() -> None:
    """Cutting escaped text drops a partial &amp; and an unclosed <link>."""
    assert not cut("a" * 10 + "&amp;" * 10, 14).rstrip("…").endswith("&am")
    assert "<" not in cut("b" * 10 + "<https://example.com/" + "c" * 50 + "|x>", 30)
    assert "short" == cut("short", 10)


def test_more_than_fifty_paragraphs_are_capped() -> None:
    """At most 50 blocks; the last says how many sections were left out."""
    payload = build_payload("h", "\n\n".join(f"p{i}" for i in range(80)), "fallback")
    assert 50 == len(payload["blocks"])
    assert "_… 32 more section(s) omitted_" == payload["blocks"][-1]["text"]["text"]


def test_empty_header_is_left_out() -> None:
    """An empty header would be invalid: no header block then."""
    assert "section" == build_payload("", "body", "fb")["blocks"][0]["type"]


def test_resolved_header(slack_server: SlackStandIn) -> None:
    """A resolve is marked in the header with ✅."""
    send_once(slack(slack_server), make_notification(make_event(status="resolved")))
    assert "✅ exp42 · loss is NaN (resolved)" == slack_server.accepted[0]["blocks"][0]["text"]["text"]


def test_event_without_run(slack_server: SlackStandIn) -> None:
    """An event with no run info still renders."""
    send_once(slack(slack_server), make_notification(Event(kind="custom", title="hello")))
    assert slack_server.accepted
