"""The per-epoch log of a run: rows, columns, learning rate, best value per metric, durations."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from alertcb.events import to_float
from alertcb.report._coerce import as_int

_MAX_EPOCH_ROWS = 5000  # per-epoch rows kept (thinned beyond this)
_LR_KEYS = ("learning_rate", "lr")
_MAX_KEYWORDS = ("acc", "auc", "precision", "recall", "f1", "iou", "fmeasure")


def auto_mode(name: str) -> str:
    """``max`` for names with ``acc``/``auc``/``precision``/``recall``/``f1``/``iou``, else ``min``."""
    lowered = name.lower()
    return "max" if any(k in lowered for k in _MAX_KEYWORDS) else "min"


class EpochLog:
    """What each epoch ended with. Not thread-safe: the tracker holds its lock.

    Args:
        monitor: the metric whose best value is reported (``val_loss`` falls back to ``loss``).
        mode: ``"min"``, ``"max"`` or ``"auto"``.
    """

    def __init__(self, monitor: str, mode: str) -> None:
        self.monitor = monitor
        self.mode = mode
        self.rows: list[dict[str, Any]] = []
        self.thinned = False
        self.done = 0
        self.last_epoch: int | None = None
        self.durations: list[float] = []
        self.last_logs: dict[str, float] = {}
        self.columns: list[str] = []
        self.lr_first: float | None = None
        self.lr_last: float | None = None
        self.best_by_name: dict[str, tuple[int, float]] = {}

    def add(
        self, epoch: Any, logs: Mapping[str, Any] | None, lr: Any, *, time: float | None, duration: float | None
    ) -> None:
        """One epoch ended (``epoch`` 0-based; a bad index continues from the last one)."""
        index = as_int(epoch)
        if index is None or index < 0:
            index = (self.last_epoch + 1) if self.last_epoch is not None else 0
        metrics: dict[str, float] = {}
        if isinstance(logs, Mapping):
            for key, value in logs.items():
                number = to_float(value)
                if number is not None:
                    metrics[str(key)] = number
        rate = to_float(lr)
        for key in _LR_KEYS:
            if key in metrics:
                logged = metrics.pop(key)
                if rate is None:
                    rate = logged
        if rate is not None and not math.isfinite(rate):
            rate = None
        if rate is not None:
            if self.lr_first is None:
                self.lr_first = rate
            self.lr_last = rate
        if duration is not None:
            self.durations.append(duration)
            if len(self.durations) > 64:
                del self.durations[1:2]  # keep the first (compile) apart, drop the oldest other
        for key in metrics:
            if key not in self.columns:
                self.columns.append(key)
        self.rows.append({"epoch": index, "time": time, "duration_s": duration, "lr": rate, "metrics": metrics})
        if len(self.rows) > _MAX_EPOCH_ROWS:
            self.rows = self.rows[0:-1:2] + [self.rows[-1]]
            self.thinned = True
        self.done = max(self.done + 1, index + 1)  # initial_epoch counts as done
        self.last_epoch = index
        self.last_logs = metrics
        for key, value in metrics.items():
            if not math.isfinite(value):
                continue
            best = self.best_by_name.get(key)
            if best is None or (value > best[1] if self.mode_for(key) == "max" else value < best[1]):
                self.best_by_name[key] = (index, value)

    def mode_for(self, name: str) -> str:
        return self.mode if self.mode != "auto" else auto_mode(name)

    def monitor_name(self) -> str:
        """The monitored metric actually present (``val_loss`` falls back to ``loss``)."""
        if self.monitor in self.columns or not self.columns:
            return self.monitor
        if self.monitor.startswith("val_") and self.monitor[4:] in self.columns:
            return self.monitor[4:]
        if "loss" in self.columns:
            return "loss"
        return self.monitor

    def best(self) -> tuple[str, int | None, float | None]:
        """``(name, best epoch (0-based), best value)`` of the monitored metric."""
        name = self.monitor_name()
        best = self.best_by_name.get(name)
        return name, best[0] if best else None, best[1] if best else None

    def epoch_time(self) -> float | None:
        """Mean epoch duration; the first epoch (tracing, compilation) is left out once others exist."""
        sample = self.durations[1:] if len(self.durations) > 1 else self.durations
        return sum(sample) / len(sample) if sample else None
