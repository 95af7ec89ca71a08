"""Two real Alertmanagers clustered on loopback, fed by alertcb: dedup, resolve, failover, load."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from alertcb import Notifier
from alertcb.channels import Alertmanager
from alertcb.events import Event, Severity
from bench.am_load import run_load
from tests.conftest_services import AlertmanagerCluster, Receiver, wait_for

pytestmark = pytest.mark.alertmanager

#: Longer than the cluster's peer timeout (1 s) + one group_interval (1 s): a duplicate would be here by then.
QUIET_S = 3.0


@pytest.fixture
def cluster(alertmanager: Callable[..., AlertmanagerCluster], receiver: Receiver) -> AlertmanagerCluster:
    """Two clustered Alertmanagers (group_by alertname+run, 1 s waits) notifying ``receiver``."""
    return alertmanager(receiver.url, n=2)


@pytest.fixture
def notifier(cluster: AlertmanagerCluster, tmp_path: Path) -> Iterator[Notifier]:
    """A chief worker's Notifier sending to both Alertmanagers (no load balancer)."""
    channel = Alertmanager(urls=cluster.urls, resend_interval_s=30, labels={"cluster": "loopback"})
    made = Notifier(
        [channel], run_name="exp42", job="sweep-3", worker="worker:0", labels={"team": "ml"},
        run_dir=tmp_path / "runs", group_wait_s=0, retry_base_s=0.2, retry_max_s=1.0,
    )
    yield made
    made.close(5)


def _notifications(receiver: Receiver, kind: str, status: str) -> list[dict[str, Any]]:
    """Notifications whose alerts include ``kind`` and are all in ``status``."""
    return [
        body
        for body in receiver.bodies()
        if any(a["labels"]["kind"] == kind for a in body["alerts"]) and all(a["status"] == status for a in body["alerts"])
    ]


def _senders(receiver: Receiver, kind: str, status: str) -> list[str]:
    """The instance (externalURL) behind each such notification."""
    return [body["externalURL"] for body in _notifications(receiver, kind, status)]


def _at_least_once(receiver: Receiver, kinds: tuple[str, ...]) -> None:
    """Every group was notified firing and resolved, and no instance sent the same state of a group twice.

    A second copy from the *other* instance is Alertmanager's documented HA behaviour: a peer
    whose pipeline started before the resolve (it waits ``peer_timeout`` before checking the
    gossiped notification log) sends its stale "firing" and then its own "resolved".
    """
    for kind in kinds:
        for status in ("firing", "resolved"):
            senders = _senders(receiver, kind, status)
            assert senders and len(senders) == len(set(senders)), (kind, status, senders)


def _resolve(notifier: Notifier, kind: str, title: str, severity: str = "critical") -> None:
    """Resolve an incident (same kind, title and severity: the same Alertmanager labels)."""
    notifier.emit(Event(kind=kind, title=title, status="resolved", severity=Severity.parse(severity), run=notifier.run))


def test_one_notification_per_group_and_the_resolve(
    cluster: AlertmanagerCluster, receiver: Receiver, notifier: Notifier
) -> None:
    """Both instances get every alert; the cluster sends one notification per group, then the resolve."""
    notifier.emit(notifier.event("nonfinite", "loss is NaN", "loss became NaN at step 12", severity="critical"))
    notifier.emit(notifier.event("nonfinite", "weights are NaN", "3 of 8 weights non-finite", severity="critical"))
    notifier.emit(notifier.event("spike", "loss spike", "loss 40x the median", severity="warning"))
    assert notifier.flush(10) == 0
    wait_for(lambda: [len(cluster.alerts(i)) for i in (0, 1)] == [3, 3], 5)  # alertcb posted to both instances
    wait_for(lambda: _notifications(receiver, "nonfinite", "firing") and _notifications(receiver, "spike", "firing"), 15)
    time.sleep(QUIET_S)
    assert len(receiver.accepted) == 2  # steady state: the peers deduplicated, one notification per group
    (nan_group,) = _notifications(receiver, "nonfinite", "firing")
    assert sorted(a["labels"]["incident"] for a in nan_group["alerts"]) == sorted(
        notifier.event("nonfinite", t).fingerprint for t in ("loss is NaN", "weights are NaN")
    )
    (spike_group,) = _notifications(receiver, "spike", "firing")
    labels = spike_group["alerts"][0]["labels"]
    assert {k: labels[k] for k in ("alertname", "run", "job", "kind", "severity", "worker", "team", "cluster")} == {
        "alertname": "alertcb_spike", "run": "exp42", "job": "sweep-3", "kind": "spike",
        "severity": "warning", "worker": "worker:0", "team": "ml", "cluster": "loopback",
    }
    assert {a["labels"]["severity"] for a in nan_group["alerts"]} == {"critical"}

    _resolve(notifier, "nonfinite", "loss is NaN")
    _resolve(notifier, "nonfinite", "weights are NaN")
    _resolve(notifier, "spike", "loss spike", "warning")
    assert notifier.flush(10) == 0
    wait_for(lambda: _notifications(receiver, "nonfinite", "resolved") and _notifications(receiver, "spike", "resolved"), 15)
    time.sleep(QUIET_S)
    _at_least_once(receiver, ("nonfinite", "spike"))
    assert all(len(n["alerts"]) == 2 for n in _notifications(receiver, "nonfinite", "resolved"))
    assert notifier.stats()["destinations"]["alertmanager"]["failed"] == {}


