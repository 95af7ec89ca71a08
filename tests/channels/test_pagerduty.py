"""PagerDuty channel against a stand-in Events API v2 that validates every field."""

from __future__ import annotations

import json

import pytest

from alertcb.channels import PagerDuty
from alertcb.errors import ConfigError
from alertcb.events import Event
from tests.conftest_services import (
    PD_ROUTING_KEY,
    PagerDutyStandIn,
    Reply,
    make_event,
    make_notification,
    send_once,
)


def pagerduty(server: PagerDutyStandIn, **kwargs: object) -> PagerDuty:
    return PagerDuty(routing_key=PD_ROUTING_KEY, url=server.url, **kwargs)  # type: ignore[arg-type]


def test_trigger_has_every_required_field(pagerduty_server: PagerDutyStandIn) -> None:
    """A firing alert is a valid trigger with a stable dedup_key and mapped severity."""
    event = make_event()
    assert "delivered" == send_once(pagerduty(pagerduty_server), make_notification(event)).verdict
    (body,) = pagerduty_server.accepted
    assert ("trigger", f"alertcb/{event.fingerprint}") == (body["event_action"], body["dedup_key"])
    payload = body["payload"]
    assert payload["summary"].startswith("🔴 exp42 · loss is NaN at epoch 3, step 1,234 on worker:0 (gpu-07)")
    assert ("gpu-07", "critical", "nonfinite", "sweep-3", "worker:0") == (
        payload["source"],
        payload["severity"],
        payload["class"],
        payload["group"],
        payload["component"],
    )
    assert "NaN" == payload["custom_details"]["metrics"]["loss"]


def test_resolve_uses_the_same_dedup_key(pagerduty_server: PagerDutyStandIn) -> None:
    """The resolve of an incident closes the PagerDuty alert its trigger opened."""
    channel = pagerduty(pagerduty_server)
    firing = make_event()
    send_once(channel, make_notification(firing))
    send_once(channel, make_notification(make_event(status="resolved")))
    trigger, resolve = pagerduty_server.accepted
    assert trigger["dedup_key"] == resolve["dedup_key"]
    assert {"routing_key", "event_action", "dedup_key"} == set(resolve)
    assert {f"alertcb/{firing.fingerprint}": "resolved"} == pagerduty_server.incidents


@pytest.mark.parametrize(("severity", "expected"), [("critical", "critical"), ("warning", "warning"), ("info", "info")])
def test_severity_mapping(pagerduty_server: PagerDutyStandIn, severity: str, expected: str) -> None:
    """alertcb severities map onto PagerDuty's enum."""
    send_once(pagerduty(pagerduty_server), make_notification(make_event(severity=severity)))
    assert expected == pagerduty_server.accepted[0]["payload"]["severity"]


def test_summary_is_cut_to_1024_chars_and_details_to_512_kb(pagerduty_server: PagerDutyStandIn) -> None:
    """A huge title and a megabyte of details still make a valid event."""
    event = make_event(title="NaN " * 1000, details={f"k{i}": "x" * 5000 for i in range(300)})
    assert "delivered" == send_once(pagerduty(pagerduty_server), make_notification(event)).verdict
    body = pagerduty_server.accepted[0]
    assert len(body["payload"]["summary"]) <= 1024
    assert len(json.dumps(body).encode()) <= 512 * 1024


def test_digest_sends_one_event_per_incident(pagerduty_server: PagerDutyStandIn) -> None:
    """Coalesced incidents each get their own dedup_key (PagerDuty pages per incident)."""
    events = [make_event(title=f"metric {i} exploded") for i in range(3)]
    send_once(pagerduty(pagerduty_server), make_notification(*events, digest=True))
    assert {f"alertcb/{e.fingerprint}" for e in events} == set(pagerduty_server.incidents)


def test_summary_and_progress_are_not_pages_by_default() -> None:
    """By default PagerDuty ignores summary/progress; kinds= overrides."""
    summary = Event(kind="summary", title="training finished", severity="info")
    assert not PagerDuty(routing_key=PD_ROUTING_KEY).accepts(summary)
    assert PagerDuty(routing_key=PD_ROUTING_KEY).accepts(make_event())
    assert PagerDuty(routing_key=PD_ROUTING_KEY, kinds=["summary"]).accepts(summary)


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        (Reply(202, {}, {"status": "success"}), "delivered"),
        (Reply(400, {}, {"status": "invalid event"}), "permanent"),
        (Reply(429, {}, {"status": "throttle event"}), "retry"),
        (Reply(500, {}, ""), "retry"),
        (Reply(502, {}, ""), "retry"),
        (Reply(503, {}, ""), "retry"),
    ],
)
def test_status_table(pagerduty_server: PagerDutyStandIn, reply: Reply, verdict: str) -> None:
    """202 delivered; 400 permanent; 429 and 5xx retried."""
    pagerduty_server.fail_next(reply)
    assert verdict == send_once(pagerduty(pagerduty_server), make_notification()).verdict


def test_throttled_past_120_a_minute(pagerduty_server: PagerDutyStandIn) -> None:
    """The stand-in's 120 events/min limit answers 429 → retry."""
    pagerduty_server.window.limit = 3
    channel = pagerduty(pagerduty_server)
    verdicts = [send_once(channel, make_notification()).verdict for _ in range(4)]
    assert ["delivered"] * 3 + ["retry"] == verdicts
    assert 120 == PagerDuty.default_rate_limit_per_min


def test_invalid_key_is_permanent(pagerduty_server: PagerDutyStandIn) -> None:
    """A 32-character key the service doesn't know is a 400: permanent."""
    channel = PagerDuty(routing_key="b" * 32, url=pagerduty_server.url)
    assert "permanent" == send_once(channel, make_notification()).verdict
    assert ["'routing_key' is not an integration key of this account"] == pagerduty_server.rejected[0]


@pytest.mark.parametrize("fault", ["hang", "reset"])
def test_network_faults_are_retryable(pagerduty_server: PagerDutyStandIn, fault: str) -> None:
    """Hang (timeout) and reset are retried."""
    pagerduty_server.fail_next(fault)
    assert "retry" == send_once(pagerduty(pagerduty_server), make_notification(), timeout_s=0.5).verdict


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"routing_key": "short"}, "routing_key"),
        ({"routing_key": ""}, "routing_key"),
        ({"routing_key": PD_ROUTING_KEY, "url": "http://pd.example.com/v2/enqueue"}, "url"),
        ({"routing_key": PD_ROUTING_KEY, "kinds": ["pages"]}, "kinds"),
    ],
)
def test_config_errors_name_the_field(kwargs: dict[str, object], field: str) -> None:
    """Bad settings raise ConfigError naming the field, without echoing the key."""
    with pytest.raises(ConfigError) as info:
        PagerDuty(**kwargs)  # type: ignore[arg-type]
    assert field == info.value.field
    assert "short" not in str(info.value)
