"""Webhook channel: the versioned JSON document and its HMAC signature."""

from __future__ import annotations

import json
import math

import pytest

from alertcb.channels import Webhook
from alertcb.channels.webhook import SCHEMA, sign, verify
from alertcb.errors import ConfigError
from alertcb.events import Event
from tests.conftest_services import Receiver, Reply, make_event, make_notification, send_once

SECRET = "CANARYsecret7f3a9c-hmac"


def _reject_constants(name: str) -> None:
    raise ValueError(f"non-standard JSON constant {name}")


def test_document_follows_the_schema(receiver: Receiver) -> None:
    """The body is alertcb.notification/1 with events as Event.to_dict() and rendered text."""
    event = make_event()
    note = make_notification(event, make_event(title="spike"), suppressed=5, digest=True)
    assert "delivered" == send_once(Webhook(url=receiver.url), note).verdict
    (request,) = receiver.accepted
    doc = json.loads(request.body, parse_constant=_reject_constants)  # strict JSON: no NaN literals
    assert SCHEMA == doc["schema"] == "alertcb.notification/1"
    assert (note.id, "critical", "firing", 5, True) == (doc["id"], doc["severity"], doc["status"], doc["suppressed"], doc["digest"])
    assert json.loads(json.dumps(event.to_dict())) == doc["events"][0]
    assert "NaN" == doc["events"][0]["metrics"]["loss"]
    # A digest's text names every incident it carries and calls repeats repeats (issue 13 #1).
    assert doc["text"].startswith("2 alerts in one message for run exp42")
    assert "loss is NaN" in doc["text"] and "spike" in doc["text"] and "5 repeats" in doc["text"]
    assert note.id == request.headers["x-alertcb-id"]
    assert request.headers["content-type"].startswith("application/json")
    assert Event.from_dict(doc["events"][0]).fingerprint == event.fingerprint


def test_signature_verifies_over_timestamp_and_raw_body(receiver: Receiver) -> None:
    """X-Alertcb-Signature is HMAC-SHA256 of '<timestamp>.<body>'; tampering breaks it."""
    send_once(Webhook(url=receiver.url, secret=SECRET), make_notification())
    request = receiver.accepted[0]
    timestamp, signature = request.headers["x-alertcb-timestamp"], request.headers["x-alertcb-signature"]
    assert signature == "sha256=" + sign(SECRET, timestamp, request.body)
    assert verify(SECRET, request.body, timestamp, signature)
    assert not verify("wrong-secret", request.body, timestamp, signature)
    assert not verify(SECRET, request.body + b" ", timestamp, signature)
    assert not verify(SECRET, request.body, str(int(timestamp) - 3600), signature)


def test_unsigned_without_a_secret(receiver: Receiver) -> None:
    """No secret: no signature headers."""
    send_once(Webhook(url=receiver.url), make_notification())
    assert "x-alertcb-signature" not in receiver.accepted[0].headers


def test_custom_headers_are_sent_and_sensitive_ones_masked(receiver: Receiver) -> None:
    """headers= are sent; describe() masks values of auth-like headers."""
    channel = Webhook(url=receiver.url, headers={"Authorization": "Bearer CANARYsecret7f3a9c", "X-Team": "ml"})
    send_once(channel, make_notification())
    assert "Bearer CANARYsecret7f3a9c" == receiver.accepted[0].headers["authorization"]
    assert {"Authorization": "***", "X-Team": "ml"} == channel.describe()["headers"]


def test_weird_values_stay_valid_json(receiver: Receiver) -> None:
    """Infinities, lone surrogates and odd detail objects still make valid UTF-8 JSON."""
    event = make_event(message="bad \ud800 surrogate", metrics={"a": math.inf, "b": -math.inf}, details={"obj": object(), "t": (1, 2)})
    assert "delivered" == send_once(Webhook(url=receiver.url), make_notification(event)).verdict
    doc = json.loads(receiver.accepted[0].body.decode("utf-8"), parse_constant=_reject_constants)
    assert {"a": "Infinity", "b": "-Infinity"} == doc["events"][0]["metrics"]


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        (Reply(200), "delivered"),
        (Reply(201), "delivered"),
        (Reply(204), "delivered"),
        (Reply(400, {}, "bad"), "permanent"),
        (Reply(401, {}, "unauthorized"), "permanent"),
        (Reply(404, {}, "gone"), "permanent"),
        (Reply(408, {}, ""), "retry"),
        (Reply(429, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, ""), "retry"),
        (Reply(500, {}, ""), "retry"),
        (Reply(503, {"Retry-After": "2"}, ""), "retry"),
    ],
)
def test_status_table(receiver: Receiver, reply: Reply, verdict: str) -> None:
    """2xx delivered; 408/429/5xx retried; other 4xx permanent."""
    receiver.fail_next(reply)
    assert verdict == send_once(Webhook(url=receiver.url), make_notification()).verdict


@pytest.mark.parametrize("fault", ["hang", "reset"])
def test_network_faults_are_retryable(receiver: Receiver, fault: str) -> None:
    """Hang (timeout) and reset are retried."""
    receiver.fail_next(fault)
    assert "retry" == send_once(Webhook(url=receiver.url), make_notification(), timeout_s=0.5).verdict


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "http://example.com/x"}, "url"),
        ({"url": "https://example.com/x", "headers": {"Bad Header": "x"}}, "headers"),
        ({"url": "https://example.com/x", "headers": {"X-A": "a\r\nInjected: 1"}}, "headers.X-A"),
        ({"url": "https://example.com/x", "secret": 12}, "secret"),
    ],
)
def test_config_errors_name_the_field(kwargs: dict[str, object], field: str) -> None:
    """Bad settings raise ConfigError naming the field."""
    with pytest.raises(ConfigError) as info:
        Webhook(**kwargs)  # type: ignore[arg-type]
    assert field == info.value.field
