"""Small helpers shared by the alertcb channels (private).

Validation helpers raise `ConfigError` naming the field and never echo a secret.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from alertcb.channels.base import Outcome, SendContext, check_url, classify_http
from alertcb.errors import ConfigError, TransportError
from alertcb.notification import Notification
from alertcb.redact import Secret, register, scrub
from alertcb.render import template_name


def render_part(ctx: SendContext, channel_type: str, notification: Notification, part: str, **extra: Any) -> str:
    """Render ``<type>/<group>.<part>``, falling back to ``<type>/alert.<part>``."""
    import jinja2

    name = template_name(channel_type, notification, part)
    try:
        return ctx.render(name, notification, **extra)
    except jinja2.TemplateNotFound as exc:
        fallback = f"{channel_type}/alert.{part}"
        if name == fallback or exc.name != name:
            raise
        return ctx.render(fallback, notification, **extra)


def secret(field: str, value: Any, *, required: bool = True) -> Secret | None:
    """Accept ``str | Secret`` and return a registered `Secret` (None if optional and unset)."""
    if value is None or value == "":
        if required:
            raise ConfigError(field, "is required")
        return None
    if isinstance(value, Secret):
        register(value.get())
        return value
    if not isinstance(value, str):
        raise ConfigError(field, f"expected a string, got {type(value).__name__}")
    return Secret(value)


def webhook_endpoint(field: str, value: Any, *, allow_insecure_http: Any = False) -> Secret:
    """A required endpoint URL that is itself the credential (a chat webhook).

    Returns it as a registered `Secret`, checked by `check_url` (``https://`` unless the host
    is loopback or ``allow_insecure_http``), with the credentials it carries registered so
    `alertcb.redact.scrub` masks them (`url_credentials`).

    Raises:
        ConfigError: naming ``field`` (or ``allow_insecure_http``); the URL is never echoed.
    """
    url = secret(field, value)
    assert url is not None
    check_url(field, url, allow_insecure_http=flag("allow_insecure_http", allow_insecure_http))
    url_credentials(url.get())
    return url


def post(ctx: SendContext, url: str, *, headers: dict[str, str] | None = None, **body: Any) -> Any:
    """POST with the shared client (``body``: httpx's ``json=``, ``content=``, ``data=``/``files=``).

    Returns the ``httpx.Response``.

    Raises:
        TransportError: on a timeout or a connection error (its text scrubbed of secrets).
    """
    import httpx

    try:
        return ctx.http.post(url, headers=headers, **body)
    except httpx.TimeoutException as exc:
        raise TransportError(f"timeout ({type(exc).__name__})") from None
    except httpx.HTTPError as exc:
        raise TransportError(f"{type(exc).__name__}: {scrub(str(exc))}") from None


def post_json(ctx: SendContext, url: str, payload: Any, headers: dict[str, str] | None = None) -> Any:
    """POST ``payload`` as JSON with the shared client (see `post`)."""
    return post(ctx, url, json=payload, headers=headers)


#: ``classify(status, headers, text)``: a service's reading of one HTTP response.
Classify = Callable[[int, Any, str], Outcome]


def attempt(request: Callable[[], Any], classify: Classify = classify_http) -> Outcome:
    """One request (``request()`` returns the ``httpx.Response``) and its verdict.

    A `TransportError` (timeout, refused connection) retries; a response is ``classify``-ed.
    """
    try:
        response = request()
    except TransportError as exc:
        return Outcome.retry(str(exc))
    return classify(response.status_code, response.headers, response.text)


def string(field: str, value: Any, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        raise ConfigError(field, "expected a non-empty string")
    if "\r" in value or "\n" in value:
        raise ConfigError(field, "must not contain line breaks")
    return value


def flag(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(field, f"expected true or false, got {type(value).__name__}")
    return value


def number(field: str, value: Any, *, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > minimum:
        raise ConfigError(field, f"expected a number greater than {minimum:g}, got {value!r}")
    return float(value)


def string_list(field: str, value: Any, *, allow_empty: bool = True) -> list[str]:
    if value is None:
        value = []
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ConfigError(field, "expected a list of strings")
    out = [string(f"{field}[{i}]", v) for i, v in enumerate(value)]
    if not out and not allow_empty:
        raise ConfigError(field, "expected at least one entry")
    return out


def string_dict(field: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(field, "expected a table of string values")
    return {string(f"{field} key", k): string(f"{field}.{k}", v, allow_empty=True) for k, v in value.items()}



def url_credentials(url: str) -> str:
    """Register the credentials a URL may carry as secrets, so `scrub` masks them; return the URL.

    That is the password, query values of 8+ characters and token-like path segments
    (16+ characters mixing letters and digits, e.g. Slack's ``T…/B…/<token>``).
    """
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    if parts.password:
        import base64

        password = urllib.parse.unquote(parts.password)
        Secret(password)
        basic = f"{urllib.parse.unquote(parts.username or '')}:{password}".encode()
        Secret(base64.b64encode(basic).decode("ascii"))  # as sent in "Authorization: Basic …"
    for _, value in urllib.parse.parse_qsl(parts.query):
        if len(value) >= 8:
            Secret(value)
    for segment in parts.path.split("/"):
        segment = urllib.parse.unquote(segment)
        if len(segment) >= 16 and any(ch.isdigit() for ch in segment) and any(ch.isalpha() for ch in segment):
            Secret(segment)
    return url
