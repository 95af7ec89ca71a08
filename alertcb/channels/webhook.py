"""Generic webhook: a versioned JSON document (``alertcb.notification/1``), optionally signed.

The body is documented in docs/schema.md. With ``secret=``, each request carries
``X-Alertcb-Timestamp: <unix seconds>`` and
``X-Alertcb-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>." + raw body>``,
so a receiver can check both the sender and the freshness of a request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from typing import Any, ClassVar

from alertcb.channels import _http as c
from alertcb.channels.base import (
    Channel,
    Notification,
    Outcome,
    SendContext,
    check_url,
    render_digest,
)
from alertcb.errors import ConfigError
from alertcb.filters import no_mentions
from alertcb.redact import MASK, Secret, redact_url

SCHEMA = "alertcb.notification/1"
SIGNATURE_HEADER = "X-Alertcb-Signature"
TIMESTAMP_HEADER = "X-Alertcb-Timestamp"
ID_HEADER = "X-Alertcb-Id"
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_SENSITIVE_HEADER = re.compile(r"(?i)auth|token|key|secret|cookie|pass|sig")


class Webhook(Channel):
    """POSTs each notification as JSON to any HTTP endpoint.

    Args:
        url: the endpoint. Treated as a secret (URLs often carry tokens).
        headers: extra request headers, e.g. ``{"Authorization": "Bearer …"}``. Values of
            headers whose name looks sensitive (auth, token, key, secret, cookie, …) are secrets.
        secret: a shared key; when set, requests are signed with HMAC-SHA256.
        allow_insecure_http: allow ``http://`` to a non-loopback host. Defaults to False.
        name, min_severity, kinds, rate_limit_per_min: see `Channel`.

    Example:
        >>> Webhook(url="https://ops.example.com/hooks/alertcb", secret=os.environ["HOOK_SECRET"])  # doctest: +SKIP
    """

    type: ClassVar[str] = "webhook"

    def __init__(
        self,
        *,
        url: str | Secret,
        headers: dict[str, str] | None = None,
        secret: str | Secret | None = None,
        allow_insecure_http: bool = False,
        name: str | None = None,
        min_severity: str = "info",
        kinds: list[str] | None = None,
        rate_limit_per_min: float | None = None,
    ) -> None:
        super().__init__(name=name, min_severity=min_severity, kinds=kinds, rate_limit_per_min=rate_limit_per_min)
        url_secret = c.secret("url", url)
        assert url_secret is not None
        c.url_credentials(check_url("url", url_secret, allow_insecure_http=c.flag("allow_insecure_http", allow_insecure_http)))
        self._url = url_secret
        self._secret = c.secret("secret", secret, required=False)
        self._headers: dict[str, str | Secret] = {}
        for key, value in c.string_dict("headers", headers).items():
            if not _TOKEN.match(key):
                raise ConfigError("headers", f"invalid header name {key!r}")
            self._headers[key] = Secret(value) if _SENSITIVE_HEADER.search(key) else value

    def build_body(self, notification: Notification, ctx: SendContext) -> bytes:
        """The exact bytes sent (and signed)."""
        document = {
            "schema": SCHEMA,
            "id": notification.id,
            "created": notification.created,
            "severity": str(notification.severity),
            "status": notification.event.status,
            "events": [event.to_dict() for event in notification.events],
            "suppressed": notification.suppressed,
            "digest": notification.digest,
            "unnamed": notification.unnamed,
            "late_by_s": notification.late_by_s,
            "recovered": notification.recovered,
            # Receivers often forward "text" to a chat: mention syntax in it is made inert.
            # The events themselves are data and stay exact.
            "text": no_mentions(
                render_digest(ctx, "webhook/digest.txt.j2", notification, lambda text: True)
                if notification.digest  # the JSON carries every event: all are named
                else c.render_part(ctx, "webhook", notification, "txt.j2")
            ),
            "attachments": [
                {"filename": a.filename, "content_type": a.content_type, "size": len(a.data), "content_id": a.content_id}
                for a in notification.attachments
            ],
        }
        return json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8", "replace")

    def headers_for(self, body: bytes, notification: Notification, now: float | None = None) -> dict[str, str]:
        headers = {k: v.get() if isinstance(v, Secret) else v for k, v in self._headers.items()}
        headers["Content-Type"] = "application/json; charset=utf-8"
        headers[ID_HEADER] = notification.id
        if self._secret is not None:
            timestamp = str(int(time.time() if now is None else now))
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = "sha256=" + sign(self._secret.get(), timestamp, body)
        return headers

    def send(self, notification: Notification, ctx: SendContext) -> Outcome:
        body = self.build_body(notification, ctx)
        headers = self.headers_for(body, notification)
        return c.attempt(lambda: c.post(ctx, self._url.get(), content=body, headers=headers))

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out.update(
            url=redact_url(self._url.get()),
            headers={k: MASK if isinstance(v, Secret) else v for k, v in self._headers.items()},
            signed=self._secret is not None,
        )
        return out


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``timestamp + "." + body`` (what receivers recompute)."""
    return hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, timestamp: str, signature: str, *, max_age_s: float = 300.0) -> bool:
    """Receiver side: check ``X-Alertcb-Signature`` and that the timestamp is fresh."""
    try:
        age = abs(time.time() - int(timestamp))
    except ValueError:
        return False
    expected = "sha256=" + sign(secret, timestamp, body)
    return age <= max_age_s and hmac.compare_digest(expected, signature)
