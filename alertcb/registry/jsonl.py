"""`JsonlRegistry`: the embedded checkpoint registry, ``<run_dir>/checkpoints.jsonl``.

One JSON line per checkpoint really written: ``path``, ``epoch`` (0-based) and
``epoch_number`` (1-based), ``monitor``, ``value``, ``is_best``, ``sha256``,
``size_bytes``, ``time`` (Unix seconds) and ``time_iso`` (UTC), ``run``, ``step``,
``missing`` and ``changed_since_write`` (the file was overwritten between the write and
its registration, e.g. a fixed ``best.keras`` path: the hash is of the newer content). The SHA-256 is computed here, on the dispatcher's thread (streamed, 1 MiB
at a time), never on the training thread; a SavedModel folder is hashed as a tree
(sorted relative paths and contents). A path that vanished before registration gives
a line with ``"missing": true`` and a ``registry_error`` alert, never an exception.

Example:
    >>> notifier = alertcb.Notifier(channels=[JsonlRegistry()])  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import glob
import hashlib
import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alertcb.channels.base import Outcome, SendContext
from alertcb.errors import ConfigError
from alertcb.events import json_number
from alertcb.notification import Notification
from alertcb.registry.base import CheckpointRecord, Registry

__all__ = ["FILENAME", "JsonlRegistry", "entry_stat", "sha256_of"]

logger = logging.getLogger("alertcb")

FILENAME = "checkpoints.jsonl"
_CHUNK = 1 << 20


def sha256_of(path: str | os.PathLike[str]) -> tuple[str, int]:
    """``(hex digest, size in bytes)`` of a file, or of a folder as a tree.

    Raises:
        FileNotFoundError: the path does not exist.
    """
    target = Path(path)
    digest = hashlib.sha256()
    if target.is_dir():
        size = 0
        files = sorted(p for p in target.rglob("*") if p.is_file())
        for file in files:
            digest.update(file.relative_to(target).as_posix().encode("utf-8", "surrogatepass") + b"\0")
            size += _stream(file, digest)
        return digest.hexdigest(), size
    if not target.exists() and Path(str(target) + ".index").is_file():  # a TF-format prefix
        size = 0
        files = sorted(target.parent.glob(glob.escape(target.name) + ".data-*")) + [Path(str(target) + ".index")]
        for file in files:
            digest.update(file.name.encode("utf-8", "surrogatepass") + b"\0")
            size += _stream(file, digest)
        return digest.hexdigest(), size
    return _file_digest(target)


def _file_digest(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = _stream(path, digest)
    return digest.hexdigest(), size


def _stream(path: Path, digest: Any) -> int:
    size = 0
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(_CHUNK)
            if not chunk:
                return size
            size += len(chunk)
            digest.update(chunk)


def entry_stat(path: str) -> tuple[int, int] | None:
    """``(mtime_ns, size)`` of a file, a folder (over its tree) or a TF checkpoint prefix."""
    try:
        st = os.stat(path)
    except OSError:
        return _prefix_stat(path)
    if not os.path.isdir(path):
        return st.st_mtime_ns, st.st_size
    mtime, size = st.st_mtime_ns, 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                fst = os.stat(os.path.join(root, name))
            except OSError:
                continue
            mtime, size = max(mtime, fst.st_mtime_ns), size + fst.st_size
    return mtime, size


def _prefix_stat(prefix: str) -> tuple[int, int] | None:
    """A TF-format checkpoint ``prefix`` (``prefix.index`` and ``prefix.data-*``)."""
    try:
        index = os.stat(prefix + ".index")
    except OSError:
        return None
    mtime, size = index.st_mtime_ns, index.st_size
    folder, base = os.path.split(prefix)
    try:
        with os.scandir(folder or ".") as entries:
            for entry in entries:
                if entry.name.startswith(base + ".data-"):
                    st = entry.stat()
                    mtime, size = max(mtime, st.st_mtime_ns), size + st.st_size
    except OSError:
        pass
    return mtime, size


class JsonlRegistry(Registry):
    """Appends each real checkpoint write to a JSON-lines file (type ``checkpoints``).

    Args:
        path: the file to append to. Defaults to ``<run_dir>/checkpoints.jsonl`` of the
            `alertcb.Notifier` it is bound to (the embedded default whenever a run
            directory exists).
        name: destination name. Defaults to ``"checkpoints"``.
        kinds: see `Registry`. Defaults to ``["checkpoint"]``.
        chief_only: register only on the chief worker. Defaults to True.

    Example:
        >>> alertcb.Notifier(channels=[JsonlRegistry("ckpts/registry.jsonl")])  # doctest: +SKIP
    """

    type = "checkpoints"

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        name: str | None = None,
        kinds: Sequence[str] | None = None,
        chief_only: bool = True,
    ) -> None:
        super().__init__(name=name, kinds=kinds, chief_only=chief_only)
        if path is not None and (not isinstance(path, (str, os.PathLike)) or not str(path).strip()):
            raise ConfigError("path", f"expected a file path for checkpoints.jsonl, got {path!r}")
        self.path: Path | None = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._seen: set[tuple[str, int, float]] | None = None
        self._mtimes: dict[tuple[str, float], int] = {}

    def bind(self, emit: Any) -> None:
        super().bind(emit)
        if self.path is None:
            run_dir = getattr(getattr(emit, "__self__", None), "run_dir", None)
            if run_dir is not None:
                self.path = Path(run_dir) / FILENAME

    def send(self, notification: Notification, ctx: SendContext) -> Outcome:
        # The mtime the write was seen with: a file overwritten since (a fixed path with
        # save_best_only) is hashed as it is now, and its line says so.
        for event in notification.events:
            mtime = event.details.get("mtime_ns")
            if event.kind == "checkpoint" and isinstance(mtime, int):
                self._mtimes[(str(event.details.get("path")), round(float(event.time), 6))] = mtime
        try:
            return super().send(notification, ctx)
        finally:
            self._mtimes.clear()

    def register(self, record: CheckpointRecord) -> Outcome:
        if self.path is None:
            return Outcome.permanent("no file to write: pass path= or give the Notifier a run_dir")
        key = (record.path, record.epoch, round(record.time, 6))
        with self._lock:
            seen = self._load_seen()
            if key in seen:
                return Outcome.delivered()  # a retry of a line already written
            line = self._line(record)
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with open(self.path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(line, ensure_ascii=False, allow_nan=False) + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
            except OSError as exc:
                return Outcome.retry(f"cannot append to {self.path}: {exc.strerror or exc}")
            seen.add(key)
        if line["missing"]:
            self.report_error(f"checkpoint {record.path} vanished before registration", record)
        return Outcome.delivered()

    def _line(self, record: CheckpointRecord) -> dict[str, Any]:
        sha: str | None
        size: int | None
        seen_ns = self._mtimes.get((record.path, round(record.time, 6)))
        changed = False
        try:
            if seen_ns is not None:
                now = entry_stat(record.path)
                changed = now is not None and now[0] != seen_ns
            sha, size = sha256_of(record.path)
            missing = False
        except FileNotFoundError:
            sha, size, missing = None, record.size_bytes, True
        except OSError as exc:  # unreadable: say so in the line, keep the rest
            logger.warning("alertcb: cannot hash checkpoint %s: %s", record.path, exc)
            sha, size, missing = None, record.size_bytes, not os.path.exists(record.path)
        when = _dt.datetime.fromtimestamp(record.time, tz=_dt.timezone.utc)
        return {
            "path": record.path,
            "epoch": record.epoch,
            "epoch_number": record.epoch + 1,
            "monitor": record.monitor,
            "value": json_number(record.value) if record.value is not None else None,
            "is_best": record.is_best,
            "sha256": sha,
            "size_bytes": size,
            "time": record.time,
            "time_iso": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "run": record.run,
            "step": record.step,
            "missing": missing,
            "changed_since_write": changed,
        }

    def _load_seen(self) -> set[tuple[str, int, float]]:
        """The lines already in the file (a recovered outbox row must not be written twice)."""
        if self._seen is not None:
            return self._seen
        seen: set[tuple[str, int, float]] = set()
        assert self.path is not None
        try:
            with open(self.path, encoding="utf-8") as fh:
                for text in fh:
                    try:
                        row = json.loads(text)
                        seen.add((str(row["path"]), int(row["epoch"]), round(float(row["time"]), 6)))
                    except (ValueError, KeyError, TypeError):
                        continue
        except OSError:
            pass
        self._seen = seen
        return seen

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["path"] = str(self.path) if self.path is not None else "<run_dir>/" + FILENAME
        return out
