"""Divergence: the loss level rises far above its best and stays there.

A spike is one to a few bad batches; divergence is the *level* of the loss leaving
its best for good (a learning rate that is too high, a broken schedule, exploding
weights). The level is the median of the last ``window`` per-batch losses, so single
spikes do not move it; the alert needs that level to stay above ``factor`` x its best
for ``patience`` consecutive batches, or to exceed ``factor**2`` x (grows without
bound) for ``window // 4`` batches.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Mapping
from math import isfinite
from typing import Any

from alertcb.detectors.base import Detector, fmt, fmt_ratio, fmt_step
from alertcb.events import RESOLVED, Event, RunInfo, Severity
from alertcb.validate import check_number

TITLE_SUFFIX = "diverging"


class DivergenceDetector(Detector):
    """Fires when the loss level stays far above its best level.

    Args:
        monitor: the metric name used in titles. Defaults to ``"loss"``.
        factor: how many times above its best the level must be. Defaults to 5.
        patience: consecutive batches the level must stay there. Defaults to 30.
        window: batches in the rolling median that defines the level. Defaults to 20.
        warmup_steps: batches before the best level is tracked. Defaults to 50.
        floor_fraction: levels are compared after adding this fraction of the
            first level, so that wobbles of a loss already near zero (1e-6 → 1e-5)
            do not count as divergence. Defaults to 1e-3.
        severity: defaults to ``"critical"``.
        run: `RunInfo` put on events.

    Example:
        >>> d = DivergenceDetector(patience=5, warmup_steps=10, window=5)
        >>> events = [d.update(i, 1.0 if i < 40 else 100.0) for i in range(80)]
        >>> [e.title for e in events if e is not None]
        ['loss diverging']
    """

    kind = "divergence"

    def __init__(
        self,
        *,
        monitor: str = "loss",
        factor: float = 5.0,
        patience: int = 30,
        window: int = 20,
        warmup_steps: int = 50,
        floor_fraction: float = 1e-3,
        severity: Severity | str = "critical",
        run: RunInfo | None = None,
    ) -> None:
        super().__init__(severity=severity, run=run)
        self.monitor = monitor
        self.factor = check_number("factor", factor, minimum=1.0, strict_minimum=True)
        self.patience = check_number("patience", patience, minimum=1, integer=True)
        self.window = check_number("window", window, minimum=1, integer=True)
        self.warmup_steps = check_number("warmup_steps", warmup_steps, minimum=0, integer=True)
        self.floor_fraction = check_number("floor_fraction", floor_fraction, minimum=0.0)
        self.title = f"{monitor} {TITLE_SUFFIX}"
        self.reset()

    def reset(self) -> None:
        self._recent: deque[float] = deque()
        self._sorted: list[float] = []
        self._seen = 0
        self._floor: float | None = None
        self.best: float | None = None
        self.best_step: int | None = None
        self._above = 0
        self._far_above = 0
        self.active = False
        self._since: int | None = None

    @property
    def level(self) -> float | None:
        """The current level: median of the last ``window`` finite values."""
        n = len(self._sorted)
        if n == 0:
            return None
        mid = n // 2
        return self._sorted[mid] if n % 2 else 0.5 * (self._sorted[mid - 1] + self._sorted[mid])

    def update(
        self,
        step: int,
        value: float,
        *,
        epoch: int | None = None,
        metrics: Mapping[str, Any] | None = None,
        batches: int = 1,
    ) -> Event | None:
        """Take one batch's loss (per batch, not the running mean); non-finite values are skipped.

        ``batches`` is how many batches ``value`` covers (``steps_per_execution``); the
        warm-up counts batches.
        """
        if not isfinite(value):
            return None
        recent, ordered = self._recent, self._sorted
        recent.append(value)
        insort(ordered, value)
        n = len(recent)
        if n > self.window:
            del ordered[bisect_left(ordered, recent.popleft())]
            n -= 1
        self._seen += batches
        if n < self.window:
            return None
        mid = n >> 1
        level = ordered[mid] if n & 1 else 0.5 * (ordered[mid - 1] + ordered[mid])
        floor = self._floor
        if floor is None:
            floor = self._floor = abs(level) * self.floor_fraction
        best = self.best
        if self._seen <= self.warmup_steps or best is None:
            if best is None or level < best:
                self.best, self.best_step = level, step
            return None
        if level < best and not self.active:
            self.best, self.best_step = level, step
            best = level
        ratio = (level + floor) / (best + floor) if best + floor > 0 else math.inf
        if ratio > self.factor:
            self._above += 1
            self._far_above = self._far_above + 1 if ratio > self.factor**2 else 0
        else:
            self._above = 0
            self._far_above = 0
        metrics = metrics if metrics is not None else {self.monitor: value}
        if not self.active:
            if self._above >= self.patience or self._far_above >= max(1, self.window // 4):
                self.active = True
                self._since = step
                return self.make_event(
                    self.title,
                    f"{self.monitor} level {fmt(level)} (median of the last {self.window} batches) at step "
                    f"{fmt_step(step)} is {fmt_ratio(ratio)} its best {fmt(self.best)} "
                    f"(step {fmt_step(self.best_step)}) and has stayed above {fmt_ratio(self.factor)} "
                    f"for {self._above} batches",
                    epoch=epoch,
                    step=step,
                    metrics=metrics,
                    details={
                        "value": value,
                        "level": level,
                        "best": self.best,
                        "best_step": self.best_step,
                        "ratio": ratio,
                        "factor": self.factor,
                        "batches_above": self._above,
                    },
                )
            return None
        if ratio <= math.sqrt(self.factor):
            self.active = False
            self._above = 0
            return self.make_event(
                self.title,
                f"{self.monitor} level {fmt(level)} at step {fmt_step(step)} is back near its best "
                f"{fmt(self.best)} (diverging since step {fmt_step(self._since)})",
                status=RESOLVED,
                epoch=epoch,
                step=step,
                metrics=metrics,
                details={"value": value, "level": level, "best": self.best, "ratio": ratio},
            )
        return None
