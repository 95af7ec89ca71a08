"""Which checkpoint files a ``ModelCheckpoint`` really wrote (no Keras import, no hashing).

A `CheckpointWatch` turns the callback's ``filepath`` (``{epoch:02d}``-style fields
included) into a file-name pattern, remembers ``(mtime_ns, size)`` of every matching
entry, and on each `CheckpointWatch.poll` reports the entries that are new or changed:
the files ``ModelCheckpoint`` wrote since the last look. With ``save_best_only`` most
epochs write nothing, and nothing is reported. Handled: ``.keras``, ``.h5``,
``.weights.h5`` files, SavedModel folders (size and mtime over the tree) and TF
checkpoint prefixes (``prefix.index`` + ``prefix.data-*``, reported as ``prefix``).
One ``scandir`` of the checkpoint folder per poll; the SHA-256 is left to the registry.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alertcb.registry.jsonl import entry_stat

__all__ = ["CheckpointWatch", "Written", "pattern_regex"]

_INDEX = ".index"  # a TF-format checkpoint prefix's index file


@dataclass(frozen=True)
class Written:
    """One checkpoint entry that changed: its absolute path, size and mtime."""

    path: str
    size_bytes: int
    mtime_ns: int


def pattern_regex(name_pattern: str) -> re.Pattern[str] | None:
    """A regex matching what ``name_pattern.format(...)`` can produce, or None if unparsable."""
    parts = []
    try:
        for literal, field, _spec, _conv in string.Formatter().parse(name_pattern):
            parts.append(re.escape(literal))
            if field is not None:
                parts.append(r".+?")
    except ValueError:
        return None
    return re.compile("".join(parts) + r"\Z")


class CheckpointWatch:
    """Watches the files of one ``ModelCheckpoint`` (its ``filepath``).

    Args:
        filepath: the callback's ``filepath`` (may hold ``{epoch:02d}``, ``{val_loss:.2f}``...).
        since_ns: entries older than this (Unix ns) found on a first look are not writes of
            this run.

    Example:
        >>> watch = CheckpointWatch("ckpt/model-{epoch:02d}.keras", since_ns=time.time_ns())  # doctest: +SKIP
        >>> watch.poll(epoch=3, logs={"val_loss": 0.3})  # doctest: +SKIP
        [Written(path='/abs/ckpt/model-04.keras', size_bytes=20480, mtime_ns=...)]
    """

    def __init__(self, filepath: str, *, since_ns: int = 0) -> None:
        self.filepath = os.path.abspath(os.fspath(filepath))
        self.folder, name = os.path.split(self.filepath)
        # A field in the folder part: only the formatted path can be checked.
        self._scan = pattern_regex(name) if "{" not in self.folder else None
        self.since_ns = since_ns
        self._seen: dict[str, tuple[int, int]] = {}
        self._look(None, None, first=True)

    def poll(self, epoch: int | None, logs: Mapping[str, Any] | None) -> list[Written]:
        """The entries written since the last poll (new, or mtime/size changed), oldest first."""
        return self._look(epoch, logs, first=False)

    # ------------------------------------------------------------------ internals
    def _candidates(self, epoch: int | None, logs: Mapping[str, Any] | None) -> set[str]:
        out: set[str] = set()
        if epoch is not None:
            try:
                out.add(self.filepath.format(epoch=epoch + 1, **dict(logs or {})))
            except (KeyError, IndexError, ValueError, AttributeError, TypeError):
                pass  # a field we cannot fill (batch-level saves): the scan finds it
        regex = self._scan
        if regex is None:
            return out
        try:
            with os.scandir(self.folder or ".") as entries:
                for entry in entries:
                    name = entry.name
                    if regex.match(name):
                        out.add(os.path.join(self.folder, name))
                    elif name.endswith(_INDEX) and regex.match(name[: -len(_INDEX)]):
                        out.add(os.path.join(self.folder, name[: -len(_INDEX)]))
        except OSError:
            pass
        return out

    def _look(self, epoch: int | None, logs: Mapping[str, Any] | None, *, first: bool) -> list[Written]:
        written: list[Written] = []
        for path in self._candidates(epoch, logs):
            stat = entry_stat(path)
            if stat is None:
                continue
            before = self._seen.get(path)
            self._seen[path] = stat
            if first or stat == before:
                continue
            if before is None and stat[0] < self.since_ns:
                continue  # an older run's file, first seen now
            written.append(Written(path, stat[1], stat[0]))
        written.sort(key=lambda w: (w.mtime_ns, w.path))
        return written