@pytest.mark.parametrize("stopped", [0, 1])
def test_stopping_one_alertmanager_mid_run_loses_nothing(
    cluster: AlertmanagerCluster, receiver: Receiver, notifier: Notifier, stopped: int
) -> None:
    """With one instance stopped, new alerts and resolves still reach the receiver promptly through the other."""
    notifier.emit(notifier.event("nonfinite", "loss is NaN", "loss became NaN at step 12", severity="critical"))
    wait_for(lambda: _notifications(receiver, "nonfinite", "firing"), 15)

    cluster.procs[stopped].terminate()
    cluster.procs[stopped].wait(10)
    notifier.emit(notifier.event("hang", "no progress", "no batch for 600 s", severity="critical"))
    notifier.emit(notifier.event("divergence", "loss diverging", "loss up 8x in 200 steps", severity="critical"))
    _resolve(notifier, "nonfinite", "loss is NaN")
    wait_for(
        lambda: _notifications(receiver, "hang", "firing")
        and _notifications(receiver, "divergence", "firing")
        and _notifications(receiver, "nonfinite", "resolved"),
        10,
    )
    _resolve(notifier, "hang", "no progress")
    _resolve(notifier, "divergence", "loss diverging")
    wait_for(lambda: _notifications(receiver, "hang", "resolved") and _notifications(receiver, "divergence", "resolved"), 15)
    time.sleep(QUIET_S)
    _at_least_once(receiver, ("nonfinite", "hang", "divergence"))
    survivor_port = cluster.urls[1 - stopped].rsplit(":", 1)[1]
    assert {url.rsplit(":", 1)[1] for url in _senders(receiver, "hang", "firing")} == {survivor_port}
    assert notifier.flush(5) == 0
    assert notifier.stats()["destinations"]["alertmanager"]["failed"] == {}


@pytest.mark.slow
def test_fifty_jobs_through_the_cluster_lose_nothing(tmp_path: Path) -> None:
    """50 jobs (own Notifier each) raise and resolve incidents: every one arrives, resolved, and none flaps."""
    if not os.path.exists(os.environ.get("ALERTMANAGER_BIN", "/usr/bin/prometheus-alertmanager")):
        pytest.skip("prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager)")
    seconds = float(os.environ.get("AM_LOAD_SECONDS", "15"))
    result = run_load(seconds=seconds, jobs=50, workdir=tmp_path)
    print(result.table())
    assert result.incidents >= 50 * seconds * 0.5
    assert result.missing == {"firing": 0, "resolved": 0}
    # Extra copies are Alertmanager's at-least-once (a peer's stale pipeline, the merged notification
    # log, retried webhook POSTs) and are only counted. What alertcb could cause, an incident that
    # fires again after its resolve (an expired lease, a resolve overtaken by a renewal), must not happen.
    assert result.flaps == 0
    assert sum(result.extra_copies.values()) <= 2 * result.incidents  # at most ~1 extra copy per state: not a storm
    assert result.alertcb["dropped"] == 0 and result.alertcb["failed"] == 0 and result.alertcb["pending"] == 0
    assert result.posts_per_instance >= 2 * result.incidents  # + periodic re-sends of resolves
    assert result.steady_latency_s["firing"]["p50"] < 3.0
