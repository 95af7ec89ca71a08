"""Email channel against a real aiosmtpd server with STARTTLS and AUTH (trustme certificate)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from alertcb.channels import Email
from alertcb.errors import ConfigError
from alertcb.notification import Attachment
from tests.conftest_services import (
    SMTP_PASSWORD,
    SMTP_USER,
    SilentTcp,
    SmtpServer,
    free_port,
    make_event,
    make_notification,
    send_once,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def email_channel(server: SmtpServer, **kwargs: object) -> Email:
    options: dict[str, object] = {
        "host": "127.0.0.1",
        "port": server.port,
        "sender": "alertcb <ml-alerts@example.com>",
        "to": ["oncall@example.com"],
        "cc": ["lead@example.com"],
        "username": SMTP_USER,
        "password": SMTP_PASSWORD,
        "ca_file": server.ca_file,
    }
    options.update(kwargs)
    return Email(**options)  # type: ignore[arg-type]


def test_starttls_auth_and_alternatives(smtp_server: SmtpServer) -> None:
    """Over STARTTLS with AUTH: text/plain then text/html alternatives with correct headers."""
    note = make_notification()
    assert "delivered" == send_once(email_channel(smtp_server), note).verdict
    (msg,) = smtp_server.messages
    assert "multipart/alternative" == msg.get_content_type()
    assert ["text/plain", "text/html"] == [p.get_content_type() for p in msg.iter_parts()]
    assert "🔴 [critical] exp42 · loss is NaN at epoch 3, step 1,234" == msg["Subject"]
    assert "alertcb <ml-alerts@example.com>" == msg["From"]
    assert ("oncall@example.com", "lead@example.com") == (msg["To"], msg["Cc"])
    assert msg["Date"] and msg["Message-ID"].endswith("@example.com>")
    assert ("auto-generated", note.id) == (msg["Auto-Submitted"], msg["X-Alertcb-Id"])
    assert ["ok"] == smtp_server.auth_attempts
    assert {"oncall@example.com", "lead@example.com"} == set(smtp_server.envelopes[0].rcpt_tos)
    text = msg.get_body(("plain",)).get_content()
    assert text.startswith("🔴 exp42 · loss is NaN at epoch 3, step 1,234")


def test_html_is_escaped(smtp_server: SmtpServer) -> None:
    """A <script> in event text arrives escaped in the HTML part."""
    send_once(email_channel(smtp_server), make_notification(make_event(message="<script>alert(1)</script>")))
    html = smtp_server.messages[0].get_body(("html",)).get_content()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>" not in html


def test_inline_image_by_content_id(smtp_server: SmtpServer) -> None:
    """An image attachment with a content_id is inline: multipart/related, referenced by cid:."""
    note = make_notification(attachments=(Attachment("loss.png", "image/png", PNG, "loss-curve"),))
    send_once(email_channel(smtp_server), note)
    msg = smtp_server.messages[0]
    related = [p for p in msg.walk() if p.get_content_type() == "multipart/related"]
    assert 1 == len(related)
    html, image = related[0].iter_parts()
    assert "text/html" == html.get_content_type()
    assert ("image/png", "<loss-curve>", PNG) == (image.get_content_type(), image["Content-ID"], image.get_content())
    assert 'src="cid:loss-curve"' in html.get_content()


def test_other_attachments_are_attached(smtp_server: SmtpServer) -> None:
    """Attachments without a content_id are regular attachments (multipart/mixed)."""
    note = make_notification(attachments=(Attachment("events.jsonl", "application/json", b"{}\n"),))
    send_once(email_channel(smtp_server), note)
    msg = smtp_server.messages[0]
    assert "multipart/mixed" == msg.get_content_type()
    assert ["events.jsonl"] == [a.get_filename() for a in msg.iter_attachments()]


def test_crlf_in_subject_cannot_inject_a_header(smtp_server: SmtpServer) -> None:
    """A run name with CR/LF + 'Bcc:' stays inside the Subject; no extra header or recipient."""
    from alertcb.events import RunInfo

    run = RunInfo(name="exp\r\nBcc: evil@example.com\r\nX-Evil: 1", host="h")
    send_once(email_channel(smtp_server), make_notification(make_event(run=run, title="t\nX-Injected: yes")))
    msg = smtp_server.messages[0]
    assert msg["Bcc"] is None and msg["X-Evil"] is None and msg["X-Injected"] is None
    assert "\n" not in msg["Subject"] and "\r" not in msg["Subject"]
    assert {"oncall@example.com", "lead@example.com"} == set(smtp_server.envelopes[0].rcpt_tos)


def test_bad_password_is_permanent(smtp_server: SmtpServer) -> None:
    """535 authentication failure is not retried."""
    outcome = send_once(email_channel(smtp_server, password="wrong-password"), make_notification())
    assert "permanent" == outcome.verdict
    assert outcome.reason.startswith("SMTP authentication failed")
    assert not smtp_server.messages


def test_server_that_never_answers_times_out(silent_tcp: SilentTcp) -> None:
    """A hung server is a retry after about the timeout, not a hang."""
    channel = Email(host="127.0.0.1", port=silent_tcp.port, sender="a@example.com", to=["b@example.com"])
    started = time.monotonic()
    outcome = send_once(channel, make_notification(), timeout_s=0.3)
    assert "retry" == outcome.verdict
    assert time.monotonic() - started < 30.0  # returned: a hang guard, not a timing claim


def test_connection_refused_is_retryable() -> None:
    """Nothing listening: retry."""
    channel = Email(host="127.0.0.1", port=free_port(), sender="a@example.com", to=["b@example.com"])
    assert "retry" == send_once(channel, make_notification()).verdict


def test_untrusted_certificate_is_permanent(smtp_server: SmtpServer) -> None:
    """Verification is on by default: the test CA is not trusted without ca_file."""
    outcome = send_once(email_channel(smtp_server, ca_file=None), make_notification())
    assert "permanent" == outcome.verdict
    assert "certificate verification failed" in outcome.reason
    assert not smtp_server.auth_attempts


def test_no_starttls_offered_means_no_credentials_sent(tmp_path: Path) -> None:
    """If STARTTLS is required but not advertised, nothing is sent (no AUTH, no message)."""
    server = SmtpServer(tmp_path, SMTP_USER, SMTP_PASSWORD, tls="none")
    server.start()
    try:
        outcome = send_once(email_channel(server), make_notification())
    finally:
        server.stop()
    assert "permanent" == outcome.verdict
    assert "STARTTLS" in outcome.reason
    assert ([], []) == (server.auth_attempts, server.messages)


def test_plain_smtp_to_loopback_when_chosen(tmp_path: Path) -> None:
    """security='none' is allowed to loopback (a local relay)."""
    server = SmtpServer(tmp_path, SMTP_USER, SMTP_PASSWORD, tls="none")
    server.start()
    try:
        channel = Email(host="127.0.0.1", port=server.port, sender="a@example.com", to=["b@example.com"], security="none")
        assert "delivered" == send_once(channel, make_notification()).verdict
    finally:
        server.stop()
    assert 1 == len(server.messages)


def test_implicit_tls(tmp_path: Path) -> None:
    """security='ssl' talks TLS from the first byte (SMTPS, port 465 style)."""
    server = SmtpServer(tmp_path, SMTP_USER, SMTP_PASSWORD, tls="ssl")
    server.start()
    try:
        assert "delivered" == send_once(email_channel(server, security="ssl"), make_notification()).verdict
    finally:
        server.stop()
    assert 1 == len(server.messages)


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [("451 4.3.0 Try again later", "retry"), ("452 4.3.1 Insufficient storage", "retry"), ("554 5.7.1 Rejected as spam", "permanent")],
)
def test_data_reply_table(smtp_server: SmtpServer, reply: str, verdict: str) -> None:
    """4xx replies are temporary (retry); 5xx are permanent."""
    smtp_server.reply = reply
    outcome = send_once(email_channel(smtp_server), make_notification())
    assert verdict == outcome.verdict
    assert reply[:3] in outcome.reason


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"host": "smtp.example.com", "security": "none"}, "security"),
        ({"security": "tls"}, "security"),
        ({"password": None}, "password"),
        ({"username": None}, "username"),
        ({"to": []}, "to"),
        ({"to": ["not-an-address"]}, "to[0]"),
        ({"sender": "a@b.c\r\nBcc: x@y.z"}, "sender"),
        ({"port": 70000}, "port"),
    ],
)
def test_config_errors_name_the_field(kwargs: dict[str, object], field: str) -> None:
    """Bad settings raise ConfigError naming the field; plain SMTP to a remote host needs opting in."""
    options: dict[str, object] = {"host": "127.0.0.1", "sender": "a@example.com", "to": ["b@example.com"], "username": "u", "password": "p4ssw0rd"}
    options.update(kwargs)
    with pytest.raises(ConfigError) as info:
        Email(**options)  # type: ignore[arg-type]
    assert field == info.value.field
    assert "p4ssw0rd" not in str(info.value)


def test_plain_remote_needs_opt_in() -> None:
    """allow_plain_remote=True permits security='none' to a non-loopback host."""
    channel = Email(host="relay.example.com", sender="a@example.com", to=["b@example.com"], security="none", allow_plain_remote=True)
    assert 25 == channel.port
