"""The events `LifecycleAlert` emits: ``early_stop``, ``lr_change``, ``checkpoint``, ``started``.

Severity info, 0-based ``epoch`` fields, 1-based epochs in every human text. The
``details`` keys are the ones `alertcb.report.timeline` and `alertcb.registry` read.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from alertcb.events import Event, RunInfo, Severity
from alertcb.filters import fmt_number
from alertcb.report.timeline import fmt_bytes

__all__ = ["checkpoint_event", "early_stop_event", "lr_change_event", "lr_changed", "started_event"]


def _num(value: float | None) -> str:
    return fmt_number(value) if value is not None else "—"


def lr_changed(old: float | None, new: float | None, factor: float) -> bool:
    """Whether ``new`` differs from ``old`` by at least ``factor`` (either way)."""
    if old is None or new is None or not (math.isfinite(old) and math.isfinite(new)):
        return False
    if old == new:
        return False
    if old <= 0 or new <= 0:
        return True  # to or from zero (or a sign change): always worth a line
    return abs(math.log(new / old)) >= math.log(factor) - 1e-12


def early_stop_event(
    *,
    callback: str,
    epoch: int,
    monitor: str | None,
    value: float | None,
    best_value: float | None,
    best_epoch: int | None,
    restored: bool | None,
    step: int | None,
) -> Event:
    """"EarlyStopping stopped training" (rendered "... at epoch 11") / "val_loss 0.412, best 0.298 at epoch 8; ..."."""
    facts = []
    if monitor:
        text = f"{monitor} {_num(value)}"
        if best_value is not None:
            text += f", best {_num(best_value)}"
            if best_epoch is not None:
                text += f" at epoch {best_epoch + 1}"
        facts.append(text)
    if restored is True:
        facts.append("weights restored" + (f" from epoch {best_epoch + 1}" if best_epoch is not None else ""))
    elif restored is False:
        facts.append(f"weights of epoch {epoch + 1} kept (restore_best_weights is off)")
    return Event(
        kind="early_stop",
        title=f"{callback} stopped training",  # templates add "at epoch N, step M"
        message="; ".join(facts) if facts else f"training stopped at epoch {epoch + 1}",
        severity=Severity.INFO,
        epoch=epoch,
        step=step,
        metrics={monitor: value} if monitor and value is not None else {},
        details={
            "callback": callback,
            "epoch": epoch,
            "monitor": monitor,
            "value": value,
            "best_value": best_value,
            "best_epoch": best_epoch,
            "restored": restored,
        },
    )


def lr_change_event(
    *, old: float, new: float, source: str | None, epoch: int, step: int | None, factor: float
) -> Event:
    """"learning rate 0.001 → 5e-04" (each change its own incident: the numbers are in the title)."""
    verb = "cut" if new < old else "raised"
    ratio = f" (×{new / old:.3g})" if old > 0 else ""
    by = f"{source} " if source else ""
    return Event(
        kind="lr_change",
        title=f"learning rate {_num(old)} → {_num(new)}",
        message=f"{by}{verb} the learning rate from {old:.6g} to {new:.6g}{ratio} at epoch {epoch + 1}",
        severity=Severity.INFO,
        epoch=epoch,
        step=step,
        details={"old": old, "new": new, "callback": source, "source": source, "factor": factor, "epoch": epoch},
    )


def checkpoint_event(
    *,
    run: RunInfo | None,
    callback: str,
    path: str,
    epoch: int,
    monitor: str | None,
    value: float | None,
    size_bytes: int,
    mtime_ns: int,
    is_best: bool,
    step: int | None,
) -> Event:
    """One real write; a fingerprint of its own (the registry gets every write, never a folded repeat)."""
    facts = []
    if monitor and value is not None:
        facts.append(f"{monitor} {_num(value)}")
    if is_best:
        facts.append("new best")
    facts.append(fmt_bytes(size_bytes))
    raw = f"{run.name if run else ''}\x1f{path}\x1f{epoch}\x1f{mtime_ns}".encode("utf-8", "surrogatepass")
    return Event(
        kind="checkpoint",
        title=f"checkpoint saved: {os.path.basename(path.rstrip(os.sep)) or path}",
        message=f"{callback} wrote {path} at epoch {epoch + 1}: " + ", ".join(facts),
        severity=Severity.INFO,
        run=run,
        epoch=epoch,
        step=step,
        metrics={monitor: value} if monitor and value is not None else {},
        details={
            "callback": callback,
            "path": path,
            "epoch": epoch,
            "monitor": monitor,
            "value": value,
            "size_bytes": size_bytes,
            "mtime_ns": mtime_ns,
            "is_best": is_best,
        },
        fingerprint="ckpt-" + hashlib.sha1(raw, usedforsecurity=False).hexdigest()[:16],
    )


def started_event(
    *,
    run: RunInfo | None,
    epochs: int | None,
    steps: int | None,
    parameters: int | None,
    optimizer: str | None,
    learning_rate: float | None,
    channels: Sequence[str],
    extra: Mapping[str, Any] | None = None,
) -> Event:
    """"training started": run, host, worker, epochs × steps, parameters, optimizer, channels."""
    name = run.name if run else "run"
    where = f" on {run.host}" if run and run.host else ""
    if run and run.worker:
        where += f" ({run.worker})"
    shape = f"{epochs if epochs is not None else '?'} epochs × {steps if steps is not None else '?'} steps"
    parts = [shape]
    if parameters is not None:
        parts.append(f"{parameters:,} parameters")
    if optimizer:
        parts.append(optimizer + (f" lr {_num(learning_rate)}" if learning_rate is not None else ""))
    parts.append("alerts to " + (", ".join(channels) if channels else "no channel"))
    return Event(
        kind="started",
        title=f"training started: {name}",
        message=f"{name}{where}: " + ", ".join(parts),
        severity=Severity.INFO,
        run=run,
        details={
            "run": name,
            "host": run.host if run else None,
            "worker": run.worker if run else None,
            "epochs": epochs,
            "steps": steps,
            "parameters": parameters,
            "optimizer": optimizer,
            "learning_rate": learning_rate,
            "channels": list(channels),
            **dict(extra or {}),
        },
    )
