"""Stand-in services on loopback, built from ../shared/SERVICES.md, plus a real Alertmanager.

Reusable by any test suite::

    from tests.conftest_services import *  # noqa: F403  (fixtures)

Stand-ins (threaded ``http.server``) enforce the documented rules of each service
(limits, error codes, rate limits) and support fault injection:

    server.fail_next("hang", "reset", 500, Reply(429, {"Retry-After": "2"}), WeComError(45009))
    server.fail_for(3.0, 500)         # every request for 3 s
    server.requests                    # every request received (`Request`)
    server.accepted                    # the payloads the service accepted as delivered

Fixtures: ``wecom_server``, ``slack_server``, ``pagerduty_server``, ``receiver``,
``smtp_server`` (aiosmtpd with STARTTLS + AUTH, trustme certificate), ``silent_tcp``
(accepts, never answers), ``alertmanager`` (a factory: ``alertmanager(n=1, receiver_url)``
starts n clustered real Alertmanagers).
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import hashlib
import http.server
import json
import math
import os
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "AlertmanagerCluster",
    "PagerDutyStandIn",
    "Receiver",
    "Reply",
    "Request",
    "SlackStandIn",
    "SmtpServer",
    "StandIn",
    "WeComError",
    "WeComStandIn",
    "alertmanager",
    "free_port",
    "make_event",
    "make_notification",
    "pagerduty_server",
    "receiver",
    "send_once",
    "silent_tcp",
    "slack_server",
    "smtp_server",
    "wait_for",
    "wecom_server",
]

ALERTMANAGER_BIN = os.environ.get("ALERTMANAGER_BIN", "/usr/bin/prometheus-alertmanager")


# ---------------------------------------------------------------- helpers for tests
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout_s: float = 10.0, interval_s: float = 0.05) -> Any:
    """Poll ``predicate`` until truthy; return its value or fail the test."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout_s} s")
        time.sleep(interval_s)


def make_event(**fields: Any) -> Any:
    """A realistic event (``nonfinite``, critical, run ``exp42``) with ``fields`` overridden."""
    from alertcb.events import Event, RunInfo

    defaults: dict[str, Any] = {
        "kind": "nonfinite",
        "title": "loss is NaN",
        "message": "loss became NaN at step 1,234 (last finite value 0.4131)",
        "severity": "critical",
        "run": RunInfo(name="exp42", host="gpu-07", worker="worker:0", job="sweep-3", labels={"team": "ml"}),
        "epoch": 2,  # shown 1-based: "epoch 3"
        "step": 1234,
        "metrics": {"loss": math.nan, "accuracy": 0.8125},
        "details": {"median": 0.4131, "threshold": 10.0},
    }
    defaults.update(fields)
    return Event(**defaults)


def make_notification(*events: Any, **fields: Any) -> Any:
    from alertcb.notification import Notification

    return Notification(events=tuple(events) or (make_event(),), **fields)


def send_once(channel: Any, notification: Any, timeout_s: float = 2.0, **renderer: Any) -> Any:
    """One attempt through ``channel`` with a fresh client, as the dispatcher makes it."""
    from alertcb.render import Renderer

    if renderer or "default" not in _renderers:
        made = Renderer(**renderer)
        if renderer:
            return _send(channel, notification, timeout_s, made)
        _renderers["default"] = made
    return _send(channel, notification, timeout_s, _renderers["default"])


_renderers: dict[str, Any] = {}
_clients: dict[float, Any] = {}


def _send(channel: Any, notification: Any, timeout_s: float, renderer: Any) -> Any:
    import httpx

    from alertcb.channels.base import SendContext

    if timeout_s not in _clients:  # one client per timeout (building one costs ~40 ms of TLS setup)
        _clients[timeout_s] = httpx.Client(timeout=timeout_s)
    return channel.send(notification, SendContext(_clients[timeout_s], renderer.render, timeout_s))


# ---------------------------------------------------------------- the HTTP stand-in base
@dataclasses.dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    time: float  # time.monotonic() on arrival

    def json(self) -> Any:
        return json.loads(self.body)


