"""Divergence: the loss level rises far above its baseline and stays there.

A spike is one to a few bad batches; divergence is the *level* of the loss leaving its
baseline for good (a learning rate growing every step, a broken schedule, exploding
weights, a level shift). The level is the median of the last ``window`` (5) per-batch
losses, so single spikes and 1-3 poisoned batches do not move it. The baseline is the
lowest median of ``baseline_window`` (50) batches seen so far (the loss level before the
ramp). The alert fires on the first of three rules:

- the level stays above ``factor`` (3) x the baseline for ``patience`` (5) consecutive
  batches;
- it stays above ``factor**2`` x for 3 (a level shift);
- a slow rise: the level has stayed above ``(1 + factor) / 2`` (2) x for ``1.5 *
  patience`` (8) batches and the summed log-excess over it (a one-sided CUSUM of
  ``log(ratio / 2)``) reaches what ``patience`` batches at ``factor`` give
  (``5 * log 1.5``): 10 batches after the level reaches 2.5x, 22 at 2.2x. A level that wobbles around
  3x, as a noisy loss on a slow LR ramp does, need not clear 3x 5 batches in a row.

So a loss whose level triples is reported within 20 batches of tripling.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from math import isfinite
from typing import Any

import alertcb.detectors.defaults as D
from alertcb.detectors.base import Detector, fmt, fmt_ratio, fmt_step, slide
from alertcb.events import RESOLVED, Event, RunInfo, Severity
from alertcb.validate import check_number

TITLE_SUFFIX = "diverging"
_RESOLVE_STEPS = 5
MIN_BASELINE = 20  # values in the baseline median before it may lower the baseline


def _median(ordered: list[float]) -> float:
    n = len(ordered)
    mid = n >> 1
    return ordered[mid] if n & 1 else 0.5 * (ordered[mid - 1] + ordered[mid])


class _RollingMedian:
    """A sliding window in arrival order and sorted (pushed with `alertcb.detectors.base.slide`)."""

    __slots__ = ("recent", "ordered", "size")

    def __init__(self, size: int) -> None:
        self.recent: deque[float] = deque()
        self.ordered: list[float] = []
        self.size = size


class DivergenceDetector(Detector):
    """Fires when the loss level stays far above its baseline level.

    Args:
        monitor: the metric name used in titles. Defaults to ``"loss"``.
        factor: how many times above its baseline the level must be. Defaults to 3.
        patience: consecutive batches the level must stay there. Defaults to 5.
        window: batches in the rolling median that defines the level. Defaults to 5.
        baseline_window: batches in the rolling median whose lowest value is the
            baseline. Defaults to 50.
        warmup_steps: batches before the first alert. Defaults to 20.
        floor_fraction: levels are compared after adding this fraction of the first
            level, so that wobbles of a loss already near zero (1e-6 → 1e-5) do not
            count as divergence. Defaults to 1e-3.
        severity: defaults to ``"critical"``.
        run: `RunInfo` put on events.

    Example:
        >>> d = DivergenceDetector()
        >>> events = [d.update(i, 1.0 if i < 40 else 100.0) for i in range(80)]
        >>> [(e.title, e.step) for e in events if e is not None]
        [('loss diverging', 44)]
    """

    kind = "divergence"

    def __init__(
        self,
        *,
        monitor: str = "loss",
        factor: float = D.DIVERGENCE_FACTOR,
        patience: int = D.DIVERGENCE_PATIENCE,
        window: int = D.DIVERGENCE_WINDOW,
        baseline_window: int = D.DIVERGENCE_BASELINE_WINDOW,
        warmup_steps: int = D.DIVERGENCE_WARMUP_STEPS,
        floor_fraction: float = D.FLOOR_FRACTION,
        severity: Severity | str = "critical",
        run: RunInfo | None = None,
    ) -> None:
        super().__init__(severity=severity, run=run)
        self.monitor = monitor
        self.factor = check_number("factor", factor, minimum=1.0, strict_minimum=True)
        self.patience = check_number("patience", patience, minimum=1, integer=True)
        self.window = check_number("window", window, minimum=1, integer=True)
        self.baseline_window = check_number("baseline_window", baseline_window, minimum=1, integer=True)
        self.warmup_steps = check_number("warmup_steps", warmup_steps, minimum=0, integer=True)
        self.floor_fraction = check_number("floor_fraction", floor_fraction, minimum=0.0)
        self.title = f"{monitor} {TITLE_SUFFIX}"
        self._slow = 1.0 + (self.factor - 1.0) / 2  # 2x for the default factor 3
        self._slow_evidence = self.patience * math.log(self.factor / self._slow)
        self._slow_run = math.ceil(1.5 * self.patience)  # 8 batches above 2x for the default 5
        self._settled = min(self.baseline_window, MIN_BASELINE)
        self.reset()

    def reset(self) -> None:
        self._level = _RollingMedian(self.window)
        self._long = _RollingMedian(self.baseline_window)
        self._seen = 0
        self._floor: float | None = None
        self.best: float | None = None
        self.best_step: int | None = None
        self._above = 0
        self._far_above = 0
        self._slow_above = 0
        self._cusum = 0.0
        self._normal = 0
        self.active = False
        self._since: int | None = None

    @property
    def level(self) -> float | None:
        """The current level: median of the last ``window`` finite values."""
        return _median(self._level.ordered) if self._level.ordered else None

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
        warm-up, ``patience`` and the slow rule count batches.
        """
        if not isfinite(value):
            return None
        short = self._level
        self._seen += batches
        if slide(short.recent, short.ordered, value, short.size) < self.window:
            return None
        level = _median(short.ordered)
        floor = self._floor
        if floor is None:
            floor = self._floor = abs(level) * self.floor_fraction
        if not self.active:
            long = self._long
            if slide(long.recent, long.ordered, value, long.size) >= self._settled:
                long_level = _median(long.ordered)
                if self.best is None or long_level < self.best:
                    self.best, self.best_step = long_level, step
        best = self.best if self.best is not None else level
        denominator = best + floor
        if denominator > 0:
            ratio = (level + floor) / denominator
        else:  # a zero or negative baseline (log-likelihood objectives): the rise relative to its size
            ratio = 1.0 + (level - best) / max(abs(best), floor, 1e-12)
        # counts are in batches: one value of a steps_per_execution chunk covers `batches`
        if ratio > self.factor:
            self._above += batches
            self._far_above = self._far_above + batches if ratio > self.factor**2 else 0
        else:
            self._above = 0
            self._far_above = 0
        if ratio > self._slow:
            self._slow_above += batches
            self._cusum += batches * math.log(ratio / self._slow)
        else:
            self._slow_above = 0
            if self._cusum > 0.0:
                self._cusum = max(0.0, self._cusum + batches * math.log(max(ratio, 1e-12) / self._slow))
        if self._seen <= self.warmup_steps:
            return None
        metrics = metrics if metrics is not None else {self.monitor: value}
        if not self.active:
            slow = self._slow_above >= self._slow_run and self._cusum >= self._slow_evidence
            if self._above >= self.patience or self._far_above >= 3 or slow:
                above, batches = (self.factor, self._above) if self._above >= min(self.patience, 3) else (self._slow, self._slow_above)
                self.active = True
                self._since = step
                self._normal = 0
                return self.make_event(
                    self.title,
                    f"{self.monitor} level {fmt(level)} (median of the last {self.window} batches) at step "
                    f"{fmt_step(step)} is {fmt_ratio(ratio)} its baseline {fmt(best)} (lowest "
                    f"{self.baseline_window}-batch median, step {fmt_step(self.best_step)}) and has stayed "
                    f"above {fmt_ratio(above)} for {batches} batches",
                    epoch=epoch,
                    step=step,
                    metrics=metrics,
                    details={
                        "value": value,
                        "level": level,
                        "baseline": best,
                        "best": best,
                        "best_step": self.best_step,
                        "ratio": ratio,
                        "factor": self.factor,
                        "above": above,
                        "batches_above": batches,
                    },
                )
            return None
        self._normal = self._normal + 1 if ratio <= math.sqrt(self.factor) else 0
        if self._normal >= _RESOLVE_STEPS:
            self.active = False
            self._above = 0
            self._slow_above = 0
            self._cusum = 0.0
            return self.make_event(
                self.title,
                f"{self.monitor} level {fmt(level)} at step {fmt_step(step)} is back near its baseline "
                f"{fmt(best)} (diverging since step {fmt_step(self._since)})",
                status=RESOLVED,
                epoch=epoch,
                step=step,
                metrics=metrics,
                details={"value": value, "level": level, "baseline": best, "best": best, "ratio": ratio},
            )
        return None
