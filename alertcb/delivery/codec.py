"""Outbox rows: the tables, their bodies (a `Notification` to JSON and back, safe for any text) and views.

``encode`` never raises and always returns valid UTF-8 text: lone surrogates become
U+FFFD and values JSON cannot hold are made JSON-safe, so one hostile string can never
fail an outbox write. Attachments (the summary's loss curve) travel base64-encoded, so
a re-delivered summary keeps its picture.
"""

from __future__ import annotations

import base64
import errno
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from alertcb.events import Event, json_safe, valid_text
from alertcb.notification import Attachment, Notification

BODY_SCHEMA = "alertcb.notification/1"

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    notification_id TEXT NOT NULL,
    destination TEXT NOT NULL,
    body TEXT NOT NULL,
    created REAL NOT NULL,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_state ON outbox(state, destination);
CREATE TABLE IF NOT EXISTS owners (
    owner TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    boot_id TEXT NOT NULL,
    pidns TEXT NOT NULL,
    pid INTEGER NOT NULL,
    start INTEGER NOT NULL,
    lease_until REAL NOT NULL
);
"""
INSERT = (
    "INSERT INTO outbox(notification_id, destination, body, created, owner, host, pid, updated)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


@dataclass(frozen=True)
class OutboxRow:
    id: int
    notification_id: str
    destination: str
    created: float
    owner: str
    host: str
    pid: int
    state: str
    attempts: int
    last_error: str
    summary: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Recovered:
    """A pending row this Notifier took over: deliver it as its own notification.

    Args:
        row_id: the outbox row.
        destination: the destination's name.
        notification: the notification as first recorded (id, ``created``, events, attachments).
        attempts: attempts already settled for it.
        created: when the row was written (Unix time).
    """

    row_id: int
    destination: str
    notification: Notification
    attempts: int
    created: float


def safe(text: str) -> str:
    """``text`` with lone surrogates replaced (always encodable as UTF-8)."""
    return valid_text(text)


def _payload(notification: Notification) -> dict[str, Any]:
    return {
        "schema": BODY_SCHEMA,
        "id": notification.id,
        "created": notification.created,
        "suppressed": notification.suppressed,
        "digest": notification.digest,
        "events": [e.to_dict() for e in notification.events],
        "attachments": [
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "content_id": a.content_id,
                "data": base64.b64encode(a.data).decode("ascii"),
            }
            for a in notification.attachments
        ],
    }


def encode(notification: Notification) -> str:
    """The row body for ``notification``. Never raises."""
    try:
        payload: Any = _payload(notification)
        text = json.dumps(payload, ensure_ascii=False, allow_nan=False)
    except (ValueError, TypeError, AttributeError):
        try:
            text = json.dumps(json_safe(payload), ensure_ascii=False, allow_nan=False)
        except Exception:  # noqa: BLE001 - last resort: keep the headline, never fail the row
            title = valid_text(getattr(notification.events[0], "title", "?")) if notification.events else "?"
            text = json.dumps(
                {"schema": BODY_SCHEMA, "id": str(notification.id), "created": time.time(),
                 "events": [{"kind": "custom", "title": title, "severity": "critical"}]},
                ensure_ascii=False,
            )
    return safe(text)


def decode(body: str) -> Notification:
    """A row body back to its `Notification` (same id, creation time and attachments)."""
    data = json.loads(body)
    return Notification(
        events=tuple(Event.from_dict(e) for e in data["events"]),
        suppressed=int(data.get("suppressed", 0)),
        digest=bool(data.get("digest", False)),
        attachments=tuple(
            Attachment(
                filename=str(a["filename"]),
                content_type=str(a["content_type"]),
                data=base64.b64decode(a["data"]),
                content_id=str(a.get("content_id", "")),
            )
            for a in data.get("attachments", ())
        ),
        id=str(data["id"]),
        created=float(data.get("created", time.time())),
    )


def summary_of(body: str) -> str:
    """``[severity/kind] title`` of a row body's headline, or "?"."""
    try:
        first = json.loads(body)["events"][0]
        return f"[{first.get('severity')}/{first.get('kind')}] {first.get('title')}"
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return "?"


def write_error_reason(exc: BaseException) -> str:
    """A short, secret-free reason for a failed outbox write ("disk full", ...)."""
    text = str(exc).lower()
    code = getattr(exc, "errno", None)
    if code == errno.ENOSPC or "disk is full" in text or "no space" in text:
        return "disk full"
    if code == errno.EDQUOT or "quota" in text:
        return "disk quota exceeded"
    if code == errno.EROFS or "readonly" in text or "read-only" in text:
        return "read-only file system"
    if "locked" in text or "busy" in text:
        return "outbox locked by another process"
    if isinstance(exc, UnicodeError):
        return "text that cannot be encoded"
    from alertcb.redact import scrub

    return scrub(f"{type(exc).__name__}: {exc}")[:200]


class SavedRows(Protocol):
    """What the close message needs to know of an `Outbox`."""

    path: Path
    unsaved_reason: str

    @property
    def held_count(self) -> int: ...


def pending_message(pending: int, outbox: SavedRows | None) -> str:
    """The close-time line about ``pending`` undelivered alerts, stating only what was saved."""
    if outbox is None:
        return f"alertcb: {pending} alert(s) pending at close, lost (no outbox configured)"
    saved = min(pending, outbox.held_count)
    where = f"saved to {outbox.path} (re-sent by the next Notifier using it)"
    if saved == pending:
        return f"alertcb: {pending} alert(s) pending at close, {where}"
    reason = outbox.unsaved_reason or "still queued in memory"
    head = f"{saved} {where}, " if saved else ""
    return f"alertcb: {pending} alert(s) pending at close: {head}{pending - saved} could not be saved: {reason}"