@dataclasses.dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    body: bytes | str | Any = b""

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


@dataclasses.dataclass
class WeComError:
    """Fault: HTTP 200 with this errcode (WeCom's way of failing)."""

    errcode: int


Fault = Any  # "hang" | "reset" | int status | Reply | WeComError | Callable[[Request], Reply]


class StandIn:
    """A threaded HTTP server on 127.0.0.1 with fault injection; subclasses add the service's rules."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.accepted: list[Any] = []
        self.accepted_at: list[float] = []  # arrival time of each accepted request
        self.lock = threading.RLock()
        self._accept_lock = threading.Lock()
        self._faults: collections.deque[Fault] = collections.deque()
        self._fault_until: tuple[float, Fault] | None = None
        self._release = threading.Event()
        stand_in = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                stand_in._handle(self)

            do_GET = do_POST
            do_PUT = do_POST

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, name=type(self).__name__, daemon=True
        )

    # -- lifecycle
    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    # -- fault injection
    def fail_next(self, *faults: Fault) -> None:
        with self.lock:
            self._faults.extend(faults)

    def fail_for(self, seconds: float, fault: Fault) -> None:
        with self.lock:
            self._fault_until = (time.monotonic() + seconds, fault)

    def release(self) -> None:
        """Let every request held by a "hang" fault go (the connection closes unanswered)."""
        self._release.set()

    def heal(self) -> None:
        """End a `fail_for` fault now."""
        with self.lock:
            self._fault_until = None

    def _next_fault(self) -> Fault | None:
        with self.lock:
            if self._faults:
                return self._faults.popleft()
            if self._fault_until is not None:
                until, fault = self._fault_until
                if time.monotonic() < until:
                    return fault
                self._fault_until = None
        return None

    # -- the service: override
    def respond(self, request: Request) -> Reply:
        self.accept(request.body, request)
        return Reply(200, {}, b"ok")

    def accept(self, item: Any, request: Request) -> None:
        """Record ``item`` as delivered (call with or without holding ``lock``)."""
        with self._accept_lock:
            self.accepted.append(item)
            self.accepted_at.append(request.time)

    def fault_reply(self, fault: Fault, request: Request) -> Reply:
        if isinstance(fault, Reply):
            return fault
        if isinstance(fault, int):
            return Reply(fault, {}, f"injected {fault}")
        if isinstance(fault, WeComError):
            return Reply(200, {"Content-Type": "application/json"}, {"errcode": fault.errcode, "errmsg": "injected"})
        if callable(fault):
            return fault(request)
        raise ValueError(f"unknown fault {fault!r}")

    def _handle(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        parts = urllib.parse.urlsplit(handler.path)
        request = Request(
            method=handler.command,
            path=parts.path,
            query=dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=body,
            time=time.monotonic(),
        )
        with self.lock:
            self.requests.append(request)
        fault = self._next_fault()
        if fault == "hang":
            self._release.wait(60.0)
            handler.close_connection = True
            return
        if fault == "reset":
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.close_connection = True
            handler.connection.close()
            handler.wfile = _NullWriter()  # type: ignore[assignment]
            return
        reply = self.fault_reply(fault, request) if fault is not None else self.respond(request)
        data = reply.encoded()
        handler.send_response(reply.status)
        for key, value in reply.headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


class _NullWriter:
    closed = True

    def write(self, data: bytes) -> int:
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class SlidingWindow:
    """At most ``limit`` events in any ``window_s`` seconds."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self.times: collections.deque[float] = collections.deque()

    def allow(self, now: float) -> bool:
        while self.times and now - self.times[0] >= self.window_s:
            self.times.popleft()
        if len(self.times) >= self.limit:
            return False
        self.times.append(now)
        return True


