"""Summary details as templates see them: every key present, numbers as floats.

`summary_view` and `progress_view` accept any mapping (a summary written by an older
version, a hand-made one) and never raise; `summary_message` is the one-line message.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from alertcb.events import parse_number as as_float
from alertcb.events import to_float
from alertcb.filters import fmt_duration, fmt_number

#: The ``schema`` of `summary_view`'s result (a view passed again is returned as is).
VIEW_MARK = "alertcb.report.tracker-view/1"
STATUS_ICON = {
    "completed": "✅",
    "stopped_early": "🟠",
    "incomplete": "❔",
    "diverged": "🔴",
    "interrupted": "⛔",
    "crashed": "💥",
}
STATUS_TEXT = {
    "completed": "completed",
    "stopped_early": "stopped early",
    "incomplete": "incomplete",
    "diverged": "diverged",
    "interrupted": "interrupted",
    "crashed": "crashed",
}
MAX_MESSAGE_CHARS = 500


def as_int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    number = to_float(value)
    if number is None or not math.isfinite(number):
        return None
    return int(number)


def summary_message(details: Mapping[str, Any]) -> str:
    """The one-line message of a summary, e.g.
    ``completed 10/10 epochs in 3m 2s, best val_loss 0.123 at epoch 7``."""
    s = summary_view(details)
    done, planned = s["epochs_done"], s["epochs_planned"]
    epochs = f"{done}/{planned}" if planned else f"{done}"
    text = f"{STATUS_TEXT.get(s['status'], s['status'])} {epochs} epochs"
    if s["duration_s"] is not None:
        text += f" in {fmt_duration(s['duration_s'])}"
    monitor = s["monitor"]
    if monitor["best_value"] is not None and monitor["best_epoch"] is not None:
        text += f", best {monitor['name']} {fmt_number(monitor['best_value'])} at epoch {monitor['best_epoch'] + 1}"
    error = s["error"]
    if error is not None and s["status"] in ("crashed", "interrupted"):
        cause = (
            (error["message"] or error["title"]).splitlines()[0]
            if (error["message"] or error["title"])
            else ""
        )
        if cause:
            text += f" — {cause[:200]}"
    elif s["status_reason"]:
        text += f" ({s['status_reason']})"
    return text[:MAX_MESSAGE_CHARS]


def as_mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_str(value: Any, default: str = "") -> str:
    return default if value is None else str(value)


def summary_view(details: Any) -> dict[str, Any]:
    """Normalise summary ``details`` for templates: every key present, numbers as floats.

    Works on any mapping (a summary from an older version, a hand-made summary
    event, or an alert's details), so templates never hit an undefined variable.
    """
    d = as_mapping(details)
    if d.get("schema") == VIEW_MARK:
        return d
    status = as_str(d.get("status"), "incomplete") or "incomplete"
    run = as_mapping(d.get("run"))
    monitor = as_mapping(d.get("monitor"))
    best_epoch = as_int(monitor.get("best_epoch"))
    epochs_rows: list[dict[str, Any]] = []
    for row in as_list(d.get("epochs")):
        if not isinstance(row, Mapping):
            continue
        index = as_int(row.get("epoch"))
        metrics = {str(k): as_float(v) for k, v in as_mapping(row.get("metrics")).items()}
        epochs_rows.append(
            {
                "epoch": index if index is not None else len(epochs_rows),
                "time": as_float(row.get("time")),
                "duration_s": as_float(row.get("duration_s")),
                "lr": as_float(row.get("lr")),
                "metrics": metrics,
                "best": index is not None and index == best_epoch,
            }
        )
    columns = [c for c in as_list(d.get("columns")) if isinstance(c, str)]
    if not columns:
        for row in epochs_rows:
            for key in row["metrics"]:
                if key not in columns:
                    columns.append(key)
    columns = _order_columns(columns, as_str(monitor.get("name")))
    final = as_mapping(d.get("final"))
    alerts = as_mapping(d.get("alerts"))
    first = [
        {
            "kind": as_str(a.get("kind")),
            "title": as_str(a.get("title")),
            "severity": as_str(a.get("severity"), "warning"),
            "epoch": as_int(a.get("epoch")),
            "step": as_int(a.get("step")),
            "time": as_float(a.get("time")),
            "message": as_str(a.get("message")),
            "count": as_int(a.get("count")) or 1,
        }
        for a in as_list(alerts.get("first"))
        if isinstance(a, Mapping)
    ]
    by_kind = {str(k): as_int(v) or 0 for k, v in as_mapping(alerts.get("by_kind")).items()}
    error = d.get("error")
    error_view = None
    if isinstance(error, Mapping):
        error_view = {
            "kind": as_str(error.get("kind")),
            "title": as_str(error.get("title")),
            "type": as_str(error.get("type")),
            "message": as_str(error.get("message")),
            "epoch": as_int(error.get("epoch")),
            "step": as_int(error.get("step")),
            "traceback": as_str(error.get("traceback")),
        }
    lr = d.get("lr")
    lr_view = None
    if isinstance(lr, Mapping) and as_float(lr.get("final")) is not None:
        lr_view = {"initial": as_float(lr.get("initial")), "final": as_float(lr.get("final"))}
    delivery = as_mapping(d.get("delivery"))
    dropped = delivery.get("dropped")
    dropped_total = (
        sum(as_int(v) or 0 for v in dropped.values()) if isinstance(dropped, Mapping) else as_int(dropped)
    )
    destinations = [v for v in as_mapping(delivery.get("destinations")).values() if isinstance(v, Mapping)]
    sent = sum(as_int(v.get("delivered")) or 0 for v in destinations) if destinations else None
    failed = 0
    for dest in destinations:
        value = dest.get("failed")
        failed += (
            sum(as_int(v) or 0 for v in value.values())
            if isinstance(value, Mapping)
            else as_int(value) or 0
        )
    return {
        "schema": VIEW_MARK,
        "status": status,
        "status_text": STATUS_TEXT.get(status, status),
        "status_icon": STATUS_ICON.get(status, "⚪"),
        "status_reason": as_str(d.get("status_reason")),
        "ok": status == "completed",
        "run_name": as_str(run.get("name")),
        "host": as_str(run.get("host")),
        "worker": as_str(run.get("worker")),
        "job": as_str(run.get("job")),
        "run_dir": as_str(d.get("run_dir")),
        "start": as_float(d.get("start")),
        "end": as_float(d.get("end")),
        "duration_s": as_float(d.get("duration_s")),
        "epochs_done": as_int(d.get("epochs_done")) or 0,
        "epochs_planned": as_int(d.get("epochs_planned")),
        "steps_done": as_int(d.get("steps_done")) or 0,
        "steps_per_epoch": as_int(d.get("steps_per_epoch")),
        "steps_planned": as_int(d.get("steps_planned")),
        "step_time_s": as_float(d.get("step_time_s")),
        "epoch_time_s": as_float(d.get("epoch_time_s")),
        "monitor": {
            "name": as_str(monitor.get("name"), "val_loss") or "val_loss",
            "mode": as_str(monitor.get("mode"), "min"),
            "best_epoch": best_epoch,
            "best_value": as_float(monitor.get("best_value")),
        },
        "final_train": {str(k): as_float(v) for k, v in as_mapping(final.get("train")).items()},
        "final_val": {str(k): as_float(v) for k, v in as_mapping(final.get("val")).items()},
        "columns": columns,
        "epochs": epochs_rows,
        "epochs_thinned": bool(d.get("epochs_thinned")),
        "lr": lr_view,
        "alerts_total": as_int(alerts.get("total")) or 0,
        "alerts_by_kind": by_kind,
        "alerts_first": first,
        "alerts_firing": [
            {"kind": as_str(f.get("kind")), "title": as_str(f.get("title"))}
            for f in as_list(alerts.get("firing"))
            if isinstance(f, Mapping)
        ],
        "error": error_view,
        "delivery": delivery,
        "delivery_emitted": as_int(delivery.get("emitted")),
        "delivery_processed": as_int(delivery.get("processed")),
        "delivery_pending": as_int(delivery.get("pending")),
        "delivery_dropped": dropped_total,
        "delivery_sent": sent,
        "delivery_failed": failed,
        "batch_loss": _batch_view(d.get("batch_loss")),
        "markers": [
            {
                "kind": as_str(m.get("kind")),
                "severity": as_str(m.get("severity"), "warning"),
                "title": as_str(m.get("title")),
                "epoch": as_int(m.get("epoch")),
                "step": as_int(m.get("step")),
            }
            for m in as_list(d.get("markers"))
            if isinstance(m, Mapping)
        ],
    }


def _batch_view(value: Any) -> dict[str, Any]:
    raw = as_mapping(value)
    steps, values = as_list(raw.get("steps")), as_list(raw.get("values"))
    pairs = [(as_int(s), as_float(v)) for s, v in zip(steps, values, strict=False)]
    return {
        "stride": as_int(raw.get("stride")) or 1,
        "steps": [s for s, _ in pairs if s is not None],
        "values": [v for s, v in pairs if s is not None],
    }


def _order_columns(columns: list[str], monitor: str) -> list[str]:
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


def progress_view(details: Any) -> dict[str, Any]:
    """Normalise ``progress`` event details for templates (every key present)."""
    d = as_mapping(details)
    monitor = as_mapping(d.get("monitor"))
    since = as_mapping(d.get("alerts_since"))
    return {
        "running": bool(d.get("running", True)),
        "epoch": as_int(d.get("epoch")) or 0,
        "epochs_done": as_int(d.get("epochs_done")) or 0,
        "epochs_planned": as_int(d.get("epochs_planned")),
        "steps_done": as_int(d.get("steps_done")) or 0,
        "steps_planned": as_int(d.get("steps_planned")),
        "percent": as_float(d.get("percent")),
        "elapsed_s": as_float(d.get("elapsed_s")),
        "step_time_s": as_float(d.get("step_time_s")),
        "epoch_time_s": as_float(d.get("epoch_time_s")),
        "eta_s": as_float(d.get("eta_s")),
        "metrics": {str(k): as_float(v) for k, v in as_mapping(d.get("metrics")).items()},
        "batch_loss": as_float(d.get("batch_loss")),
        "monitor": {
            "name": as_str(monitor.get("name"), "val_loss") or "val_loss",
            "best_epoch": as_int(monitor.get("best_epoch")),
            "best_value": as_float(monitor.get("best_value")),
        },
        "alerts_total": as_int(d.get("alerts_total")) or 0,
        "alerts_since_total": as_int(since.get("total")) or 0,
        "alerts_since_by_kind": {str(k): as_int(v) or 0 for k, v in as_mapping(since.get("by_kind")).items()},
        "interval_s": as_float(d.get("interval_s")),
    }
