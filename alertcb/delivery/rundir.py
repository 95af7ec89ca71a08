"""The run directory: the embedded default's local record of a run.

``<root>/<run_name>/`` holds ``events.jsonl`` (one `Event.to_dict()` per line),
``run.json`` (who/where/when) and, after training, ``report.html`` and
``loss_curve.png``. The outbox lives in ``<root>/outbox.sqlite3`` unless configured.
Written only by the dispatcher thread.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from pathlib import Path
from typing import IO, Any

from alertcb.events import Event, RunInfo, json_safe, valid_text

logger = logging.getLogger("alertcb")

DEFAULT_ROOT = "alertcb-runs"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_dirname(name: str) -> str:
    """A file-system-safe version of a run name (no path traversal)."""
    cleaned = _UNSAFE.sub("_", name).strip("._") or "run"
    return cleaned[:100]


class RunDir:
    """Appends events to ``events.jsonl`` and keeps ``run.json``.

    Args:
        path: the run's folder (created lazily on first write).
        run: the run's identity.
    """

    def __init__(self, path: str | os.PathLike[str], run: RunInfo) -> None:
        self.path = Path(path)
        self.run = run
        self._file: IO[str] | None = None
        #: Lines that could not be written (each line is tried on its own); the last reason.
        self.errors = 0
        self.last_error = ""
        self._retry_open_at = 0.0

    @property
    def failed(self) -> bool:
        return self.errors > 0

    @property
    def events_path(self) -> Path:
        return self.path / "events.jsonl"

    def record(self, event: Event) -> None:
        """Append one line for ``event``. Never raises; a line that fails is counted (logged
        once) and does not stop the lines after it."""
        try:
            line = valid_text(json.dumps(event.to_dict(), ensure_ascii=False, allow_nan=False))
        except (ValueError, TypeError) as exc:
            try:
                line = valid_text(json.dumps(json_safe(event.to_dict()), ensure_ascii=False))
            except Exception:  # noqa: BLE001 - never fail the dispatcher over one event
                self._error(exc)
                return
        try:
            if self._file is None:
                if time.monotonic() < self._retry_open_at:
                    raise OSError(self.last_error or "cannot open events.jsonl")
                self._retry_open_at = time.monotonic() + 5.0  # a failed open is retried, not each event
                self.path.mkdir(parents=True, exist_ok=True)
                if not (self.path / "run.json").exists():
                    self._write_run_json()
                self._file = open(self.events_path, "a", encoding="utf-8", errors="replace")
            self._file.write(line + "\n")
        except (OSError, ValueError, UnicodeError) as exc:
            self._error(exc)

    def _error(self, exc: BaseException) -> None:
        self.errors += 1
        self.last_error = str(exc)[:200]
        if self.errors == 1:
            logger.warning("alertcb: cannot write the run directory %s: %s (further errors only counted)",
                           self.path, exc)

    def flush(self) -> None:
        if self._file is not None:
            try:
                self._file.flush()
            except OSError as exc:
                self._error(exc)

    def close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None

    def forget_after_fork(self) -> None:
        self._file = None

    def _write_run_json(self) -> None:
        data: dict[str, Any] = {"run": self.run.to_dict(), "started": time.time()}
        (self.path / "run.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