# ---------------------------------------------------------------- WeCom
class WeComStandIn(StandIn):
    """WeCom group robot: every answer HTTP 200 with an errcode.

    Enforces: the key (93000), msgtype (40008), non-empty content (44004), byte limits
    4096/2048 (45002), image base64+md5 and ≤ 2 MB (40009), valid UTF-8 (40035) and
    ``rate_limit`` messages per ``window_s`` (45009).
    """

    PATH = "/cgi-bin/webhook/send"

    def __init__(self, key: str, rate_limit: int = 20, window_s: float = 60.0) -> None:
        super().__init__()
        self.key = key
        self.window = SlidingWindow(rate_limit, window_s)
        self.errcodes: list[int] = []

    @property
    def url(self) -> str:
        return self.base_url + self.PATH

    def respond(self, request: Request) -> Reply:
        code = self.check(request)
        with self.lock:
            self.errcodes.append(code)
        if code == 0:
            self.accept(request.json(), request)
        return Reply(200, {"Content-Type": "application/json"}, {"errcode": code, "errmsg": "ok" if code == 0 else "error"})

    def check(self, request: Request) -> int:
        if request.path != self.PATH or request.query.get("key") != self.key:
            return 93000
        try:
            body = request.json()
        except ValueError:
            return 40008
        if not isinstance(body, dict):
            return 40008
        msgtype = body.get("msgtype")
        limits = {"text": 2048, "markdown": 4096, "markdown_v2": 4096}
        if msgtype in limits:
            content = (body.get(msgtype) or {}).get("content")
            if not isinstance(content, str) or not content:
                return 44004
            try:
                raw = content.encode("utf-8")
            except UnicodeEncodeError:
                return 40035
            if len(raw) > limits[msgtype]:
                return 45002
            if msgtype == "text":
                for field in ("mentioned_list", "mentioned_mobile_list"):
                    value = body["text"].get(field, [])
                    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                        return 40035
        elif msgtype == "image":
            image = body.get("image") or {}
            try:
                data = base64.b64decode(image.get("base64", ""), validate=True)
            except ValueError:
                return 40009
            if not data or len(data) > 2 * 1024 * 1024 or hashlib.md5(data).hexdigest() != image.get("md5"):
                return 40009
        else:
            return 40008
        if not self.window.allow(request.time):
            return 45009
        return 0


# ---------------------------------------------------------------- Slack
class SlackStandIn(StandIn):
    """Slack incoming webhook: 200 ``ok``; 400 ``invalid_payload`` on any block-limit breach;
    404 ``no_service`` for a wrong token; 429 + Retry-After past ``rate_per_s`` (burst ``burst``).

    ``early_requests`` counts requests that arrived while a 429's Retry-After was running.
    """

    def __init__(self, token: str, rate_per_s: float = 1.0, burst: int = 3, retry_after_s: int | None = None) -> None:
        super().__init__()
        self.path = f"/services/T000/B000/{token}"
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.level = float(burst)
        self.stamp = time.monotonic()
        self.fixed_retry_after_s = retry_after_s
        self.blocked_until = 0.0
        self.early_requests = 0
        self.invalid: list[str] = []

    @property
    def url(self) -> str:
        return self.base_url + self.path

    def respond(self, request: Request) -> Reply:
        with self.lock:
            if request.time < self.blocked_until:
                self.early_requests += 1
        if request.path != self.path:
            return Reply(404, {}, "no_service")
        problem = self.validate(request.body)
        if problem:
            with self.lock:
                self.invalid.append(problem)
            return Reply(400, {}, "invalid_payload")
        with self.lock:
            now = request.time
            self.level = min(float(self.burst), self.level + (now - self.stamp) * self.rate_per_s)
            self.stamp = now
            if self.level < 1.0:
                wait = self.fixed_retry_after_s or max(1, math.ceil((1.0 - self.level) / self.rate_per_s))
                self.blocked_until = now + wait
                return Reply(429, {"Retry-After": str(wait)}, "rate_limited")
            self.level -= 1.0
            self.accept(json.loads(request.body), request)
        return Reply(200, {"Content-Type": "text/plain"}, "ok")

    @staticmethod
    def validate(raw: bytes) -> str:
        try:
            body = json.loads(raw)
        except ValueError:
            return "not JSON"
        if not isinstance(body, dict):
            return "not an object"
        text, blocks = body.get("text"), body.get("blocks")
        if text is None and not blocks:
            return "no text and no blocks"
        if text is not None and (not isinstance(text, str) or len(text) > 40_000):
            return "text too long"
        if blocks is None:
            return ""
        if not isinstance(blocks, list) or len(blocks) > 50:
            return "more than 50 blocks"
        for block in blocks:
            kind = block.get("type")
            obj = block.get("text") or {}
            if kind == "header":
                if obj.get("type") != "plain_text" or not 1 <= len(obj.get("text", "")) <= 150:
                    return "bad header"
            elif kind == "section":
                fields = block.get("fields")
                if fields is not None and (len(fields) > 10 or any(len(f.get("text", "")) > 2000 for f in fields)):
                    return "bad fields"
                if "text" in block and (obj.get("type") not in ("mrkdwn", "plain_text") or not 1 <= len(obj.get("text", "")) <= 3000):
                    return "bad section text"
                if fields is None and "text" not in block:
                    return "empty section"
            elif kind not in ("divider", "context"):
                return f"unknown block type {kind!r}"
        return ""


