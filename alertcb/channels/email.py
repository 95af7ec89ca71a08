"""Email over SMTP: text + HTML alternatives, inline images, TLS verified by default.

Every smtplib call runs with ``timeout=ctx.timeout_s``. STARTTLS is required unless
``security="ssl"`` (implicit TLS) or ``security="none"``; plain SMTP is only allowed
to a loopback host unless ``allow_plain_remote=True``. Credentials are never sent
over a connection that is not encrypted.
"""

from __future__ import annotations

import email.utils
import logging
import smtplib
import ssl
from email.message import EmailMessage
from typing import Any, ClassVar, Literal

from alertcb.channels import _http as c
from alertcb.channels.base import Channel, Notification, Outcome, SendContext, is_loopback, render_digest
from alertcb.errors import ConfigError
from alertcb.filters import strip_control, truncate_chars
from alertcb.redact import Secret, scrub
from alertcb.validate import check_existing

logger = logging.getLogger("alertcb")

Security = Literal["starttls", "ssl", "none"]
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
MAX_SUBJECT_CHARS = 200


class Email(Channel):
    """Sends alerts by email.

    Args:
        host: the SMTP server.
        sender: the From address, e.g. ``"alertcb <ml-alerts@example.com>"``.
        to: recipient addresses.
        port: defaults to 587 (starttls), 465 (ssl) or 25 (none).
        cc: carbon-copy addresses.
        username: SMTP AUTH user (with ``password``).
        password: SMTP AUTH password. A secret.
        security: ``"starttls"`` (default; refuses servers that don't offer it),
            ``"ssl"`` (implicit TLS) or ``"none"``.
        ca_file: a PEM bundle to trust instead of the system's (private CAs, tests).
        allow_plain_remote: allow ``security="none"`` to a non-loopback host. Defaults to False.
        name, min_severity, kinds, rate_limit_per_min: see `Channel`.

    Example:
        >>> Email(host="smtp.example.com", sender="ml@example.com", to=["oncall@example.com"],
        ...       username="ml", password=os.environ["SMTP_PASSWORD"], kinds=["summary"])  # doctest: +SKIP
    """

    type: ClassVar[str] = "email"

    def __init__(
        self,
        *,
        host: str,
        sender: str,
        to: list[str],
        port: int | None = None,
        cc: list[str] | None = None,
        username: str | None = None,
        password: str | Secret | None = None,
        security: Security = "starttls",
        ca_file: str | None = None,
        allow_plain_remote: bool = False,
        name: str | None = None,
        min_severity: str = "info",
        kinds: list[str] | None = None,
        rate_limit_per_min: float | None = None,
    ) -> None:
        super().__init__(name=name, min_severity=min_severity, kinds=kinds, rate_limit_per_min=rate_limit_per_min)
        self.host = c.string("host", host)
        if security not in DEFAULT_PORTS:
            raise ConfigError("security", f"expected 'starttls', 'ssl' or 'none', got {security!r}")
        self.security: Security = security
        if port is None:
            port = DEFAULT_PORTS[security]
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ConfigError("port", f"expected a port number 1-65535, got {port!r}")
        self.port = port
        self.sender = _address("sender", sender)
        self.to = [_address(f"to[{i}]", a) for i, a in enumerate(c.string_list("to", to, allow_empty=False))]
        self.cc = [_address(f"cc[{i}]", a) for i, a in enumerate(c.string_list("cc", cc))]
        self.username = c.string("username", username) if username is not None else None
        self._password = c.secret("password", password, required=False)
        if (self.username is None) != (self._password is None):
            raise ConfigError("username" if self.username is None else "password", "set both username and password, or neither")
        self.ca_file = check_existing("ca_file", c.string("ca_file", ca_file)) if ca_file is not None else None
        self.allow_plain_remote = c.flag("allow_plain_remote", allow_plain_remote)
        if security == "none" and not is_loopback(self.host) and not self.allow_plain_remote:
            raise ConfigError(
                "security",
                f"unencrypted SMTP to a non-loopback host ({self.host}) is refused; "
                "use 'starttls' or 'ssl', or set allow_plain_remote = true",
            )

    def build_message(self, notification: Notification, ctx: SendContext) -> EmailMessage:
        """The message: text and HTML alternatives; images with a content_id inline (cid:)."""
        subject = " ".join(strip_control(_part(ctx, notification, "subject.txt.j2")).split())
        msg = EmailMessage()  # default policy: CR/LF in a header value raises, no injection
        msg["Subject"] = truncate_chars(subject, MAX_SUBJECT_CHARS) or "alertcb alert"
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.to)
        if self.cc:
            msg["Cc"] = ", ".join(self.cc)
        msg["Date"] = email.utils.formatdate(notification.created, localtime=True)
        domain = email.utils.parseaddr(self.sender)[1].rpartition("@")[2] or "alertcb.invalid"
        msg["Message-ID"] = email.utils.make_msgid("alertcb." + notification.id, domain=domain)
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Alertcb-Id"] = notification.id
        msg.set_content(_part(ctx, notification, "txt.j2") + "\n")
        msg.add_alternative(_part(ctx, notification, "html.j2") + "\n", subtype="html")
        html_part = msg.get_body(preferencelist=("html",))
        for attachment in notification.attachments:
            maintype, _, subtype = attachment.content_type.partition("/")
            if attachment.content_id and maintype == "image" and html_part is not None:
                html_part.add_related(
                    attachment.data, maintype, subtype or "png", cid=f"<{attachment.content_id}>", filename=attachment.filename
                )
        for attachment in notification.attachments:
            maintype, _, subtype = attachment.content_type.partition("/")
            if not (attachment.content_id and maintype == "image"):
                msg.add_attachment(attachment.data, maintype or "application", subtype or "octet-stream", filename=attachment.filename)
        return msg

    def send(self, notification: Notification, ctx: SendContext) -> Outcome:
        msg = self.build_message(notification, ctx)
        try:
            tls = ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            return Outcome.permanent(f"SMTP: cannot load ca_file: {type(exc).__name__}")
        try:
            return self._deliver(msg, tls, ctx.timeout_s)
        except smtplib.SMTPAuthenticationError as exc:
            return _by_code(exc.smtp_code, f"SMTP authentication failed: {_text(exc.smtp_error)}", auth=True)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            worst = 450 if any(code < 500 for code in codes) else 550
            return _by_code(worst, f"SMTP: all recipients refused (codes {codes})")
        except smtplib.SMTPResponseException as exc:  # sender refused, data error, connect error, helo error
            return _by_code(exc.smtp_code, f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}")
        except smtplib.SMTPNotSupportedError as exc:
            return Outcome.permanent(f"SMTP: {scrub(str(exc))}")
        except ssl.SSLCertVerificationError as exc:
            return Outcome.permanent(f"SMTP: TLS certificate verification failed: {scrub(exc.verify_message or '')}")
        except (OSError, smtplib.SMTPException) as exc:  # timeout, refused, reset, DNS, TLS, disconnect
            return Outcome.retry(f"SMTP: {type(exc).__name__}: {scrub(str(exc))}")

    def _deliver(self, msg: EmailMessage, tls: ssl.SSLContext, timeout_s: float) -> Outcome:
        smtp: smtplib.SMTP
        if self.security == "ssl":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=timeout_s, context=tls)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=timeout_s)
        try:
            outcome, refused = self._session(smtp, msg, tls)
        except BaseException:
            smtp.close()  # no QUIT: the server may be the thing that hangs
            raise
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()
        if refused:
            logger.warning("email %s: some recipients refused: %s", self.name, sorted(refused))
        return outcome

    def _session(self, smtp: smtplib.SMTP, msg: EmailMessage, tls: ssl.SSLContext) -> tuple[Outcome, dict[str, Any]]:
        smtp.ehlo()
        if self.security == "starttls":
            if not smtp.has_extn("starttls"):
                return Outcome.permanent("SMTP: server does not offer STARTTLS; refusing to send in clear text"), {}
            smtp.starttls(context=tls)
            smtp.ehlo()
        if self.username is not None and self._password is not None:
            smtp.login(self.username, self._password.get())
        refused = smtp.send_message(msg, from_addr=email.utils.parseaddr(self.sender)[1], to_addrs=self._recipients())
        return Outcome.delivered(), dict(refused)

    def _recipients(self) -> list[str]:
        return [email.utils.parseaddr(a)[1] for a in self.to + self.cc]

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out.update(
            host=self.host,
            port=self.port,
            security=self.security,
            sender=self.sender,
            to=list(self.to),
            cc=list(self.cc),
            username=self.username,
            password=str(self._password) if self._password is not None else None,
            ca_file=self.ca_file,
        )
        return out

    def __repr__(self) -> str:
        return f"Email(name={self.name!r}, host={self.host!r}, port={self.port})"


def _part(ctx: SendContext, notification: Notification, part: str) -> str:
    """``email/<group>.<part>``; a digest names every incident it carries (mail has room)."""
    if not notification.digest:
        return c.render_part(ctx, "email", notification, part)
    return render_digest(ctx, f"email/digest.{part}", notification, lambda text: True)


def _address(field: str, value: Any) -> str:
    value = c.string(field, value)
    _, addr = email.utils.parseaddr(value)
    if "@" not in addr or any(ch.isspace() for ch in addr):
        raise ConfigError(field, f"expected an email address like 'ml@example.com', got {value!r}")
    return value


def _text(raw: Any) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return scrub(" ".join(text.split()))[:200]


def _by_code(code: int, reason: str, *, auth: bool = False) -> Outcome:
    """4xx: temporary (retry); 5xx (and 535 bad credentials): permanent."""
    if 400 <= code < 500:
        return Outcome.retry(reason)
    if code < 400 and not auth:  # e.g. -1 from a dropped connection
        return Outcome.retry(reason)
    return Outcome.permanent(reason)
