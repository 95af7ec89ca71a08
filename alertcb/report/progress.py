"""The typed progress digest, as templates read it (``{% set p = details | progress %}``).

`Progress.from_dict` reads the ``details`` of any ``kind="progress"`` event (older ones
included) and never raises; every field is present.

Example:
    >>> p = Progress.from_dict({"epoch": 3, "epochs_planned": 10})
    >>> p.epoch_number, p.epochs_planned
    (4, 10)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from alertcb.report._coerce import as_float, as_int, as_list, as_mapping, as_str, float_map
from alertcb.report.parts import Monitor
from alertcb.report.timeline import TimelineEntry


@dataclass(frozen=True)
class Progress:
    """Where training is: epoch (0-based, in progress), ETA, metrics, new alerts and lifecycle events."""

    running: bool = True
    epoch: int = 0
    epochs_done: int = 0
    epochs_planned: int | None = None
    steps_done: int = 0
    steps_planned: int | None = None
    percent: float | None = None
    elapsed_s: float | None = None
    step_time_s: float | None = None
    epoch_time_s: float | None = None
    eta_s: float | None = None
    metrics: dict[str, float | None] = field(default_factory=dict)
    batch_loss: float | None = None
    monitor: Monitor = field(default_factory=Monitor)
    alerts_total: int = 0
    alerts_since_total: int = 0
    alerts_since_by_kind: dict[str, int] = field(default_factory=dict)
    lifecycle: list[TimelineEntry] = field(default_factory=list)
    interval_s: float | None = None

    @property
    def epoch_number(self) -> int:
        """The epoch in progress counted from 1 (capped at the planned number)."""
        number = self.epoch + 1
        return min(number, self.epochs_planned) if self.epochs_planned else number

    @classmethod
    def from_dict(cls, details: Any) -> Progress:
        if isinstance(details, Progress):
            return details
        d = as_mapping(details)
        monitor = as_mapping(d.get("monitor"))
        since = as_mapping(d.get("alerts_since"))
        return cls(
            running=bool(d.get("running", True)),
            epoch=as_int(d.get("epoch")) or 0,
            epochs_done=as_int(d.get("epochs_done")) or 0,
            epochs_planned=as_int(d.get("epochs_planned")),
            steps_done=as_int(d.get("steps_done")) or 0,
            steps_planned=as_int(d.get("steps_planned")),
            percent=as_float(d.get("percent")),
            elapsed_s=as_float(d.get("elapsed_s")),
            step_time_s=as_float(d.get("step_time_s")),
            epoch_time_s=as_float(d.get("epoch_time_s")),
            eta_s=as_float(d.get("eta_s")),
            metrics=float_map(d.get("metrics")),
            batch_loss=as_float(d.get("batch_loss")),
            monitor=Monitor(
                name=as_str(monitor.get("name"), "val_loss") or "val_loss",
                mode=as_str(monitor.get("mode"), "min") or "min",
                best_epoch=as_int(monitor.get("best_epoch")),
                best_value=as_float(monitor.get("best_value")),
            ),
            alerts_total=as_int(d.get("alerts_total")) or 0,
            alerts_since_total=as_int(since.get("total")) or 0,
            alerts_since_by_kind={k: as_int(v) or 0 for k, v in as_mapping(since.get("by_kind")).items()},
            lifecycle=[TimelineEntry.from_dict(e) for e in as_list(d.get("lifecycle_since")) if isinstance(e, dict)],
            interval_s=as_float(d.get("interval_s")),
        )
