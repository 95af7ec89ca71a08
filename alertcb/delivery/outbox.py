"""Durable outbox: SQLite in WAL mode, written only by the dispatcher thread.

Every notification accepted for a destination is recorded before the first attempt and
marked done when it is delivered or permanently failed; a Notifier started on the same
outbox delivers what earlier processes left (at-least-once: a crash between a send and its
``done`` commit re-sends that one). Owners register their `ProcessIdentity` and renew a
lease; their rows are taken over only when released, when the process is verifiably gone
(same host, boot and pid namespace) or, elsewhere, when the lease expired, in one
``BEGIN IMMEDIATE`` transaction. Rows hold destination *names*, never URLs or keys. A row
that cannot be written (disk full) is counted and reported, never claimed saved.
"""
from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alertcb.delivery.codec import (
    INSERT,
    SCHEMA,
    OutboxRow,
    Recovered,
    decode,
    encode,
    safe,
    summary_of,
    write_error_reason,
)
from alertcb.delivery.owner import ProcessIdentity, dead_owners
from alertcb.notification import Notification

if TYPE_CHECKING:
    import sqlite3

logger = logging.getLogger("alertcb")

class Outbox:
    """The SQLite outbox. Open it from one thread (the dispatcher) only.

    Args:
        path: the database file (created with its folder).
        max_rows: pending rows kept; beyond it the oldest are dropped and counted.
        owner: an id unique to this Notifier ("" for a read-only tool such as the CLI).
    """

    #: An owner whose process cannot be checked from here is presumed dead this long
    #: after its last heartbeat (renewed every ``lease_s / 6`` by the live dispatcher).
    lease_s = 60.0
    #: While other live owners hold rows for our destinations, look again this often.
    recheck_s = 15.0

    def __init__(self, path: str | os.PathLike[str], *, max_rows: int = 10_000, owner: str = "") -> None:
        self.path = Path(path)
        self.max_rows = max_rows
        self.owner = owner
        self.identity = ProcessIdentity.current()
        self.host = self.identity.host
        self.dropped_oldest = 0
        #: Rows (notification x destination) that could not be written, and the last reason.
        self.unsaved = 0
        self.unsaved_reason = ""
        self.done_errors = 0
        self.claimed_ids: set[int] = set()  # rows taken over from other owners (by claim_orphans)
        self._held: set[int] = set()  # rows written or claimed by this owner, not yet finished
        self._attempts: list[tuple[str, float, int]] = []  # settled failed attempts, not yet written
        self._adds = 0
        self._renewed = 0.0
        self._claimed_at = 0.0
        self._foreign = 0  # rows for our destinations that other live owners hold
        self._logged: set[str] = set()
        self._pid = os.getpid()
        self._db: sqlite3.Connection | None = None

    # ------------------------------------------------------------------ connection
    @property
    def db(self) -> sqlite3.Connection:
        if self._pid != os.getpid():
            self.forget_after_fork()
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
                except sqlite3.OperationalError as exc:
                    if attempt == 49 or "locked" not in str(exc):
                        db.close()
                        raise
                    time.sleep(0.02)
            self._db = db
            if self.owner:
                try:
                    self._register(time.time())
                except Exception as exc:  # noqa: BLE001 - disk full: rows fall back to the pid check
                    self._log_once("register", "alertcb: cannot register in the outbox: %s", write_error_reason(exc))
        return self._db

    def _register(self, now: float) -> None:
        i = self.identity
        assert self._db is not None
        self._db.execute(
            "INSERT OR REPLACE INTO owners(owner, host, boot_id, pidns, pid, start, lease_until)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (self.owner, i.host, i.boot_id, i.pidns, i.pid, i.start, now + self.lease_s),
        )
        self._renewed = now

    def heartbeat(self) -> bool:
        """Renew this owner's lease now and then. Call it from every dispatcher iteration.

        Returns:
            True when `claim_orphans` should run again (other owners held rows for our
            destinations at the last claim, and may have died since).
        """
        if self._db is None or not self.owner:
            return False
        now = time.time()
        if now - self._renewed >= self.lease_s / 6:
            self._renewed = now
            try:
                cur = self.db.execute(
                    "UPDATE owners SET lease_until=? WHERE owner=?", (now + self.lease_s, self.owner)
                )
                if cur.rowcount == 0:  # taken for dead (a long stall): register again
                    self._register(now)
            except Exception as exc:  # noqa: BLE001 - sqlite3.Error, OSError: retried next time
                self._log_once("heartbeat", "alertcb: cannot renew the outbox lease: %s", exc)
        return self._foreign > 0 and now - self._claimed_at >= self.recheck_s

    # ------------------------------------------------------------------ writes
    def add(self, notification: Notification, destinations: Iterable[str]) -> dict[str, int]:
        """Record ``notification`` for each destination; return the row id per destination."""
        return self.add_many([(notification, list(destinations))])[0]

    def add_many(self, batch: list[tuple[Notification, list[str]]]) -> list[dict[str, int]]:
        """Record several notifications in one transaction; row ids per destination, in order.

        Never raises. If the batch cannot be committed, each row is tried on its own; a row
        that still fails gets id 0 and is counted in ``unsaved`` (with ``unsaved_reason``).
        """
        now = time.time()
        rows = [
            (i, dest, (safe(n.id), safe(dest), encode(n), now, self.owner, self.host, self.identity.pid, now))
            for i, (n, dests) in enumerate(batch)
            for dest in dests
        ]
        out: list[dict[str, int]] = [{} for _ in batch]
        try:
            db = self.db
            with db:
                db.execute("BEGIN IMMEDIATE")  # take the write lock now: waits (busy timeout) instead of failing
                for i, dest, values in rows:
                    out[i][dest] = int(db.execute(INSERT, values).lastrowid or 0)
        except Exception:  # noqa: BLE001 - sqlite3.Error, OSError, UnicodeError: row by row
            out = [{} for _ in batch]
            for i, dest, values in rows:
                out[i][dest] = self._insert_one(values)
        saved = [row for ids in out for row in ids.values() if row]
        self._held.update(saved)
        self._adds += len(saved)
        if self._adds >= 100:  # counting pending rows costs a scan: do it now and then
            self._adds = 0
            try:
                self._enforce_cap()
            except Exception as exc:  # noqa: BLE001
                self._log_once("cap", "alertcb: cannot enforce the outbox cap: %s", exc)
        return out

    def _insert_one(self, values: tuple[Any, ...]) -> int:
        try:
            db = self.db
            with db:
                db.execute("BEGIN IMMEDIATE")
                return int(db.execute(INSERT, values).lastrowid or 0)
        except Exception as exc:  # noqa: BLE001 - counted and reported, never raised into delivery
            self.unsaved += 1
            self.unsaved_reason = write_error_reason(exc)
            self._log_once(
                self.unsaved_reason,
                "alertcb: a notification could not be saved to the outbox %s: %s",
                self.path,
                self.unsaved_reason,
            )
            return 0

    def attempted(self, row_ids: Iterable[int], error: str) -> None:
        """Count one settled, failed attempt of these rows (written with the next `done_many`)."""
        now = time.time()
        self._attempts.extend((safe(error)[:500], now, i) for i in row_ids if i)

    def note_attempt(self, row_ids: Iterable[int], error: str) -> None:
        """Count one settled, failed attempt of these rows now (`attempted` batches it instead)."""
        self.attempted(row_ids, error)
        self.done_many([])

    @property
    def unwritten_attempts(self) -> int:
        return len(self._attempts)

    def done(self, row_ids: Iterable[int], state: str = "delivered", error: str = "") -> None:
        """Mark rows finished (``delivered`` or ``failed``)."""
        self.done_many([(list(row_ids), state, error)])

    def done_many(self, batch: list[tuple[list[int], str, str]]) -> None:
        """Mark several groups of rows finished (each settles one more attempt), and write the
        attempts counted by `attempted`, in one transaction."""
        now = time.time()
        rows = [(state, safe(error)[:500], now, i) for ids, state, error in batch for i in ids if i]
        attempts, self._attempts = self._attempts, []
        if not rows and not attempts:
            return
        try:
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                self.db.executemany(
                    "UPDATE outbox SET attempts=attempts+1, last_error=?, updated=? WHERE id=?", attempts
                )
                self.db.executemany(
                    "UPDATE outbox SET state=?, last_error=?, updated=?, attempts=attempts+1 WHERE id=?", rows
                )
        except Exception as exc:  # noqa: BLE001 - the rows stay pending: re-sent later (at-least-once)
            self.done_errors += len(rows)
            self._log_once("done", "alertcb: cannot mark rows done in the outbox %s: %s", self.path, exc)
            return
        self._held.difference_update(r[3] for r in rows)

    # ------------------------------------------------------------------ ownership
    def claim_orphans(self, destinations: Collection[str] | None = None) -> list[Recovered]:
        """Take over the pending rows (for ``destinations``, or all) of owners that released
        them or are gone, in one transaction. Returns them oldest first (none if the outbox
        cannot be written now: disk full, locked; the heartbeat asks to retry)."""
        try:
            return self._claim(destinations)
        except Exception as exc:  # noqa: BLE001 - sqlite3.Error, OSError
            self._foreign = max(self._foreign, 1)  # look again after recheck_s
            self._claimed_at = time.time()
            self._log_once("claim", "alertcb: cannot recover rows from the outbox %s: %s", self.path,
                           write_error_reason(exc))
            return []

    def _claim(self, destinations: Collection[str] | None) -> list[Recovered]:
        me = self.identity
        now = time.time()
        db = self.db
        claimed: list[Recovered] = []
        with db:
            db.execute("BEGIN IMMEDIATE")
            if self.owner:
                self._register(now)
            dead = dead_owners(db, me, self.owner, now, self.lease_s)
            db.executemany("UPDATE outbox SET owner='', pid=0 WHERE state='pending' AND owner=?", [(o,) for o in dead])
            db.executemany("DELETE FROM owners WHERE owner=?", [(o,) for o in dead])
            only, args = "", ()  # type: tuple[str, tuple[str, ...]]
            if destinations is not None:
                names = sorted(destinations)
                only, args = f" AND destination IN ({','.join('?' * len(names))})", tuple(names)
            found = db.execute(
                f"UPDATE outbox SET owner=?, host=?, pid=?, updated=? WHERE state='pending' AND owner=''{only}"
                " RETURNING id, destination, body, attempts, created",
                (self.owner, me.host, me.pid, now, *args),
            ).fetchall()
            for row_id, dest, body, attempts, created in sorted(found):
                try:
                    claimed.append(Recovered(row_id, dest, decode(body), int(attempts), float(created)))
                except (ValueError, KeyError, TypeError, IndexError):
                    db.execute("UPDATE outbox SET state='failed', last_error='undecodable row' WHERE id=?", (row_id,))
            self._foreign = int(
                db.execute(
                    f"SELECT count(*) FROM outbox WHERE state='pending' AND owner NOT IN ('', ?){only}",
                    (self.owner, *args),
                ).fetchone()[0]
            )
        self._claimed_at = now
        self._held.update(c.row_id for c in claimed)
        self.claimed_ids.update(c.row_id for c in claimed)
        return claimed

    def release(self) -> int:
        """Give up ownership of this Notifier's pending rows (at close) so others may claim them.

        If that cannot be written (disk full), the rows stay owned by this process: they are
        taken over once it has exited (its identity no longer runs). Never raises.
        """
        try:
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                cur = self.db.execute(
                    "UPDATE outbox SET owner='', pid=0 WHERE owner=? AND state='pending'", (self.owner,)
                )
                self.db.execute("DELETE FROM owners WHERE owner=?", (self.owner,))
        except Exception as exc:  # noqa: BLE001 - sqlite3.Error, OSError
            self._log_once("release", "alertcb: cannot release outbox rows (taken over after exit): %s",
                           write_error_reason(exc))
            return 0
        return cur.rowcount

    @property
    def held_count(self) -> int:
        """Rows this Notifier wrote or claimed that are saved and not finished yet."""
        return len(self._held)

    def stats(self) -> dict[str, Any]:
        """``saved_pending`` (rows held), ``unsaved`` (+ reason), ``dropped_oldest``, ``done_errors``."""
        return {"path": str(self.path), "saved_pending": self.held_count, "unsaved": self.unsaved,
                "unsaved_reason": self.unsaved_reason, "dropped_oldest": self.dropped_oldest,
                "done_errors": self.done_errors}

    # ------------------------------------------------------------------ inspection and tools
    def rows(self, state: str | None = "pending") -> list[OutboxRow]:
        query = (
            "SELECT id, notification_id, destination, created, owner, host, pid, state, attempts, last_error, body"
            " FROM outbox"
        )
        args: tuple[Any, ...] = ()
        if state:
            query += " WHERE state=?"
            args = (state,)
        return [
            OutboxRow(
                id=r[0], notification_id=r[1], destination=r[2], created=r[3], owner=r[4], host=r[5],
                pid=r[6], state=r[7], attempts=r[8], last_error=r[9], summary=summary_of(r[10]),
            )
            for r in self.db.execute(query + " ORDER BY id", args).fetchall()
        ]

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
                dropped = self.db.execute(
                    "UPDATE outbox SET state='dropped', last_error='outbox full: oldest dropped'"
                    " WHERE id IN (SELECT id FROM outbox WHERE state='pending' ORDER BY id LIMIT ?) RETURNING id",
                    (excess,),
                ).fetchall()
            self._held.difference_update(r[0] for r in dropped)
            self.dropped_oldest += excess
            logger.warning("alertcb outbox full: dropped %d oldest pending notification(s)", excess)
        # Keep finished rows from growing without bound: the newest max_rows rows are kept.
        with self.db:
            self.db.execute(
                "DELETE FROM outbox WHERE state IN ('delivered','dropped')"
                " AND id <= (SELECT id FROM outbox ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (self.max_rows,),
            )

    def _log_once(self, key: str, message: str, *args: Any) -> None:
        if key not in self._logged:
            self._logged.add(key)
            logger.error(message, *args)

    def close(self) -> None:
        if self._db is not None:
            import sqlite3

            try:
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = None

    def forget_after_fork(self) -> None:
        """In a forked child: drop the inherited connection without closing it (it belongs to
        the parent) and become a new owner, so the child can never release the parent's rows."""
        self._db = None
        self._pid = os.getpid()
        self.identity = ProcessIdentity.current()
        if self.owner:
            self.owner = uuid.uuid4().hex
        self._held = set()
        self._attempts = []
        self._foreign = 0
