"""Alertmanager channel against a REAL prometheus-alertmanager (and a stand-in for odd answers)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from alertcb.channels import Alertmanager
from alertcb.channels.alertmanager import endpoint, label_name
from alertcb.errors import ConfigError
from alertcb.events import Event
from tests.conftest_services import (
    AlertmanagerCluster,
    Receiver,
    Reply,
    free_port,
    make_event,
    make_notification,
    send_once,
    wait_for,
)

pytestmark = pytest.mark.alertmanager


def _statuses(receiver: Receiver) -> list[str]:
    return [body["status"] for body in receiver.bodies()]


def test_firing_then_resolved_reach_the_receiver(
    alertmanager: Callable[..., AlertmanagerCluster], receiver: Receiver
) -> None:
    """alertcb's firing alert is routed by a real Alertmanager to its webhook, and so is the resolve."""
    am = alertmanager(receiver.url)
    channel = Alertmanager(urls=am.urls)
    assert "delivered" == send_once(channel, make_notification()).verdict
    wait_for(lambda: "firing" in _statuses(receiver), timeout_s=15)
    firing = next(b for b in receiver.bodies() if b["status"] == "firing")
    (alert,) = firing["alerts"]
    assert {
        "alertname": "alertcb_nonfinite",
        "run": "exp42",
        "job": "sweep-3",
        "kind": "nonfinite",
        "severity": "critical",
        "worker": "worker:0",
        "host": "gpu-07",
        "team": "ml",
    }.items() <= alert["labels"].items()
    assert alert["annotations"]["summary"] == "exp42 · loss is NaN at epoch 3, step 1,234 on worker:0"
    assert "loss became NaN" in alert["annotations"]["description"]

    assert "delivered" == send_once(channel, make_notification(make_event(status="resolved"))).verdict
    wait_for(lambda: "resolved" in _statuses(receiver), timeout_s=15)
    resolved = next(b for b in receiver.bodies() if b["status"] == "resolved")
    assert alert["labels"] == resolved["alerts"][0]["labels"]


def test_every_instance_of_a_cluster_gets_the_alert(
    alertmanager: Callable[..., AlertmanagerCluster], receiver: Receiver
) -> None:
    """Alerts are not gossiped: each of the clustered instances must receive the POST."""
    am = alertmanager(receiver.url, n=2)
    assert "delivered" == send_once(Alertmanager(urls=am.urls), make_notification()).verdict
    for i in range(2):
        (alert,) = am.alerts(i)
        assert "alertcb_nonfinite" == alert["labels"]["alertname"]
        assert "active" == alert["status"]["state"]
    wait_for(lambda: "firing" in _statuses(receiver), timeout_s=20)


