"""PagerDuty Events API v2: trigger with a stable dedup_key, resolve with the same key.

The dedup_key is derived from the event fingerprint, so repeats of one incident
(and retries) fold into one PagerDuty alert, and the resolve closes it. The dispatcher
never coalesces notifications for PagerDuty (``coalesce = False``): every incident pages.
Should a digest reach it anyway, it becomes one event per incident (harmless on retry:
PagerDuty deduplicates by dedup_key).
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import math
import socket
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
from alertcb.events import KINDS, LIFECYCLE_KINDS, Event, Severity, json_number, json_safe
from alertcb.filters import strip_control, truncate_chars
from alertcb.redact import Secret, redact_url

DEFAULT_URL = "https://events.pagerduty.com/v2/enqueue"
MAX_SUMMARY_CHARS = 1024
MAX_EVENT_BYTES = 500_000  # PagerDuty allows 512 KB; keep a margin
SEVERITY = {Severity.CRITICAL: "critical", Severity.WARNING: "warning", Severity.INFO: "info"}
#: Reports are not pages: by default PagerDuty gets every kind but these.
DEFAULT_KINDS = sorted(KINDS - {"summary", "progress"} - LIFECYCLE_KINDS)


class PagerDuty(Channel):
    """Pages on-call through PagerDuty Events API v2.

    Args:
        routing_key: the 32-character integration key of an Events API v2 service. A secret.
        url: the endpoint. Defaults to ``https://events.pagerduty.com/v2/enqueue``.
        source: ``payload.source``. Defaults to the run's host.
        allow_insecure_http: allow ``http://`` to a non-loopback host. Defaults to False.
        name, min_severity, rate_limit_per_min: see `Channel`.
        kinds: event kinds to page for. Defaults to all but ``summary``, ``progress`` and the
            lifecycle kinds (``early_stop``, ``lr_change``, ``checkpoint``, ``started``).

    Example:
        >>> PagerDuty(routing_key=os.environ["PD_ROUTING_KEY"], min_severity="critical")  # doctest: +SKIP
    """

    type: ClassVar[str] = "pagerduty"
    default_rate_limit_per_min: ClassVar[float | None] = 120
    coalesce: ClassVar[bool] = False  # every incident pages on its own (dedup_key)

    def __init__(
        self,
        *,
        routing_key: str | Secret,
        url: str = DEFAULT_URL,
        source: str | None = None,
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
        key = c.secret("routing_key", routing_key)
        assert key is not None
        if len(key.get()) != 32 or not key.get().isalnum():
            raise ConfigError("routing_key", "expected the 32-character integration key of an Events API v2 service")
        self._routing_key = key
        self.url = c.url_credentials(check_url("url", url, allow_insecure_http=c.flag("allow_insecure_http", allow_insecure_http)))
        self.source = c.string("source", source) if source is not None else None

    def build_events(self, notification: Notification, ctx: SendContext) -> list[dict[str, Any]]:
        """One Events API v2 body per incident in ``notification`` (latest event of each)."""
        latest: dict[str, Event] = {}
        for event in notification.events:
            if event.fingerprint not in latest or event.time >= latest[event.fingerprint].time:
                latest[event.fingerprint] = event
        bodies = []
        for event in latest.values():
            if event.resolved:
                bodies.append(
                    {"routing_key": self._routing_key.get(), "event_action": "resolve", "dedup_key": dedup_key(event)}
                )
                continue
            single = Notification(
                events=(event,),
                suppressed=notification.suppressed if event is notification.event else 0,
                id=notification.id,
                created=notification.created,
            )
            bodies.append(self._trigger(event, c.render_part(ctx, "pagerduty", single, "summary.txt.j2"), single))
        return bodies

    def _trigger(self, event: Event, summary: str, notification: Notification) -> dict[str, Any]:
        run = event.run
        line = " ".join(strip_control(summary).split()) or event.title or event.kind
        payload: dict[str, Any] = {
            "summary": truncate_chars(line, MAX_SUMMARY_CHARS),
            "source": self.source or (run.host if run and run.host else socket.gethostname()) or "alertcb",
            "severity": SEVERITY.get(event.severity, "error"),
            "class": event.kind,
            "custom_details": custom_details(event, notification.suppressed),
        }
        if math.isfinite(event.time):
            payload["timestamp"] = _dt.datetime.fromtimestamp(event.time, tz=_dt.timezone.utc).isoformat()
        if run is not None:
            payload["group"] = run.job or run.name
            if run.worker:
                payload["component"] = run.worker
        body = {
            "routing_key": self._routing_key.get(),
            "event_action": "trigger",
            "dedup_key": dedup_key(event),
            "payload": payload,
            "client": "alertcb",
        }
        if len(json.dumps(body, ensure_ascii=False).encode("utf-8")) > MAX_EVENT_BYTES:
            payload["custom_details"] = {"message": truncate_chars(event.message, 2000), "note": "details too large"}
        return body

    def send(self, notification: Notification, ctx: SendContext) -> Outcome:
        for body in self.build_events(notification, ctx):
            outcome = c.attempt(functools.partial(c.post_json, ctx, self.url, body))
            if outcome.verdict != "delivered":
                return outcome
        return Outcome.delivered()

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out.update(url=redact_url(self.url) if self.url != DEFAULT_URL else self.url, routing_key=str(self._routing_key))
        if self.source:
            out["source"] = self.source
        return out


def dedup_key(event: Event) -> str:
    """``alertcb/<fingerprint>`` (≤ 255 chars): the same for a trigger and its resolve."""
    fingerprint = event.fingerprint
    if len(fingerprint) > 200:
        fingerprint = hashlib.sha256(fingerprint.encode("utf-8", "replace")).hexdigest()
    return f"alertcb/{fingerprint}"


def custom_details(event: Event, suppressed: int) -> dict[str, Any]:
    details = {str(k): truncate_chars(v, 2000) if isinstance(v, str) else json_safe(v) for k, v in event.details.items()}
    return {
        "message": truncate_chars(event.message, 4000),
        "run": event.run.name if event.run else None,
        "host": event.run.host if event.run else None,
        "worker": event.run.worker if event.run else None,
        "epoch": event.epoch,
        "step": event.step,
        "metrics": {k: json_number(v) for k, v in list(event.metrics.items())[:50]},
        "details": details,
        "suppressed": suppressed,
        "fingerprint": event.fingerprint,
    }