# ---------------------------------------------------------------- PagerDuty
class PagerDutyStandIn(StandIn):
    """PagerDuty Events API v2: 202 on success; 400 with ``errors`` on invalid events;
    429 past ``rate_limit`` events per ``window_s``. Tracks incidents by dedup_key."""

    PATH = "/v2/enqueue"

    def __init__(self, routing_key: str, rate_limit: int = 120, window_s: float = 60.0) -> None:
        super().__init__()
        self.routing_key = routing_key
        self.window = SlidingWindow(rate_limit, window_s)
        self.incidents: dict[str, str] = {}  # dedup_key -> "triggered" | "resolved"
        self.rejected: list[list[str]] = []

    @property
    def url(self) -> str:
        return self.base_url + self.PATH

    def respond(self, request: Request) -> Reply:
        if request.path != self.PATH:
            return Reply(404, {}, "not found")
        errors = self.validate(request.body)
        if errors:
            with self.lock:
                self.rejected.append(errors)
            return Reply(400, {"Content-Type": "application/json"}, {"status": "invalid event", "message": "Event object is invalid", "errors": errors})
        if not self.window.allow(request.time):
            return Reply(429, {}, {"status": "throttle event", "message": "Requests for this service are arriving too quickly."})
        event = json.loads(request.body)
        key = event.get("dedup_key") or hashlib.sha1(request.body).hexdigest()
        self.accept(event, request)
        with self.lock:
            if event["event_action"] == "trigger":
                self.incidents[key] = "triggered"
            elif event["event_action"] == "resolve" and key in self.incidents:
                self.incidents[key] = "resolved"
        return Reply(202, {"Content-Type": "application/json"}, {"status": "success", "message": "Event processed", "dedup_key": key})

    def validate(self, raw: bytes) -> list[str]:
        if len(raw) > 512 * 1024:
            return ["event larger than 512 KB"]
        try:
            event = json.loads(raw)
        except ValueError:
            return ["body is not JSON"]
        errors = []
        key = event.get("routing_key")
        if not isinstance(key, str) or len(key) != 32:
            errors.append("'routing_key' must be 32 characters")
        elif key != self.routing_key:
            errors.append("'routing_key' is not an integration key of this account")
        action = event.get("event_action")
        if action not in ("trigger", "acknowledge", "resolve"):
            errors.append("'event_action' is invalid")
        dedup = event.get("dedup_key")
        if dedup is not None and (not isinstance(dedup, str) or len(dedup) > 255):
            errors.append("'dedup_key' must be a string of at most 255 characters")
        if action in ("acknowledge", "resolve") and not dedup:
            errors.append("'dedup_key' is required for acknowledge and resolve")
        if action == "trigger":
            payload = event.get("payload")
            if not isinstance(payload, dict):
                return errors + ["'payload' is missing"]
            summary = payload.get("summary")
            if not isinstance(summary, str) or not 1 <= len(summary) <= 1024:
                errors.append("'payload.summary' must be 1-1024 characters")
            if not isinstance(payload.get("source"), str) or not payload["source"]:
                errors.append("'payload.source' is required")
            if payload.get("severity") not in ("critical", "error", "warning", "info"):
                errors.append("'payload.severity' is invalid")
            if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
                errors.append("'payload.custom_details' must be an object")
        return errors