def test_one_instance_down_still_delivers(
    alertmanager: Callable[..., AlertmanagerCluster], receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """One accepting instance is enough (gossip and the periodic re-send cover the other);
    the failed instance is logged, redacted."""
    am = alertmanager(receiver.url)
    dead = f"http://127.0.0.1:{free_port()}"
    outcome = send_once(Alertmanager(urls=[am.urls[0], dead]), make_notification())
    assert "delivered" == outcome.verdict
    assert 1 == len(am.alerts(0))
    assert "1/2 instance(s) failed: urls[1] http://127.0.0.1:" in caplog.text


@pytest.mark.parametrize(
    ("replies", "verdict", "retry_after_s"),
    [
        ([Reply(200), Reply(200)], "delivered", None),
        ([Reply(200), Reply(503, {"Retry-After": "4"})], "delivered", None),
        ([Reply(503, {"Retry-After": "4"}), Reply(503, {"Retry-After": "2"})], "retry", 4.0),
        ([Reply(400, {}, "bad"), Reply(500)], "retry", None),
        ([Reply(400, {}, "bad"), Reply(422, {}, "schema")], "permanent", None),
        ([Reply(200), Reply(400, {}, "bad")], "delivered", None),
    ],
)
def test_outcome_table(replies: list[Reply], verdict: str, retry_after_s: float | None) -> None:
    """Any instance ok: delivered; else any retryable failure: retry; only permanent failures: permanent."""
    servers = [Receiver() for _ in replies]
    for server, reply in zip(servers, replies, strict=True):
        server.start()
        server.fail_next(reply)
    try:
        outcome = send_once(Alertmanager(urls=[s.base_url for s in servers]), make_notification())
    finally:
        for server in servers:
            server.stop()
    assert (verdict, retry_after_s) == (outcome.verdict, outcome.retry_after_s)
    assert all(s.requests[0].path == "/api/v2/alerts" for s in servers)


def _alerts(channel: Alertmanager, *events: Event, now: float) -> list[dict[str, Any]]:
    from alertcb.channels.base import SendContext
    from alertcb.render import Renderer

    return channel.build_alerts(make_notification(*events), SendContext(None, Renderer().render, 1.0), now=now)


def test_lease_and_resolve_timestamps() -> None:
    """Firing: endsAt = now + 4 × resend_interval_s; resolved: endsAt = now."""
    channel = Alertmanager(urls=["http://127.0.0.1:9093"], resend_interval_s=30)
    now = 1_800_000_000.0
    (firing,) = _alerts(channel, make_event(time=now - 5), now=now)
    assert firing["startsAt"] == "2027-01-15T07:59:55.000Z"
    assert firing["endsAt"] == "2027-01-15T08:02:00.000Z"
    (resolved,) = _alerts(channel, make_event(status="resolved", time=now), now=now)
    assert resolved["endsAt"] == "2027-01-15T08:00:00.000Z"
    assert 30.0 == channel.resend_interval_s


def test_digest_is_one_alert_per_incident_and_distinct_labels() -> None:
    """Two incidents of one kind stay two alerts (the 'incident' label is the fingerprint)."""
    channel = Alertmanager(urls=["http://127.0.0.1:9093"])
    alerts = _alerts(channel, make_event(title="loss is NaN"), make_event(title="val_loss is NaN"), now=time.time())
    assert 2 == len({tuple(sorted(a["labels"].items())) for a in alerts})


def test_user_labels_cannot_override_core_labels() -> None:
    """labels= and run labels are added; alertname/severity/... stay alertcb's."""
    channel = Alertmanager(urls=["http://127.0.0.1:9093"], labels={"severity": "none", "team-name": "ml", "9x": "y"})
    labels = channel.labels_for(make_event())
    assert ("critical", "ml", "y") == (labels["severity"], labels["team_name"], labels["_9x"])


def test_summary_and_progress_are_ignored_by_default() -> None:
    """Reports are not alerts: summary/progress kinds are not sent unless kinds= says so."""
    channel = Alertmanager(urls=["http://127.0.0.1:9093"])
    assert not channel.accepts(Event(kind="progress", title="epoch 3/10", severity="info"))
    assert channel.accepts(make_event())


def test_endpoint_and_label_helpers() -> None:
    """Base URLs get /api/v2/alerts appended; full endpoints are kept; label names sanitised."""
    assert "http://am:9093/api/v2/alerts" == endpoint("http://am:9093")
    assert "http://am:9093/am/api/v2/alerts" == endpoint("http://am:9093/am/")
    assert "http://am:9093/api/v2/alerts" == endpoint("http://am:9093/api/v2/alerts")
    assert "a_b_c" == label_name("a.b-c")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"urls": []}, "urls"),
        ({"urls": "http://127.0.0.1:9093"}, "urls"),
        ({"urls": ["http://am.example.com:9093"]}, "urls[0]"),
        ({"urls": ["http://127.0.0.1:9093"], "resend_interval_s": 0}, "resend_interval_s"),
        ({"urls": ["http://127.0.0.1:9093"], "generator_url": "not a url"}, "generator_url"),
    ],
)
def test_config_errors_name_the_field(kwargs: dict[str, object], field: str) -> None:
    """Bad settings raise ConfigError naming the field."""
    with pytest.raises(ConfigError) as info:
        Alertmanager(**kwargs)  # type: ignore[arg-type]
    assert field == info.value.field
