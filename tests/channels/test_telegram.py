"""Telegram sendMessage against the stand-in (a strict HTML parser): escaping, ≤ 4096 UTF-16
units, 429 parameters.retry_after, the 400/401/403/404 answers, a masked token."""

from __future__ import annotations

import pytest

from alertcb.channels import Telegram
from alertcb.channels.telegram import classify_response
from alertcb.errors import ConfigError
from tests.channels.services2 import TELEGRAM_CHAT, TELEGRAM_TOKEN, TelegramStandIn, parse_telegram_html
from tests.conftest_services import free_port, make_event, make_notification, send_once

TRACEBACK = 'Traceback (most recent call last):\n  File "train.py", line 3, in <module>\n    fit(x & y)\nValueError: <bad> & "worse"'


def _channel(server: TelegramStandIn, **kwargs: object) -> Telegram:
    return Telegram(bot_token=TELEGRAM_TOKEN, chat_id=TELEGRAM_CHAT, api_url=server.api_url, **kwargs)  # type: ignore[arg-type]


def test_traceback_with_module_parses(telegram_server: TelegramStandIn) -> None:
    """`<module>` and `&` in a traceback are escaped: the strict parser accepts and shows them verbatim."""
    note = make_notification(make_event(title="crash <module> & co", details={"traceback": TRACEBACK}))
    outcome = send_once(_channel(telegram_server), note)
    assert "delivered" == outcome.verdict, outcome.reason
    (visible,) = telegram_server.visible
    assert "in <module>" in visible and 'ValueError: <bad> & "worse"' in visible and "crash <module> & co" in visible


def test_huge_input_is_cut_to_4096_units(telegram_server: TelegramStandIn) -> None:
    event = make_event(title="😀" * 5000, message="<b>&amp;" * 3000, details={"traceback": "😀<pre>\n" * 3000})
    assert "delivered" == send_once(_channel(telegram_server), make_notification(event)).verdict
    assert len(telegram_server.visible[0].encode("utf-16-le")) // 2 <= 4096


@pytest.mark.parametrize(
    ("status", "body", "verdict", "retry_after"),
    [
        (200, '{"ok":true,"result":{}}', "delivered", None),
        (429, '{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}', "retry", 7.0),
        (400, '{"ok":false,"error_code":400,"description":"Bad Request: message is too long"}', "permanent", None),
        (400, '{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}', "permanent", None),
        (400, '{"ok":false,"error_code":400,"description":"Bad Request: can\'t parse entities: x"}', "permanent", None),
        (400, '{"ok":false,"error_code":400,"description":"Bad Request: group chat was upgraded to a supergroup chat","parameters":{"migrate_to_chat_id":-1009}}', "permanent", None),
        (401, '{"ok":false,"error_code":401,"description":"Unauthorized"}', "permanent", None),
        (403, '{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}', "permanent", None),
        (404, '{"ok":false,"error_code":404,"description":"Not Found"}', "permanent", None),
        (502, "<html>bad gateway</html>", "retry", None),
        (500, '{"ok":false,"error_code":500,"description":"Internal Server Error"}', "retry", None),
        (200, "not json", "retry", None),
    ],
)
def test_every_answer_is_classified(status: int, body: str, verdict: str, retry_after: float | None) -> None:
    outcome = classify_response(status, {}, body)
    assert (verdict, retry_after) == (outcome.verdict, outcome.retry_after_s)
    if "migrate_to_chat_id" in body:
        assert "-1009" in outcome.reason


def test_stand_in_answers(telegram_server: TelegramStandIn) -> None:
    wrong_chat = Telegram(bot_token=TELEGRAM_TOKEN, chat_id="-100999", api_url=telegram_server.api_url)
    wrong_token = Telegram(bot_token="123456789:CANARYsecret7f3a9cWrongTokenX", chat_id=TELEGRAM_CHAT, api_url=telegram_server.api_url)
    for channel, words in ((wrong_chat, "chat not found"), (wrong_token, "Unauthorized")):
        outcome = send_once(channel, make_notification())
        assert "permanent" == outcome.verdict and words in outcome.reason
        assert "CANARY" not in outcome.reason
    server = TelegramStandIn(per_min=1)
    server.start()
    try:
        channel = _channel(server)
        assert ["delivered", "retry"] == [send_once(channel, make_notification()).verdict for _ in range(2)]
        assert 3.0 == send_once(channel, make_notification()).retry_after_s
    finally:
        server.stop()


def test_mentions_and_silence(telegram_server: TelegramStandIn) -> None:
    channel = _channel(telegram_server, mention_usernames=["@oncall_bob"])
    for severity in ("critical", "info"):
        send_once(channel, make_notification(make_event(title="@admin @all", severity=severity)))
    critical, info = telegram_server.accepted
    assert critical["text"].endswith("@oncall_bob") and not critical["disable_notification"]
    assert "@oncall_bob" not in info["text"] and info["disable_notification"]
    assert "@admin" not in critical["text"] and "@admin" not in telegram_server.visible[0]


def test_token_is_masked_in_transport_errors() -> None:
    channel = Telegram(bot_token=TELEGRAM_TOKEN, chat_id=TELEGRAM_CHAT, api_url=f"http://127.0.0.1:{free_port()}")
    outcome = send_once(channel, make_notification())
    assert "retry" == outcome.verdict and TELEGRAM_TOKEN.split(":")[1] not in outcome.reason
    assert TELEGRAM_TOKEN.split(":")[1] not in repr(channel) + str(channel.describe())


def test_parser_rejects_what_telegram_rejects() -> None:
    """The stand-in is strict: unescaped <module>, a bare & and an unclosed tag all fail."""
    assert parse_telegram_html("in <module>")[1]
    assert parse_telegram_html("a & b")[1]
    assert parse_telegram_html("<b>open")[1]
    assert ("a <b> & c", "") == parse_telegram_html("<b>a &lt;b&gt; &amp; c</b>")


def test_configuration_errors() -> None:
    for kwargs, field in (
        ({"bot_token": "not-a-token", "chat_id": "1"}, "bot_token"),
        ({"bot_token": TELEGRAM_TOKEN, "chat_id": ""}, "chat_id"),
        ({"bot_token": TELEGRAM_TOKEN, "chat_id": "1", "api_url": "http://api.example.com"}, "api_url"),
        ({"bot_token": TELEGRAM_TOKEN, "chat_id": "1", "mention_usernames": ["a b"]}, "mention_usernames[0]"),
    ):
        with pytest.raises(ConfigError) as info:
            Telegram(**kwargs)  # type: ignore[arg-type]
        assert field == info.value.field
        assert "CANARY" not in str(info.value)