# ---------------------------------------------------------------- generic receiver (webhook, Alertmanager hook)
class Receiver(StandIn):
    """Accepts any POST with 200 and records the JSON bodies in ``accepted``."""

    def respond(self, request: Request) -> Reply:
        self.accept(request, request)
        return Reply(200, {"Content-Type": "application/json"}, {"status": "ok"})

    @property
    def url(self) -> str:
        return self.base_url + "/hook"

    def bodies(self) -> list[Any]:
        with self.lock:
            return [r.json() for r in self.accepted]


# ---------------------------------------------------------------- SMTP (aiosmtpd)
class SmtpServer:
    """A real aiosmtpd server: STARTTLS (trustme certificate) and AUTH (user/password).

    Args:
        tls: "starttls" (required before AUTH and MAIL), "ssl" (implicit TLS) or "none".
        password: the only password accepted for ``username``.
        reply: an SMTP reply for DATA (e.g. "451 4.3.0 try later"), default 250.
    """

    def __init__(self, tmp_path: Path, username: str, password: str, tls: str = "starttls") -> None:
        import trustme
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        self.messages: list[Any] = []
        self.envelopes: list[Any] = []
        self.auth_attempts: list[str] = []
        self.reply = "250 OK"
        self.ca = trustme.CA()
        cert = self.ca.issue_cert("127.0.0.1", "localhost")
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(server_ctx)
        self.ca_file = str(tmp_path / "smtp-ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)
        outer = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                import email
                import email.policy

                if outer.reply.startswith("250"):
                    outer.envelopes.append(envelope)
                    outer.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
                return outer.reply

        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
            ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == username and auth_data.password.decode() == password
            outer.auth_attempts.append("ok" if ok else "fail")
            return AuthResult(success=True) if ok else AuthResult(success=False, handled=False)

        self.port = free_port()
        kwargs: dict[str, Any] = {"authenticator": authenticator}
        if tls == "starttls":
            kwargs.update(tls_context=server_ctx, require_starttls=True, auth_require_tls=True)
        elif tls == "ssl":
            kwargs.update(ssl_context=server_ctx, auth_require_tls=False)
        else:
            kwargs.update(auth_require_tls=False)
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **kwargs)

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


