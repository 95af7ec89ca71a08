"""The typed training summary: what a run did, as templates and the picture read it.

`Summary` is built by `alertcb.report.tracker.SummaryTracker` and travels as
``summary.to_dict()`` in the ``details`` of a ``kind="summary"`` event (schema
`SUMMARY_SCHEMA`, documented in docs/schema.md). `Summary.from_dict` reads the details of
any version, including ``alertcb.report.tracker/1`` summaries in the ``events.jsonl`` of
older runs, a hand-made event or an alert's details: it never raises and every field
is present, so templates never hit an undefined variable.

Epochs are 0-based in every field (like `Event.epoch`); templates show ``epoch + 1``
(or the ``number`` properties) so texts match Keras' ``Epoch 8/10`` and "best epoch: 8".

Example:
    >>> s = Summary.from_dict({"status": "completed", "epochs_done": 3})
    >>> s.status_text, s.epochs_done, s.monitor.best_epoch
    ('completed', 3, None)
    >>> Summary.from_dict(s.to_dict()) == s
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from alertcb.filters import fmt_duration, fmt_number
from alertcb.report._coerce import as_float, as_int, as_list, as_mapping, as_str, float_map
from alertcb.report.parts import (
    Alert,
    BatchLoss,
    Delivery,
    EpochRow,
    ErrorInfo,
    LearningRate,
    Marker,
    Monitor,
)
from alertcb.report.status import MAX_MESSAGE_CHARS, STATUS_ICON, STATUS_TEXT
from alertcb.report.timeline import Checkpoint, TimelineEntry

#: The ``schema`` of ``Summary.to_dict()``. Version 1 (``alertcb.report.tracker/1``) lacked
#: ``timeline``; `Summary.from_dict` reads both.
SUMMARY_SCHEMA = "alertcb.report.summary/2"
READABLE_SCHEMAS = ("alertcb.report.tracker/1", SUMMARY_SCHEMA)


@dataclass(frozen=True)
class Summary:
    """A training run's summary. Field names are the template variables (``s.status``, ``s.monitor.best_value``).

    Build one with `Summary.from_dict` (any details, never raises); serialise with `to_dict`.
    """

    status: str = "incomplete"
    status_reason: str = ""
    run_name: str = ""
    host: str = ""
    worker: str = ""
    job: str = ""
    run_dir: str = ""
    start: float | None = None
    end: float | None = None
    duration_s: float | None = None
    epochs_done: int = 0
    epochs_planned: int | None = None
    steps_done: int = 0
    steps_per_epoch: int | None = None
    steps_planned: int | None = None
    step_time_s: float | None = None
    epoch_time_s: float | None = None
    monitor: Monitor = field(default_factory=Monitor)
    final_train: dict[str, float | None] = field(default_factory=dict)
    final_val: dict[str, float | None] = field(default_factory=dict)
    metric_names: list[str] = field(default_factory=list)
    epochs: list[EpochRow] = field(default_factory=list)
    epochs_thinned: bool = False
    lr: LearningRate | None = None
    alerts_total: int = 0
    alerts_by_kind: dict[str, int] = field(default_factory=dict)
    alerts_first: list[Alert] = field(default_factory=list)
    alerts_firing: list[Marker] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    error: ErrorInfo | None = None
    delivery: Delivery = field(default_factory=Delivery)
    batch_loss: BatchLoss = field(default_factory=BatchLoss)

    # ------------------------------------------------------------------ for templates
    @property
    def status_text(self) -> str:
        return STATUS_TEXT.get(self.status, self.status)

    @property
    def status_icon(self) -> str:
        return STATUS_ICON.get(self.status, "⚪")

    @property
    def ok(self) -> bool:
        return self.status == "completed"

    @property
    def columns(self) -> list[str]:
        """`metric_names` in table order: ``loss``, ``val_loss``, the monitor, each metric next to its ``val_``."""
        return order_columns(self.metric_names, self.monitor.name)

    # The flat delivery names of the template view before the typed summary (custom templates).
    @property
    def delivery_emitted(self) -> int | None:
        return self.delivery.emitted

    @property
    def delivery_processed(self) -> int | None:
        return self.delivery.processed

    @property
    def delivery_sent(self) -> int | None:
        return self.delivery.sent

    @property
    def delivery_failed(self) -> int:
        return self.delivery.failed

    @property
    def delivery_dropped(self) -> int | None:
        return self.delivery.dropped

    @property
    def delivery_pending(self) -> int | None:
        return self.delivery.pending

    @property
    def checkpoints(self) -> list[Checkpoint]:
        """The checkpoint files written, oldest first (from the ``checkpoint`` timeline entries)."""
        return [Checkpoint.from_entry(e) for e in self.timeline if e.kind == "checkpoint"]

    @property
    def message(self) -> str:
        """One line: ``completed 10/10 epochs in 3m 2s, best val_loss 0.123 at epoch 7``."""
        done, planned = self.epochs_done, self.epochs_planned
        text = f"{self.status_text} {f'{done}/{planned}' if planned else done} epochs"
        if self.duration_s is not None:
            text += f" in {fmt_duration(self.duration_s)}"
        m = self.monitor
        if m.best_value is not None and m.best_number is not None:
            text += f", best {m.name} {fmt_number(m.best_value)} at epoch {m.best_number}"
        error = self.error
        cause = (error.message or error.title).splitlines()[0] if error and (error.message or error.title) else ""
        if error is not None and self.status in ("crashed", "interrupted"):
            if cause:
                text += f" — {cause[:200]}"
        elif self.status_reason:
            text += f" ({self.status_reason})"
        return text[:MAX_MESSAGE_CHARS]

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """The event ``details`` (schema `SUMMARY_SCHEMA`; version 1's keys plus ``timeline``)."""
        m = self.monitor
        return {
            "schema": SUMMARY_SCHEMA,
            "status": self.status,
            "status_reason": self.status_reason,
            "run": {"name": self.run_name, "host": self.host, "worker": self.worker or None, "job": self.job or None},
            "run_dir": self.run_dir,
            "start": self.start,
            "end": self.end,
            "duration_s": self.duration_s,
            "epochs_done": self.epochs_done,
            "epochs_planned": self.epochs_planned,
            "steps_done": self.steps_done,
            "steps_per_epoch": self.steps_per_epoch,
            "steps_planned": self.steps_planned,
            "step_time_s": self.step_time_s,
            "epoch_time_s": self.epoch_time_s,
            "monitor": {
                "name": m.name,
                "requested": m.requested or m.name,
                "mode": m.mode,
                "best_epoch": m.best_epoch,
                "best_value": m.best_value,
            },
            "final": {"train": dict(self.final_train), "val": dict(self.final_val)},
            "columns": list(self.metric_names),
            "epochs": [row.to_dict() for row in self.epochs],
            "epochs_thinned": self.epochs_thinned,
            "lr": {"initial": self.lr.initial, "final": self.lr.final} if self.lr is not None else None,
            "alerts": {
                "total": self.alerts_total,
                "by_kind": dict(self.alerts_by_kind),
                "first": [vars(a).copy() for a in self.alerts_first],
                "firing": [{"kind": f.kind, "title": f.title} for f in self.alerts_firing],
            },
            "markers": [vars(mk).copy() for mk in self.markers],
            "timeline": [entry.to_dict() for entry in self.timeline],
            "error": vars(self.error).copy() if self.error is not None else None,
            "delivery": dict(self.delivery.stats),
            "batch_loss": {
                "stride": self.batch_loss.stride,
                "steps": list(self.batch_loss.steps),
                "values": list(self.batch_loss.values),
            },
        }

    @classmethod
    def from_dict(cls, details: Any) -> Summary:
        """A `Summary` from event details of any version (never raises; missing keys get defaults)."""
        if isinstance(details, Summary):
            return details
        d = as_mapping(details)
        run, monitor, final, alerts = (as_mapping(d.get(k)) for k in ("run", "monitor", "final", "alerts"))
        best_epoch = as_int(monitor.get("best_epoch"))
        rows: list[EpochRow] = []
        for row in as_list(d.get("epochs")):
            r = as_mapping(row)
            if not r:
                continue
            index = as_int(r.get("epoch"))
            rows.append(
                EpochRow(
                    epoch=index if index is not None else len(rows),
                    time=as_float(r.get("time")),
                    duration_s=as_float(r.get("duration_s")),
                    lr=as_float(r.get("lr")),
                    metrics=float_map(r.get("metrics")),
                    best=index is not None and index == best_epoch,
                )
            )
        columns = [c for c in as_list(d.get("columns")) if isinstance(c, str)]
        if not columns:
            columns = list(dict.fromkeys(k for row in rows for k in row.metrics))
        name = as_str(monitor.get("name"), "val_loss") or "val_loss"
        lr = as_mapping(d.get("lr"))
        error = as_mapping(d.get("error")) if isinstance(d.get("error"), dict) else None
        batch = as_mapping(d.get("batch_loss"))
        pairs = [
            (as_int(s), as_float(v))
            for s, v in zip(as_list(batch.get("steps")), as_list(batch.get("values")), strict=False)
        ]
        return cls(
            status=as_str(d.get("status"), "incomplete") or "incomplete",
            status_reason=as_str(d.get("status_reason")),
            run_name=as_str(run.get("name")),
            host=as_str(run.get("host")),
            worker=as_str(run.get("worker")),
            job=as_str(run.get("job")),
            run_dir=as_str(d.get("run_dir")),
            start=as_float(d.get("start")),
            end=as_float(d.get("end")),
            duration_s=as_float(d.get("duration_s")),
            epochs_done=as_int(d.get("epochs_done")) or 0,
            epochs_planned=as_int(d.get("epochs_planned")),
            steps_done=as_int(d.get("steps_done")) or 0,
            steps_per_epoch=as_int(d.get("steps_per_epoch")),
            steps_planned=as_int(d.get("steps_planned")),
            step_time_s=as_float(d.get("step_time_s")),
            epoch_time_s=as_float(d.get("epoch_time_s")),
            monitor=Monitor(
                name=name,
                requested=as_str(monitor.get("requested")) or name,
                mode=as_str(monitor.get("mode"), "min") or "min",
                best_epoch=best_epoch,
                best_value=as_float(monitor.get("best_value")),
            ),
            final_train=float_map(final.get("train")),
            final_val=float_map(final.get("val")),
            metric_names=columns,
            epochs=rows,
            epochs_thinned=bool(d.get("epochs_thinned")),
            lr=LearningRate(as_float(lr.get("initial")), as_float(lr.get("final")))
            if as_float(lr.get("final")) is not None
            else None,
            alerts_total=as_int(alerts.get("total")) or 0,
            alerts_by_kind={k: as_int(v) or 0 for k, v in as_mapping(alerts.get("by_kind")).items()},
            alerts_first=[_alert(a) for a in as_list(alerts.get("first")) if isinstance(a, dict)],
            alerts_firing=[_marker(f) for f in as_list(alerts.get("firing")) if isinstance(f, dict)],
            markers=[_marker(m) for m in as_list(d.get("markers")) if isinstance(m, dict)],
            timeline=[TimelineEntry.from_dict(e) for e in as_list(d.get("timeline")) if isinstance(e, dict)],
            error=None if error is None else ErrorInfo(
                **{k: as_str(error.get(k)) for k in ("kind", "title", "type", "message", "traceback", "status")},
                epoch=as_int(error.get("epoch")),
                step=as_int(error.get("step")),
            ),
            delivery=Delivery(as_mapping(d.get("delivery"))),
            batch_loss=BatchLoss(
                stride=as_int(batch.get("stride")) or 1,
                steps=[s for s, _ in pairs if s is not None],
                values=[v for s, v in pairs if s is not None],
            ),
        )


def _alert(a: dict[str, Any]) -> Alert:
    return Alert(
        kind=as_str(a.get("kind")),
        title=as_str(a.get("title")),
        severity=as_str(a.get("severity"), "warning") or "warning",
        epoch=as_int(a.get("epoch")),
        step=as_int(a.get("step")),
        time=as_float(a.get("time")),
        message=as_str(a.get("message")),
        count=as_int(a.get("count")) or 1,
    )


def _marker(m: dict[str, Any]) -> Marker:
    return Marker(
        kind=as_str(m.get("kind")),
        severity=as_str(m.get("severity"), "warning") or "warning",
        title=as_str(m.get("title")),
        epoch=as_int(m.get("epoch")),
        step=as_int(m.get("step")),
    )


def order_columns(columns: list[str], monitor: str) -> list[str]:
    """``loss``, ``val_loss`` first, then the monitor, then each metric next to its ``val_``."""
    ordered: list[str] = []
    priority = ["loss", "val_loss"]
    if monitor:
        priority += [monitor[4:] if monitor.startswith("val_") else monitor]
    for name in priority + columns:
        base = name[4:] if name.startswith("val_") else name
        for candidate in (base, "val_" + base, name):
            if candidate in columns and candidate not in ordered:
                ordered.append(candidate)
    return ordered


def summary_message(details: Any) -> str:
    """The one-line message of a summary (see `Summary.message`)."""
    return Summary.from_dict(details).message
