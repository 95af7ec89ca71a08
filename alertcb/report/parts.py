"""The parts of a `alertcb.report.summary.Summary`: monitor, epoch rows, alerts, markers, error, delivery."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from alertcb.report._coerce import as_int, as_mapping


@dataclass(frozen=True)
class Monitor:
    """The monitored metric: ``name`` (``val_loss`` falls back to ``loss``), ``mode``, best epoch (0-based) and value."""

    name: str = "val_loss"
    requested: str = ""
    mode: str = "min"
    best_epoch: int | None = None
    best_value: float | None = None

    @property
    def best_number(self) -> int | None:
        """The best epoch counted from 1, as Keras prints it ("best epoch: 8")."""
        return self.best_epoch + 1 if self.best_epoch is not None else None


@dataclass(frozen=True)
class EpochRow:
    """One row of the per-epoch table. ``omitted`` is display-only (set by the ``epoch_rows`` filter)."""

    epoch: int
    time: float | None = None
    duration_s: float | None = None
    lr: float | None = None
    metrics: dict[str, float | None] = field(default_factory=dict)
    best: bool = False
    omitted: int = 0

    @property
    def number(self) -> int:
        return self.epoch + 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "time": self.time,
            "duration_s": self.duration_s,
            "lr": self.lr,
            "metrics": dict(self.metrics),
        }


@dataclass(frozen=True)
class Alert:
    """The first occurrence of one (kind, title) of alert, with how often it fired."""

    kind: str
    title: str = ""
    severity: str = "warning"
    epoch: int | None = None
    step: int | None = None
    time: float | None = None
    message: str = ""
    count: int = 1


@dataclass(frozen=True)
class Marker:
    """Where an alert fired, for the picture: ``step`` is the global batch (None when unknown)."""

    kind: str
    severity: str = "warning"
    title: str = ""
    epoch: int | None = None
    step: int | None = None


@dataclass(frozen=True)
class ErrorInfo:
    """What ended a crashed or interrupted run."""

    kind: str = ""
    title: str = ""
    type: str = ""
    message: str = ""
    epoch: int | None = None
    step: int | None = None
    traceback: str = ""
    status: str = ""


@dataclass(frozen=True)
class LearningRate:
    initial: float | None
    final: float | None


@dataclass(frozen=True)
class BatchLoss:
    """The downsampled per-batch loss: bucket ``i`` covers ``stride`` batches from ``steps[i]``."""

    stride: int = 1
    steps: list[int] = field(default_factory=list)
    values: list[float | None] = field(default_factory=list)


@dataclass(frozen=True)
class Delivery:
    """The notifier's ``stats()`` as it was before the summary, and figures from it."""

    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def emitted(self) -> int | None:
        return as_int(self.stats.get("emitted"))

    @property
    def processed(self) -> int | None:
        return as_int(self.stats.get("processed"))

    @property
    def pending(self) -> int | None:
        return as_int(self.stats.get("pending"))

    @property
    def dropped(self) -> int | None:
        value = self.stats.get("dropped")
        if isinstance(value, dict):
            return sum(as_int(v) or 0 for v in value.values())
        return as_int(value)

    def _destinations(self) -> list[dict[str, Any]]:
        return [v for v in as_mapping(self.stats.get("destinations")).values() if isinstance(v, dict)]

    @property
    def sent(self) -> int | None:
        destinations = self._destinations()
        return sum(as_int(d.get("delivered")) or 0 for d in destinations) if destinations else None

    @property
    def failed(self) -> int:
        total = 0
        for dest in self._destinations():
            value = dest.get("failed")
            total += sum(as_int(v) or 0 for v in value.values()) if isinstance(value, dict) else as_int(value) or 0
        return total

    @property
    def trouble(self) -> bool:
        """Whether anything failed, was dropped or is pending: only then is the delivery line shown."""
        return bool(self.failed or self.dropped or self.pending)
