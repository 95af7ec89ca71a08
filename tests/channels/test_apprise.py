"""apprise against a loopback receiver through its json:// plugin: success, bounded retries
then permanent, no resend to a URL that already succeeded, a bounded timeout on a hang."""

from __future__ import annotations

import logging

import pytest

from alertcb.channels import Apprise
from alertcb.errors import ConfigError
from tests.conftest_services import Receiver, Reply, free_port, make_notification, send_once


def _json_url(server: Receiver) -> str:
    return server.base_url.replace("http://", "json://") + "/hook"


def test_delivered_through_the_json_plugin(receiver: Receiver) -> None:
    outcome = send_once(Apprise(urls=[_json_url(receiver)]), make_notification())
    assert "delivered" == outcome.verdict, outcome.reason
    (body,) = receiver.bodies()
    assert "loss is NaN" in body["title"] and "loss became NaN" in body["message"]


def test_form_plugin_too(receiver: Receiver) -> None:
    url = receiver.base_url.replace("http://", "form://") + "/hook"
    assert "delivered" == send_once(Apprise(urls=[url], body_format="text"), make_notification()).verdict
    assert b"loss+is+NaN" in receiver.accepted[0].body or b"loss is NaN" in receiver.accepted[0].body


def test_failure_is_retried_a_bounded_number_of_times_then_permanent(receiver: Receiver) -> None:
    """apprise says only "failed": retry (max_attempts - 1) times, then give up."""
    receiver.fail_for(60, 500)
    channel = Apprise(urls=[_json_url(receiver)], max_attempts=3)
    note = make_notification()
    outcomes = [send_once(channel, note) for _ in range(3)]
    assert ["retry", "retry", "permanent"] == [o.verdict for o in outcomes]
    assert "gave up after 3" in outcomes[-1].reason and "apprise gives no reason" in outcomes[-1].reason
    assert "retry" == send_once(channel, make_notification()).verdict  # a new notification starts afresh


def test_a_url_that_succeeded_is_not_sent_again(receiver: Receiver) -> None:
    """Two URLs, one down: the retry goes only to the one that failed (each alert exactly once)."""
    other = Receiver()
    other.start()
    try:
        other.fail_next(500)
        channel = Apprise(urls=[_json_url(receiver), _json_url(other)])
        note = make_notification()
        assert "retry" == send_once(channel, note).verdict
        assert "delivered" == send_once(channel, note).verdict
        assert (1, 1) == (len(receiver.accepted), len(other.accepted))
    finally:
        other.stop()


def test_hang_is_bounded_by_the_attempt_timeout(receiver: Receiver) -> None:
    """cto/rto are set from the attempt timeout: a hung server is a retry, then delivery."""
    receiver.fail_next("hang")
    channel = Apprise(urls=[_json_url(receiver)])
    note = make_notification()
    assert "retry" == send_once(channel, note, timeout_s=0.5).verdict
    assert "delivered" == send_once(channel, note, timeout_s=0.5).verdict
    assert 1 == len(receiver.accepted)


def test_refused_connection_is_retryable_and_logs_are_clean(caplog: pytest.LogCaptureFixture) -> None:
    secret = "CANARYsecret7f3a9c-apprise-pw"
    channel = Apprise(urls=[f"json://user:{secret}@127.0.0.1:{free_port()}/CANARYsecret7f3a9cPath1"])
    with caplog.at_level(logging.DEBUG):
        outcome = send_once(channel, make_notification())
    assert "retry" == outcome.verdict
    assert all("CANARY" not in r.getMessage() for r in caplog.records)
    assert "CANARY" not in outcome.reason + repr(channel) + str(channel.describe())


def test_injected_reply_codes(receiver: Receiver) -> None:
    receiver.fail_next(Reply(429, {"Retry-After": "1"}, "slow down"))
    channel = Apprise(urls=[_json_url(receiver)])
    note = make_notification()
    assert ["retry", "delivered"] == [send_once(channel, note).verdict for _ in range(2)]


@pytest.mark.parametrize(
    ("urls", "field"),
    [
        ([], "urls"),
        (["not a url"], "urls[0]"),
        (["json://alerts.example.com/hook"], "urls[0]"),
        (["nosuchscheme://CANARYsecret7f3a9c"], "urls[0]"),
    ],
)
def test_configuration_errors(urls: list[str], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        Apprise(urls=urls)
    assert field == info.value.field and "CANARY" not in str(info.value)


def test_plain_http_allowed_when_asked() -> None:
    assert Apprise(urls=["json://alerts.example.com/hook"], allow_insecure_http=True).describe()["urls"] == ["json://***"]