class SilentTcp:
    """Accepts TCP connections and never says a word (a hung server)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.conns: list[socket.socket] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
                self.conns.append(conn)
            except OSError:
                continue

    def close(self) -> None:
        self._stop.set()
        self.thread.join(2)
        for conn in self.conns:
            conn.close()
        self.sock.close()


# ---------------------------------------------------------------- real Alertmanager
class AlertmanagerCluster:
    """``n`` real Alertmanager processes on loopback (clustered by gossip when n > 1).

    Args:
        workdir: a temporary folder (config, storage, logs).
        receiver_url: the webhook receiver every instance notifies.
        n: instances. Each gets its own web port; ``urls`` lists their base URLs.
        group_wait / group_interval: route timings (short for tests).
        peer_timeout: ``--cluster.peer-timeout``: how long instance i waits (× i) before
            notifying, so the notification log can deduplicate across the cluster.
        extra_args: more command-line flags for every instance.
    """

    def __init__(
        self,
        workdir: Path,
        receiver_url: str,
        n: int = 1,
        group_wait: str = "1s",
        group_interval: str = "1s",
        peer_timeout: str = "1s",
        extra_args: list[str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.n = n
        self.peer_timeout = peer_timeout
        self.extra_args = list(extra_args or [])
        self.procs: list[subprocess.Popen[bytes]] = []
        self.urls: list[str] = []
        self.config = workdir / "alertmanager.yml"
        self.config.write_text(
            "route:\n"
            "  receiver: hook\n"
            "  group_by: [alertname, run]\n"
            f"  group_wait: {group_wait}\n"
            f"  group_interval: {group_interval}\n"
            "  repeat_interval: 1h\n"
            "receivers:\n"
            "  - name: hook\n"
            "    webhook_configs:\n"
            f"      - url: '{receiver_url}'\n"
            "        send_resolved: true\n"
        )

    def start(self, timeout_s: float = 20.0) -> AlertmanagerCluster:
        web_ports = [free_port() for _ in range(self.n)]
        cluster_ports = [free_port() for _ in range(self.n)] if self.n > 1 else []
        for i in range(self.n):
            storage = self.workdir / f"data-{i}"
            storage.mkdir(exist_ok=True)
            cmd = [
                ALERTMANAGER_BIN,
                f"--config.file={self.config}",
                f"--storage.path={storage}",
                f"--web.listen-address=127.0.0.1:{web_ports[i]}",
                "--log.level=warn",
            ]
            if self.n > 1:
                cmd += [
                    f"--cluster.listen-address=127.0.0.1:{cluster_ports[i]}",
                    "--cluster.settle-timeout=2s",
                    f"--cluster.peer-timeout={self.peer_timeout}",
                    "--cluster.gossip-interval=100ms",
                    "--cluster.pushpull-interval=1s",
                ]
                cmd += [f"--cluster.peer=127.0.0.1:{p}" for j, p in enumerate(cluster_ports) if j != i]
            else:
                cmd.append("--cluster.listen-address=")
            cmd += self.extra_args
            log = open(self.workdir / f"alertmanager-{i}.log", "wb")
            self.procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))
            log.close()
            self.urls.append(f"http://127.0.0.1:{web_ports[i]}")
        for url in self.urls:
            wait_for(lambda url=url: _ready(url), timeout_s)
        return self

    def alerts(self, index: int = 0) -> list[dict[str, Any]]:
        with urllib.request.urlopen(self.urls[index] + "/api/v2/alerts", timeout=5) as resp:
            return list(json.load(resp))

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        deadline = time.monotonic() + 1.0  # a clustered instance may spend 10 s saying goodbye
        for proc in self.procs:
            try:
                proc.wait(max(0.01, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.workdir.glob("alertmanager-*.log")))


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/-/ready", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


# ---------------------------------------------------------------- fixtures
WECOM_KEY = "CANARYsecret7f3a9c-wecom-0000-1111"
SLACK_TOKEN = "CANARYsecret7f3a9cSlackToken0000"
PD_ROUTING_KEY = "CANARYsecret7f3a9cPD00000000000a"  # 32 characters
SMTP_USER = "alerts"
SMTP_PASSWORD = "CANARYsecret7f3a9c-smtp-pw"


@pytest.fixture
def wecom_server() -> Iterator[WeComStandIn]:
    server = WeComStandIn(WECOM_KEY)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def slack_server() -> Iterator[SlackStandIn]:
    server = SlackStandIn(SLACK_TOKEN)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def pagerduty_server() -> Iterator[PagerDutyStandIn]:
    server = PagerDutyStandIn(PD_ROUTING_KEY)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[SmtpServer]:
    server = SmtpServer(tmp_path, SMTP_USER, SMTP_PASSWORD).start()
    yield server
    server.stop()


@pytest.fixture
def silent_tcp() -> Iterator[SilentTcp]:
    server = SilentTcp()
    yield server
    server.close()


@pytest.fixture
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., AlertmanagerCluster]]:
    """Factory: ``alertmanager(receiver_url, n=1)`` starts n real (clustered) Alertmanagers."""
    if not (os.path.exists(ALERTMANAGER_BIN) or shutil.which(ALERTMANAGER_BIN)):
        pytest.skip(f"{ALERTMANAGER_BIN} is not installed (apt-get install prometheus-alertmanager)")
    started: list[AlertmanagerCluster] = []

    def start(receiver_url: str, n: int = 1, **kwargs: Any) -> AlertmanagerCluster:
        cluster = AlertmanagerCluster(tmp_path_factory.mktemp("alertmanager"), receiver_url, n, **kwargs)
        started.append(cluster)
        return cluster.start()

    yield start
    for cluster in started:
        cluster.stop()
