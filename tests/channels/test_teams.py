"""Teams Workflows webhook against the stand-in: Adaptive Card 1.4 in a message envelope,
202 = queued, the size limit (an oversized card is silently not posted), 401/404/400, 429."""

from __future__ import annotations

import pytest

from alertcb.channels import Teams
from alertcb.channels.teams import classify_response
from alertcb.errors import ConfigError
from tests.channels.services2 import TeamsStandIn
from tests.conftest_services import Reply, make_event, make_notification, send_once


def test_card_is_queued_and_posted(teams_server: TeamsStandIn) -> None:
    outcome = send_once(Teams(webhook_url=teams_server.url), make_notification())
    assert "delivered" == outcome.verdict, outcome.reason
    (card,) = (b["attachments"][0]["content"] for b in teams_server.posted)
    assert ("AdaptiveCard", "1.4") == (card["type"], card["version"])
    assert "Attention" == card["body"][0]["color"] and "loss is NaN" in card["body"][0]["text"]


@pytest.mark.parametrize(
    ("url", "verdict", "words"),
    [
        (lambda s: s.url.replace(f"sig={s.sig}", "sig=wrong-signature-0"), "permanent", "bad sig"),
        (lambda s: s.url.replace("&sig=" + s.sig, ""), "permanent", "bad sig"),
        (lambda s: s.url.replace("0a1b2c3d4e5f", "ffffffffffff"), "permanent", "flow deleted"),
    ],
)
def test_auth_and_missing_flow_are_permanent(teams_server: TeamsStandIn, url, verdict: str, words: str) -> None:  # type: ignore[no-untyped-def]
    outcome = send_once(Teams(webhook_url=url(teams_server)), make_notification())
    assert verdict == outcome.verdict and words in outcome.reason


@pytest.mark.parametrize(
    ("status", "headers", "verdict", "retry_after"),
    [
        (202, {}, "delivered", None),
        (200, {}, "delivered", None),
        (429, {"retry-after": "7"}, "retry", 7.0),
        (500, {}, "retry", None),
        (503, {"retry-after": "2"}, "retry", 2.0),
        (400, {}, "permanent", None),
        (401, {}, "permanent", None),
        (404, {}, "permanent", None),
    ],
)
def test_every_status_is_classified(status: int, headers: dict[str, str], verdict: str, retry_after: float | None) -> None:
    outcome = classify_response(status, headers, "")
    assert (verdict, retry_after) == (outcome.verdict, outcome.retry_after_s)


def test_rate_limit_answers_429_with_retry_after(teams_server: TeamsStandIn) -> None:
    channel = Teams(webhook_url=teams_server.url)
    outcomes = [send_once(channel, make_notification()) for _ in range(5)]
    assert ["delivered"] * 4 + ["retry"] == [o.verdict for o in outcomes]
    assert 1.0 == outcomes[-1].retry_after_s


def test_huge_input_is_posted_not_silently_dropped(teams_server: TeamsStandIn) -> None:
    """The flow drops > 28 KB cards after answering 202; the channel keeps cards ≤ 20 KB."""
    event = make_event(title="训练" * 2000, message="x*_[" * 20_000, details={"traceback": "File <module>\n" * 4000})
    teams_server.fail_next(Reply(400, {}, "schema mismatch"))
    channel = Teams(webhook_url=teams_server.url)
    assert "permanent" == send_once(channel, make_notification(event)).verdict
    assert "delivered" == send_once(channel, make_notification(event)).verdict
    assert 1 == len(teams_server.posted) and not teams_server.dropped
    assert len(teams_server.requests[-1].body) <= 20_000


def test_mentions_only_configured_and_on_critical(teams_server: TeamsStandIn) -> None:
    channel = Teams(webhook_url=teams_server.url, mention_users=["ada@contoso.com"])
    hostile = "<at>Bob</at> @all <at id=all></at>"
    for severity in ("critical", "warning"):
        send_once(channel, make_notification(make_event(title=hostile, message=hostile, severity=severity)))
    assert [["ada@contoso.com"], []] == [TeamsStandIn.pinged(b) for b in teams_server.posted]
    texts = [" ".join(b["text"] for b in p["attachments"][0]["content"]["body"]) for p in teams_server.posted]
    assert texts[0].count("<at>") == 1 and "<at>" not in texts[1]


def test_configuration_errors() -> None:
    with pytest.raises(ConfigError) as info:
        Teams(webhook_url="http://prod.logic.azure.com/workflows/x?sig=abcdefgh1234")
    assert "webhook_url" == info.value.field
    with pytest.raises(ConfigError) as info:
        Teams(webhook_url="https://prod.logic.azure.com/x", mention_users=["<b>"])
    assert "mention_users[0]" == info.value.field
