"""Prometheus Alertmanager: ``POST /api/v2/alerts`` to every configured instance.

Clustered Alertmanagers do not share alerts, so each instance gets every POST. A
notification is delivered only when *every* instance accepted it; otherwise the
attempt is retried (if any failure is retryable) and all instances get it again,
which is harmless because Alertmanager deduplicates alerts by their labels.

A firing alert carries ``endsAt = now + 4 × resend_interval_s`` (a lease, as
Prometheus does); the dispatcher re-sends firing incidents every
``resend_interval_s`` until they resolve. A resolve carries ``endsAt = now``.
"""

from __future__ import annotations

import datetime as _dt
import functools
import logging
import math
import re
import time
import urllib.parse
from typing import Any, ClassVar

from alertcb.channels import _http as c
from alertcb.channels.base import (
    Channel,
    Notification,
    Outcome,
    SendContext,
    check_url,
)
from alertcb.errors import ConfigError
from alertcb.events import KINDS, LIFECYCLE_KINDS, Event
from alertcb.filters import strip_control
from alertcb.redact import Secret, mask_password, redact_url

API_PATH = "/api/v2/alerts"
LEASE_FACTOR = 4
DEFAULT_KINDS = sorted(KINDS - {"summary", "progress"} - LIFECYCLE_KINDS)
_LABEL_NAME = re.compile(r"[^a-zA-Z0-9_]")

logger = logging.getLogger("alertcb")


