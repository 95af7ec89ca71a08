"""Durable outbox: SQLite in WAL mode, written only by the dispatcher thread.

Every notification accepted for a destination is recorded before the first
attempt and marked done after it is delivered or permanently failed. A Notifier
started on the same outbox delivers what earlier (dead) processes left behind.
Delivery is at-least-once: a crash between a successful send and the ``done``
commit re-sends that one notification.

Rows hold the notification's events as JSON (schema ``alertcb.notification/1``) and
the destination's *name* — never URLs, keys or passwords.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alertcb.events import Event
from alertcb.notification import Notification

if TYPE_CHECKING:
    import sqlite3

logger = logging.getLogger("alertcb")

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
"""


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


def encode(notification: Notification) -> str:
    return json.dumps(
        {
            "schema": "alertcb.notification/1",
            "id": notification.id,
            "created": notification.created,
            "suppressed": notification.suppressed,
            "digest": notification.digest,
            "events": [e.to_dict() for e in notification.events],
        },
        ensure_ascii=False,
        allow_nan=False,
    )


def decode(body: str) -> Notification:
    data = json.loads(body)
    return Notification(
        events=tuple(Event.from_dict(e) for e in data["events"]),
        suppressed=int(data.get("suppressed", 0)),
        digest=bool(data.get("digest", False)),
        id=str(data["id"]),
        created=float(data.get("created", time.time())),
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Outbox:
    """The SQLite outbox. Open it from one thread (the dispatcher) only.

    Args:
        path: the database file (created with its folder).
        max_rows: pending rows kept; beyond it the oldest are dropped and counted.
        owner: an id unique to this Notifier (rows it owns are in flight).
    """

    def __init__(self, path: str | os.PathLike[str], *, max_rows: int = 10_000, owner: str = "") -> None:
        self.path = Path(path)
        self.max_rows = max_rows
        self.owner = owner
        self.host = socket.gethostname()
        self.dropped_oldest = 0
        self._adds = 0
        #: Rows owned by a Notifier on another host are taken over after this long.
        self.foreign_lease_s = 600.0
        self._db: sqlite3.Connection | None = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            import sqlite3  # lazily: keeps `import alertcb` fast

            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(str(self.path), timeout=10.0, isolation_level=None, check_same_thread=False)
            for attempt in range(50):  # several Notifiers may open a new outbox at the same moment
                try:
                    db.execute("PRAGMA journal_mode=WAL")
                    db.execute("PRAGMA synchronous=NORMAL")
                    db.executescript(SCHEMA)
                    break
                except sqlite3.OperationalError:
                    if attempt == 49:
                        raise
                    time.sleep(0.02)
            self._db = db
        return self._db

    def add(self, notification: Notification, destinations: Iterable[str]) -> dict[str, int]:
        """Record ``notification`` for each destination; return the row id per destination."""
        return self.add_many([(notification, list(destinations))])[0]

    def add_many(self, batch: list[tuple[Notification, list[str]]]) -> list[dict[str, int]]:
        """Record several notifications in one transaction; row ids per destination, in order."""
        now = time.time()
        pid = os.getpid()
        out: list[dict[str, int]] = []
        db = self.db
        with db:
            db.execute("BEGIN IMMEDIATE")  # take the write lock now: waits (busy timeout) instead of failing
            for notification, destinations in batch:
                body = encode(notification)
                ids: dict[str, int] = {}
                for dest in destinations:
                    cur = db.execute(
                        "INSERT INTO outbox(notification_id, destination, body, created, owner, host, pid, updated)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (notification.id, dest, body, now, self.owner, self.host, pid, now),
                    )
                    ids[dest] = int(cur.lastrowid or 0)
                out.append(ids)
        self._adds += sum(len(d) for d in out)
        if self._adds >= 100:  # counting pending rows costs a scan: do it now and then
            self._adds = 0
            self._enforce_cap()
        return out

    def done(self, row_ids: Iterable[int], state: str = "delivered", error: str = "") -> None:
        """Mark rows finished (``delivered`` or ``failed``)."""
        self.done_many([(list(row_ids), state, error)])

    def done_many(self, batch: list[tuple[list[int], str, str]]) -> None:
        """Mark several groups of rows finished, in one transaction."""
        now = time.time()
        rows = [(state, error, now, i) for ids, state, error in batch for i in ids if i]
        if not rows:
            return
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany(
                "UPDATE outbox SET state=?, last_error=?, updated=?, attempts=attempts+1 WHERE id=?", rows
            )

    def note_attempt(self, row_ids: Iterable[int], error: str) -> None:
        now = time.time()
        with self.db:
            self.db.executemany(
                "UPDATE outbox SET attempts=attempts+1, last_error=?, updated=? WHERE id=?",
                [(error, now, i) for i in row_ids if i],
            )

    def claim_orphans(self) -> list[tuple[int, str, Notification]]:
        """Take over pending rows of Notifiers that are gone; return (row id, destination, notification)."""
        rows = self.db.execute(
            "SELECT id, destination, body, owner, host, pid, updated FROM outbox"
            " WHERE state='pending' AND owner != ?"
            " ORDER BY id",
            (self.owner,),
        ).fetchall()
        claimed: list[tuple[int, str, Notification]] = []
        now = time.time()
        for row_id, dest, body, owner, host, pid, updated in rows:
            if owner and host == self.host and _pid_alive(int(pid)):
                continue  # its Notifier is still running and will deliver it
            if owner and host != self.host and now - float(updated) < self.foreign_lease_s:
                continue  # another host's Notifier may still be running
            try:
                notification = decode(body)
            except (ValueError, KeyError, TypeError):
                self.done([row_id], "failed", "undecodable row")
                continue
            claimed.append((row_id, dest, notification))
        if claimed:
            with self.db:
                self.db.executemany(
                    "UPDATE outbox SET owner=?, pid=?, host=? WHERE id=?",
                    [(self.owner, os.getpid(), self.host, c[0]) for c in claimed],
                )
        return claimed

    def release(self) -> int:
        """Give up ownership of this Notifier's pending rows (at close) so others may claim them."""
        with self.db:
            cur = self.db.execute(
                "UPDATE outbox SET owner='', pid=0 WHERE owner=? AND state='pending'", (self.owner,)
            )
        return cur.rowcount

    def rows(self, state: str | None = "pending") -> list[OutboxRow]:
        query = (
            "SELECT id, notification_id, destination, created, owner, host, pid, state, attempts, last_error, body"
            " FROM outbox"
        )
        args: tuple[Any, ...] = ()
        if state:
            query += " WHERE state=?"
            args = (state,)
        out = []
        for r in self.db.execute(query + " ORDER BY id", args).fetchall():
            try:
                first = json.loads(r[10])["events"][0]
                summary = f"[{first.get('severity')}/{first.get('kind')}] {first.get('title')}"
            except (ValueError, KeyError, IndexError, TypeError):
                summary = "?"
            out.append(
                OutboxRow(
                    id=r[0], notification_id=r[1], destination=r[2], created=r[3], owner=r[4], host=r[5],
                    pid=r[6], state=r[7], attempts=r[8], last_error=r[9], summary=summary,
                )
            )
        return out

    def pending_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM outbox WHERE state='pending'").fetchone()[0])

    def retry_failed(self) -> int:
        """Put failed rows back to pending (unowned) so the next Notifier retries them."""
        with self.db:
            cur = self.db.execute("UPDATE outbox SET state='pending', owner='', pid=0 WHERE state='failed'")
        return cur.rowcount

    def purge(self, states: tuple[str, ...] = ("delivered", "failed")) -> int:
        with self.db:
            cur = self.db.execute(
                f"DELETE FROM outbox WHERE state IN ({','.join('?' * len(states))})", states
            )
        return cur.rowcount

    def integrity_ok(self) -> bool:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    def _enforce_cap(self) -> None:
        count = self.pending_count()
        excess = count - self.max_rows
        if excess > 0:
            with self.db:
                self.db.execute(
                    "UPDATE outbox SET state='dropped', last_error='outbox full: oldest dropped'"
                    " WHERE id IN (SELECT id FROM outbox WHERE state='pending' ORDER BY id LIMIT ?)",
                    (excess,),
                )
            self.dropped_oldest += excess
            logger.warning("alertcb outbox full: dropped %d oldest pending notification(s)", excess)
        # Keep finished rows from growing without bound: the newest max_rows rows are kept.
        with self.db:
            self.db.execute(
                "DELETE FROM outbox WHERE state IN ('delivered','dropped')"
                " AND id <= (SELECT id FROM outbox ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (self.max_rows,),
            )

    def close(self) -> None:
        if self._db is not None:
            import sqlite3

            try:
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = None

    def forget_after_fork(self) -> None:
        """Drop the inherited connection without closing it (it belongs to the parent)."""
        self._db = None
