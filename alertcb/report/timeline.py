"""Lifecycle entries of a summary: early stops, learning-rate changes, checkpoints.

They come from events of kinds ``early_stop``, ``lr_change`` and ``checkpoint``
(severity info, emitted by `alertcb.keras.lifecycle`). Their ``details``:

- ``early_stop``: ``callback``, ``epoch``, ``monitor``, ``value``, ``best_epoch``,
  ``best_value``, ``restored``;
- ``lr_change``: ``old``, ``new``, ``callback``;
- ``checkpoint``: ``path``, ``epoch``, ``monitor``, ``value``, ``size`` (or ``size_bytes``),
  ``sha256``, ``is_best``.

Epochs are 0-based in the data (like `Event.epoch`); every ``text`` shows them 1-based.

Example:
    >>> entry = TimelineEntry.from_dict({"kind": "lr_change", "epoch": 4,
    ...                                  "details": {"old": 0.001, "new": 0.0005}})
    >>> entry.text
    'learning rate 0.001 → 5.000e-04 at epoch 5'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from alertcb.events import Event, json_safe
from alertcb.filters import fmt_number
from alertcb.report._coerce import as_float, as_int, as_mapping, as_str

#: The event kinds that are lifecycle entries, not alerts.
LIFECYCLE_KINDS = frozenset({"early_stop", "lr_change", "checkpoint"})
ICONS = {"early_stop": "⏹️", "lr_change": "📉", "checkpoint": "💾"}
_DETAIL_KEYS = {
    "early_stop": ("callback", "epoch", "monitor", "value", "best_epoch", "best_value", "restored"),
    "lr_change": ("old", "new", "callback"),
    "checkpoint": ("path", "epoch", "monitor", "value", "size", "size_bytes", "sha256", "is_best"),
}


def fmt_bytes(size: Any) -> str:
    """``1234567`` → ``1.2 MB`` (``""`` when unknown)."""
    number = as_float(size)
    if number is None or number < 0:
        return ""
    for unit in ("B", "KB", "MB", "GB"):
        if number < 1000 or unit == "GB":
            return f"{number:.0f} {unit}" if unit == "B" else f"{number:.1f} {unit}"
        number /= 1000
    return ""  # pragma: no cover - the loop always returns


def _epoch_text(epoch: int | None) -> str:
    return f" at epoch {epoch + 1}" if epoch is not None else ""


@dataclass(frozen=True)
class TimelineEntry:
    """One lifecycle event of the run (early stop, learning-rate change, checkpoint).

    Args:
        kind: ``early_stop``, ``lr_change`` or ``checkpoint``.
        time: Unix time of the event.
        epoch: 0-based epoch, or None.
        step: 0-based global batch, or None.
        title: the event's title.
        details: the kind's details (see the module docstring).
    """

    kind: str
    time: float | None = None
    epoch: int | None = None
    step: int | None = None
    title: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_event(cls, event: Event) -> TimelineEntry:
        raw = event.details
        keys = _DETAIL_KEYS.get(event.kind, ())
        details = {k: json_safe(raw[k]) for k in keys if k in raw}
        epoch = event.epoch if event.epoch is not None else as_int(raw.get("epoch"))
        return cls(event.kind, event.time, epoch, event.step, event.title, details)

    @classmethod
    def from_dict(cls, data: Any) -> TimelineEntry:
        d = as_mapping(data)
        return cls(
            kind=as_str(d.get("kind")),
            time=as_float(d.get("time")),
            epoch=as_int(d.get("epoch")),
            step=as_int(d.get("step")),
            title=as_str(d.get("title")),
            details=as_mapping(d.get("details")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "time": self.time,
            "epoch": self.epoch,
            "step": self.step,
            "title": self.title,
            "details": dict(self.details),
        }

    @property
    def number(self) -> int | None:
        """The 1-based epoch, as people read it."""
        return self.epoch + 1 if self.epoch is not None else None

    @property
    def icon(self) -> str:
        return ICONS.get(self.kind, "•")

    @property
    def text(self) -> str:
        """One line for people, epochs 1-based."""
        d = self.details
        if self.kind == "early_stop":
            who = as_str(d.get("callback")) or "EarlyStopping"
            epoch = as_int(d.get("epoch"))
            text = f"{who} stopped training{_epoch_text(epoch if epoch is not None else self.epoch)}"
            monitor, value = as_str(d.get("monitor")), as_float(d.get("value"))
            facts = []
            if value is not None:
                facts.append(f"{monitor or 'monitored'} {fmt_number(value)}")
            best_epoch = as_int(d.get("best_epoch"))
            if best_epoch is not None:
                best_value = as_float(d.get("best_value"))
                best = f" ({fmt_number(best_value)})" if best_value is not None else ""
                facts.append(f"best epoch {best_epoch + 1}{best}")
            if d.get("restored") is True:
                facts.append("weights restored" + (f" from epoch {best_epoch + 1}" if best_epoch is not None else ""))
            return text + (": " + ", ".join(facts) if facts else "")
        if self.kind == "lr_change":
            old, new = fmt_number(as_float(d.get("old"))), fmt_number(as_float(d.get("new")))
            who = as_str(d.get("callback"))
            return f"learning rate {old} → {new}{_epoch_text(self.epoch)}" + (f" ({who})" if who else "")
        if self.kind == "checkpoint":
            return Checkpoint.from_entry(self).text
        return self.title or self.kind


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint file that was really written (from a ``checkpoint`` event).

    Args:
        path: where it was written.
        epoch: 0-based epoch, or None.
        monitor: the monitored metric's name ("" when none).
        value: its value at that epoch, or None.
        size: bytes, or None.
        sha256: the file's hex digest ("" when not computed).
        is_best: whether it was the best so far.
        time: Unix time of the write.
    """

    path: str
    epoch: int | None = None
    monitor: str = ""
    value: float | None = None
    size: int | None = None
    sha256: str = ""
    is_best: bool = False
    time: float | None = None

    @classmethod
    def from_entry(cls, entry: TimelineEntry) -> Checkpoint:
        d = entry.details
        epoch = as_int(d.get("epoch"))
        return cls(
            path=as_str(d.get("path")),
            epoch=epoch if epoch is not None else entry.epoch,
            monitor=as_str(d.get("monitor")),
            value=as_float(d.get("value")),
            size=as_int(d.get("size", d.get("size_bytes"))),
            sha256=as_str(d.get("sha256")),
            is_best=d.get("is_best") is True,
            time=entry.time,
        )

    @property
    def number(self) -> int | None:
        """The 1-based epoch."""
        return self.epoch + 1 if self.epoch is not None else None

    @property
    def size_text(self) -> str:
        return fmt_bytes(self.size)

    @property
    def text(self) -> str:
        facts = []
        if self.value is not None:
            facts.append(f"{self.monitor or 'value'} {fmt_number(self.value)}")
        if self.size is not None:
            facts.append(fmt_bytes(self.size))
        if self.is_best:
            facts.append("new best")
        return f"checkpoint {self.path or '?'}{_epoch_text(self.epoch)}" + (
            ": " + ", ".join(facts) if facts else ""
        )
