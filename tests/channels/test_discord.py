"""Discord webhook against the stand-in: ?wait=true, embed limits, allowed_mentions (nothing
pings unless configured), 429 retry_after (float, body and header), the error codes."""

from __future__ import annotations

import pytest

from alertcb.channels import Discord
from alertcb.channels.discord import classify_response, with_wait
from alertcb.errors import ConfigError
from tests.channels.services2 import DiscordStandIn
from tests.conftest_services import make_event, make_notification, send_once


def test_posted_with_wait_true(discord_server: DiscordStandIn) -> None:
    outcome = send_once(Discord(webhook_url=discord_server.url + "?thread_id=42"), make_notification())
    assert "delivered" == outcome.verdict, outcome.reason
    request = discord_server.requests[-1]
    assert {"wait": "true", "thread_id": "42"} == request.query and 0 == discord_server.without_wait
    (body,) = discord_server.accepted
    assert "loss is NaN" in body["embeds"][0]["title"] and {"parse": [], "users": [], "roles": []} == body["allowed_mentions"]


def test_with_wait_replaces_an_existing_wait() -> None:
    assert with_wait("https://d/api/webhooks/1/t?wait=false&x=1") == "https://d/api/webhooks/1/t?x=1&wait=true"


def test_nothing_pings_unless_configured(discord_server: DiscordStandIn) -> None:
    hostile = "@everyone @here <@80351110224678912> <@&123> <@!42>"
    channel = Discord(webhook_url=discord_server.url, mention_user_ids=["111"], mention_role_ids=["222"], mention_everyone_on_critical=True)
    plain = Discord(webhook_url=discord_server.url)
    for ch, severity in ((channel, "critical"), (channel, "warning"), (plain, "critical")):
        note = make_notification(make_event(title=hostile, message=hostile, severity=severity, details={"who": hostile}))
        assert "delivered" == send_once(ch, note).verdict
    assert [["everyone", "user:111", "role:222"], [], []] == discord_server.pings
    for body in discord_server.accepted:  # and even without allowed_mentions the text holds no live mention
        text = body["embeds"][0]["title"] + body["embeds"][0]["description"]
        assert [] == DiscordStandIn.resolve_pings({"content": text})


def test_huge_input_within_embed_limits(discord_server: DiscordStandIn) -> None:
    event = make_event(title="😀" * 3000, message="**x**" * 5000, details={"traceback": "```\n" * 3000})
    assert "delivered" == send_once(Discord(webhook_url=discord_server.url), make_notification(event)).verdict


def test_bucket_429_is_honoured(discord_server: DiscordStandIn) -> None:
    channel = Discord(webhook_url=discord_server.url)
    outcomes = [send_once(channel, make_notification()) for _ in range(6)]
    assert ["delivered"] * 5 + ["retry"] == [o.verdict for o in outcomes]
    assert 1.0 == outcomes[-1].retry_after_s


@pytest.mark.parametrize(
    ("status", "headers", "body", "verdict", "retry_after"),
    [
        (200, {}, '{"id":"1"}', "delivered", None),
        (204, {}, "", "delivered", None),
        (429, {}, '{"retry_after":0.53,"global":false}', "retry", 0.53),
        (429, {"retry-after": "2"}, '{"retry_after":1.5,"global":true}', "retry", 2.0),
        (429, {"retry-after": "1"}, '{"retry_after":530,"global":false}', "retry", 1.0),  # milliseconds, once seen
        (429, {"retry-after": "3"}, "", "retry", 3.0),
        (400, {}, '{"code":50035,"message":"Invalid Form Body"}', "permanent", None),
        (400, {}, '{"code":50006,"message":"Cannot send an empty message"}', "permanent", None),
        (401, {}, '{"code":50027,"message":"Invalid Webhook Token"}', "permanent", None),
        (404, {}, '{"code":10015,"message":"Unknown Webhook"}', "permanent", None),
        (500, {}, "oops", "retry", None),
        (502, {}, '{"code":0}', "retry", None),
    ],
)
def test_every_answer_is_classified(status: int, headers: dict[str, str], body: str, verdict: str, retry_after: float | None) -> None:
    outcome = classify_response(status, headers, body)
    assert (verdict, retry_after) == (outcome.verdict, outcome.retry_after_s)


@pytest.mark.parametrize(
    ("url", "code"),
    [(lambda s: s.url.replace(s.token, "CANARYsecret7f3a9cWrongToken0000"), "50027"), (lambda s: s.url.replace(s.webhook_id, "999"), "10015")],
)
def test_bad_webhook_is_permanent(discord_server: DiscordStandIn, url, code: str) -> None:  # type: ignore[no-untyped-def]
    outcome = send_once(Discord(webhook_url=url(discord_server)), make_notification())
    assert "permanent" == outcome.verdict and code in outcome.reason


def test_configuration_errors() -> None:
    url = "https://discord.com/api/webhooks/1/abcdefghijklmnop1234"
    for kwargs, field in (({"username": "Discord bot"}, "username"), ({"mention_user_ids": ["@bob"]}, "mention_user_ids[0]")):
        with pytest.raises(ConfigError) as info:
            Discord(webhook_url=url, **kwargs)  # type: ignore[arg-type]
        assert field == info.value.field