class Alertmanager(Channel):
    """Sends alerts to one or more (clustered) Prometheus Alertmanagers.

    Args:
        urls: each instance's base URL (``http://am-0:9093``; ``/api/v2/alerts`` is
            appended) or full endpoint URL. Point at every instance, not a load balancer.
        resend_interval_s: how often the dispatcher re-sends a firing alert (its
            ``endsAt`` lease is 4× this). Defaults to 60.
        labels: extra labels on every alert (``team = "ml"``). Run labels are added too.
        generator_url: ``generatorURL`` of the alerts (a dashboard link), or None.
        allow_insecure_http: allow ``http://`` to a non-loopback host. Defaults to False.
        name, min_severity, rate_limit_per_min: see `Channel`.
        kinds: event kinds to send. Defaults to all but ``summary``, ``progress`` and the
            lifecycle kinds (``early_stop``, ``lr_change``, ``checkpoint``, ``started``).

    Labels: ``alertname="alertcb_<kind>"``, ``run``, ``job``, ``kind``, ``severity``,
    ``worker``, ``host``, ``incident`` (the event fingerprint) and the user labels
    (which cannot override these). Annotations: ``summary`` and ``description``.

    Example:
        >>> Alertmanager(urls=["http://am-0:9093", "http://am-1:9093"], labels={"team": "ml"})  # doctest: +SKIP
    """

    type: ClassVar[str] = "alertmanager"
    coalesce: ClassVar[bool] = False  # every alert keeps its own labels
    #: Read by the dispatcher: re-send firing incidents this often (seconds).
    resend_interval_s: float = 60.0

    def __init__(
        self,
        *,
        urls: list[str],
        resend_interval_s: float = 60.0,
        labels: dict[str, str] | None = None,
        generator_url: str | None = None,
        allow_insecure_http: bool = False,
        name: str | None = None,
        min_severity: str = "info",
        kinds: list[str] | None = None,
        rate_limit_per_min: float | None = None,
    ) -> None:
        super().__init__(
            name=name,
            min_severity=min_severity,
            kinds=DEFAULT_KINDS if kinds is None else kinds,
            rate_limit_per_min=rate_limit_per_min,
        )
        insecure = c.flag("allow_insecure_http", allow_insecure_http)
        # A URL with Basic-auth credentials is kept as a Secret (unwrapped only to send).
        self._urls: list[str | Secret] = [
            _keep(endpoint(c.url_credentials(check_url(f"urls[{i}]", u, allow_insecure_http=insecure))))
            for i, u in enumerate(c.string_list("urls", urls, allow_empty=False))
        ]
        self.resend_interval_s = c.number("resend_interval_s", resend_interval_s)
        self.labels = {label_name(k): v for k, v in c.string_dict("labels", labels).items() if v}
        if generator_url is not None:
            parts = urllib.parse.urlsplit(c.string("generator_url", generator_url))
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConfigError("generator_url", "expected an http(s) URL")
        self.generator_url = generator_url

    def build_alerts(self, notification: Notification, ctx: SendContext, now: float | None = None) -> list[dict[str, Any]]:
        """The JSON array: one alert per incident (the latest event of each)."""
        now = time.time() if now is None else now
        latest: dict[str, Event] = {}
        for event in notification.events:
            if event.fingerprint not in latest or event.time >= latest[event.fingerprint].time:
                latest[event.fingerprint] = event
        alerts = []
        for event in latest.values():
            single = Notification(
                events=(event,),
                suppressed=notification.suppressed if event is notification.event else 0,
                id=notification.id,
                created=notification.created,
            )
            starts = event.time if math.isfinite(event.time) else now
            ends = now if event.resolved else now + LEASE_FACTOR * self.resend_interval_s
            alert: dict[str, Any] = {
                "labels": self.labels_for(event),
                "annotations": {
                    "summary": " ".join(strip_control(c.render_part(ctx, "alertmanager", single, "summary.txt.j2")).split()),
                    "description": strip_control(c.render_part(ctx, "alertmanager", single, "description.txt.j2")),
                },
                "startsAt": rfc3339(min(starts, ends)),
                "endsAt": rfc3339(ends),
            }
            if self.generator_url:
                alert["generatorURL"] = self.generator_url
            alerts.append(alert)
        return alerts

    def labels_for(self, event: Event) -> dict[str, str]:
        run = event.run
        labels: dict[str, str] = {}
        if run is not None:
            labels.update({label_name(k): strip_control(v) for k, v in run.labels.items() if v})
        labels.update(self.labels)
        core = {
            "alertname": f"alertcb_{event.kind}",
            "run": run.name if run else "",
            "job": (run.job or "") if run else "",
            "kind": event.kind,
            "severity": str(event.severity),
            "worker": (run.worker or "") if run else "",
            "host": run.host if run else "",
            "incident": event.fingerprint,
        }
        labels.update({k: strip_control(v) for k, v in core.items() if v})
        return labels

    @property
    def urls(self) -> list[str]:
        """The endpoints, with any Basic-auth password shown as ``***``."""
        return [mask_password(u.get()) if isinstance(u, Secret) else u for u in self._urls]

    def send(self, notification: Notification, ctx: SendContext) -> Outcome:
        alerts = self.build_alerts(notification, ctx)
        failures: list[tuple[str, Outcome]] = []
        for i, url in enumerate(u.get() if isinstance(u, Secret) else u for u in self._urls):
            outcome = c.attempt(functools.partial(c.post_json, ctx, url, alerts))
            if outcome.verdict != "delivered":
                failures.append((f"urls[{i}] {redact_url(url)}", outcome))
        if not failures:
            return Outcome.delivered()
        reason = f"{len(failures)}/{len(self._urls)} instance(s) failed: " + "; ".join(
            f"{where}: {o.reason}" for where, o in failures
        )
        if len(failures) < len(self._urls):
            # One instance of the HA cluster has it: gossip shares it with the others, and the
            # periodic re-send refills an instance that comes back (what Prometheus does).
            logger.warning("alertmanager %s: %s (delivered to the others)", self.name, reason)
            return Outcome.delivered()
        retryable = [o for _, o in failures if o.verdict == "retry"]
        if retryable:
            waits = [o.retry_after_s for o in retryable if o.retry_after_s is not None]
            return Outcome.retry(reason, max(waits) if waits else None)
        return Outcome.permanent(reason)

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out.update(
            urls=[redact_url(u) for u in self.urls],
            resend_interval_s=self.resend_interval_s,
            labels=dict(self.labels),
        )
        return out


def _keep(url: str) -> str | Secret:
    return Secret(url) if urllib.parse.urlsplit(url).password else url


def endpoint(url: str) -> str:
    """``http://am:9093`` → ``http://am:9093/api/v2/alerts`` (full endpoints are kept)."""
    parts = urllib.parse.urlsplit(url)
    if parts.path.rstrip("/").endswith(API_PATH):
        return url
    return urllib.parse.urlunsplit(parts._replace(path=parts.path.rstrip("/") + API_PATH))


def label_name(name: str) -> str:
    """A valid Prometheus label name (``[a-zA-Z_][a-zA-Z0-9_]*``)."""
    cleaned = _LABEL_NAME.sub("_", str(name)) or "_"
    return "_" + cleaned if cleaned[0].isdigit() else cleaned


def rfc3339(timestamp: float) -> str:
    return _dt.datetime.fromtimestamp(timestamp, tz=_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
