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

from alertcb.events import Event, RunInfo

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
        self.failed = False

    @property
    def events_path(self) -> Path:
        return self.path / "events.jsonl"

    def record(self, event: Event) -> None:
        if self.failed:
            return
        try:
            if self._file is None:
                self.path.mkdir(parents=True, exist_ok=True)
                self._write_run_json()
                self._file = open(self.events_path, "a", encoding="utf-8")
            self._file.write(json.dumps(event.to_dict(), ensure_ascii=False, allow_nan=False) + "\n")
        except (OSError, ValueError, TypeError) as exc:
            self.failed = True
            logger.warning("alertcb: cannot write the run directory %s: %s", self.path, exc)

    def flush(self) -> None:
        if self._file is not None:
            try:
                self._file.flush()
            except OSError:
                pass

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
