"""Loss spikes on the per-batch loss, recovered from Keras' running means.

The per-batch loss comes from `alertcb.detectors.decoder.RunningMeanDecoder`.

How a spike is decided (see docs/detection.md for the measurements behind it): a batch
is a spike when all three hold —

- it is at least ``min_ratio`` (3) x the *level*, the median of the last ``level_window``
  (20) normal batches;
- it is above the maximum of the last ``max_window`` (100) normal batches (mini-batch
  noise that is 3x the median but no higher than the recent maximum is not a spike);
- it is also far above the run's own noise (10 to ``window`` batches of it) in log space: ``y = log(loss + floor)``, residual ``y - level`` above ``center +
  sensitivity * spread`` where ``spread`` is the ``tail_quantile`` (98th percentile)
  residual minus the median residual. This is what keeps heavy-tailed runs quiet.

Two consecutive batches above ``min_ratio``, the recent max and ``center + persistence_sensitivity *
spread`` also count (multi-batch faults slightly below the one-batch threshold; one batch of delay).
Alerts are possible from batch ``warmup_steps`` (20) on. Spikes never enter the baselines. One alert
per incident; ``resolved`` after ``resolve_steps`` consecutive normal batches; a loss that stays high
for ``max_window`` batches becomes the new level (the divergence detector reports level shifts).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from math import isfinite, log
from typing import Any

import alertcb.detectors.defaults as D
from alertcb.detectors.base import Detector, fmt, fmt_ratio, fmt_step, slide
from alertcb.errors import ConfigError
from alertcb.events import RESOLVED, Event, RunInfo, Severity
from alertcb.validate import check_number

# Kept for callers that imported them from here; defined once in `alertcb.detectors.defaults`.
DEFAULT_SENSITIVITY = D.SPIKE_SENSITIVITY
DEFAULT_WINDOW = D.SPIKE_WINDOW
DEFAULT_MIN_RATIO = D.SPIKE_MIN_RATIO
#: Below this many residuals the noise window's tail quantile is its largest value or two.
_SHORT_NOISE = 100


class SpikeDetector(Detector):
    """One alert per loss spike, with a ``resolved`` event when the loss is back to normal.

    Args:
        monitor: name of the metric in titles and messages. Defaults to ``"loss"``.
        sensitivity: threshold as a multiple of the run's own tail spread (lower fires
            more often). Defaults to 2.2.
        persistence_sensitivity: threshold for two consecutive high batches. Defaults to
            0.75 x ``sensitivity``; None disables the persistence rule.
        min_ratio: a spike is at least this many times the recent median. Defaults to 3.
        window: batches in the noise baseline. Defaults to 300.
        level_window: batches in the rolling median that defines the current level. Defaults to 20.
        max_window: a spike is above the maximum of this many recent batches. Defaults to 100.
        tail_quantile: quantile of the baseline that defines its tail spread. Defaults to 0.98.
        warmup_steps: batches observed before the first alert (at least 10). Defaults to 20.
        resolve_steps: consecutive normal batches that resolve an incident. Defaults to 5.
        floor_fraction: ``floor`` = this x the first loss level. Defaults to 1e-3.
        severity: defaults to ``"warning"``.
        run: `RunInfo` put on events.

    Example:
        >>> d = SpikeDetector()
        >>> events = [d.update(i, 100.0 if i == 60 else 1.0 + 0.1 * (i % 3)) for i in range(70)]
        >>> [(e.step, e.title, e.status) for e in events if e is not None]
        [(60, 'loss spike', 'firing'), (65, 'loss spike', 'resolved')]
    """

    kind = "spike"

    def __init__(
        self,
        *,
        monitor: str = "loss",
        sensitivity: float = DEFAULT_SENSITIVITY,
        persistence_sensitivity: float | None = -1.0,
        min_ratio: float = DEFAULT_MIN_RATIO,
        window: int = DEFAULT_WINDOW,
        level_window: int = D.SPIKE_LEVEL_WINDOW,
        max_window: int = D.SPIKE_MAX_WINDOW,
        tail_quantile: float = D.SPIKE_TAIL_QUANTILE,
        warmup_steps: int = D.SPIKE_WARMUP_STEPS,
        resolve_steps: int = D.SPIKE_RESOLVE_STEPS,
        floor_fraction: float = D.FLOOR_FRACTION,
        severity: Severity | str = "warning",
        run: RunInfo | None = None,
    ) -> None:
        super().__init__(severity=severity, run=run)
        self.monitor = monitor
        self.title = f"{monitor} spike"
        self.sensitivity = check_number("sensitivity", sensitivity, minimum=0, strict_minimum=True)
        if persistence_sensitivity == -1.0:
            persistence_sensitivity = 0.75 * self.sensitivity
        self.persistence_sensitivity = check_number(
            "persistence_sensitivity",
            persistence_sensitivity,
            minimum=0,
            strict_minimum=True,
            allow_none=True,
        )
        self.min_ratio = check_number("min_ratio", min_ratio, minimum=1.0)
        self.window = check_number("window", window, minimum=10, integer=True)
        self.level_window = check_number("level_window", level_window, minimum=3, integer=True)
        self.max_window = check_number("max_window", max_window, minimum=1, integer=True)
        self.tail_quantile = check_number("tail_quantile", tail_quantile, minimum=0.5, maximum=1.0)
        self.warmup_steps = check_number("warmup_steps", warmup_steps, minimum=1, integer=True)
        if self.warmup_steps < 10:
            raise ConfigError("warmup_steps", f"expected an integer >= 10, got {warmup_steps!r}")
        self.resolve_steps = check_number("resolve_steps", resolve_steps, minimum=1, integer=True)
        self.floor_fraction = check_number("floor_fraction", floor_fraction, minimum=0.0)
        self._log_min_ratio = math.log(self.min_ratio)
        self.reset()

    def reset(self) -> None:
        """Forget the baseline (a new training run)."""
        self._level_recent: deque[float] = deque()
        self._level_sorted: list[float] = []
        self._noise_recent: deque[float] = deque(maxlen=self.window)
        self._noise_cache: list[float] | None = []  # sorted _noise_recent; None: stale
        self._max_recent: deque[float] = deque(maxlen=self.max_window)
        self._floor: float | None = None
        self._warm: list[float] = []
        self._pending = 0
        self._normal = 0
        self._active_since: int | None = None
        self._active_steps = 0
        self._peak = 0.0
        self.seen = 0

    @property
    def active(self) -> bool:
        """Whether a spike incident is open."""
        return self._active_since is not None

    def _transform(self, value: float) -> float:
        floor = self._floor or 0.0
        shifted = value + floor
        if shifted > 0:
            return math.log(shifted)
        return math.log(floor) if floor > 0 else -745.0

    def _untransform(self, y: float) -> float:
        return math.exp(y) - (self._floor or 0.0)

    def update(
        self,
        step: int,
        value: float,
        *,
        epoch: int | None = None,
        metrics: Mapping[str, Any] | None = None,
        batches: int = 1,
    ) -> Event | None:
        """Take one batch's loss (per batch, not the running mean).

        Args:
            step: 0-based global batch index (the last batch of a chunk).
            value: the batch's loss, or the mean of a chunk of ``batches`` batches.
            epoch: 0-based epoch, for the event.
            metrics: metric values put on the event (only read when an event is built).
            batches: how many batches ``value`` covers (``steps_per_execution``); warm-up
                counts batches.

        Returns:
            The spike alert, the resolved event, or None. Non-finite values are ignored
            (the non-finite detector reports them).
        """
        if not isfinite(value):
            return None
        self.seen += batches
        floor = self._floor
        if floor is None:
            # The floor (and the first level) come from the first few batches.
            self._warm.append(value)
            self._max_recent.append(value)
            if len(self._warm) < 10:
                return None
            self._floor = sorted(abs(v) for v in self._warm)[len(self._warm) // 2] * self.floor_fraction
            for v in self._warm:
                slide(self._level_recent, self._level_sorted, self._transform(v), self.level_window)
            self._warm = []
            return None
        shifted = value + floor
        y = log(shifted) if shifted > 0 else self._transform(value)
        level_sorted = self._level_sorted
        level = level_sorted[len(level_sorted) >> 1]
        residual = y - level
        n = len(self._noise_recent)
        log_min_ratio = self._log_min_ratio
        if self._active_since is not None:
            center, spread = self._noise()
            return self._update_active(step, value, y, level, residual, center, spread, epoch, metrics)
        fire = persisted = False
        # >= min_ratio x the level after the warm-up: the max and the noise are read only then
        jump = n >= 10 and residual >= log_min_ratio and self.seen > self.warmup_steps
        above_max = jump and value > max(self._max_recent)
        if above_max:
            # Only a candidate batch reads the noise quantiles (sorted lazily: most batches
            # just append their residual, O(1)).
            center, spread = self._noise()
            fire = residual > center + self.sensitivity * spread
            persistence = self.persistence_sensitivity
            if not fire and persistence is not None and residual > center + persistence * spread:
                self._pending += 1
                fire = persisted = self._pending >= 2
                if not fire:
                    return None  # the first of two: kept out of the baselines
        self._pending = 0
        if not fire:
            if jump and not above_max and n < _SHORT_NOISE:
                # clean by the spec (not above the recent max), but kept out of a short noise
                # window, whose tail quantile would otherwise be this one batch
                slide(self._level_recent, self._level_sorted, y, self.level_window)
                self._max_recent.append(value)
                return None
            self._learn(value, y, residual)
            return None
        self._active_since = step
        self._active_steps = 0
        self._normal = 0
        self._peak = value
        median_value = self._untransform(level)
        ratio = value / median_value if median_value > 0 else math.inf
        cut = max(center + self.sensitivity * spread, log_min_ratio)
        threshold = self._untransform(level + cut)
        recent_max = max(self._max_recent)
        reason = "two batches in a row above" if persisted else "above"
        message = (
            f"{self.monitor} {fmt(value)} at step {fmt_step(step)} is {fmt_ratio(ratio)} the median "
            f"{fmt(median_value)} of the last {len(level_sorted)} batches ({reason} the spike threshold "
            f"{fmt(threshold)} and the highest of the last {len(self._max_recent)} batches, {fmt(recent_max)})"
        )
        return self.make_event(
            self.title,
            message,
            epoch=epoch,
            step=step,
            metrics=metrics if metrics is not None else {self.monitor: value},
            details={
                "value": value,
                "baseline": median_value,
                "median": median_value,
                "ratio": ratio,
                "threshold": threshold,
                "recent_max": recent_max,
                "score": (residual - center) / spread,
                "persisted": persisted,
            },
        )

    def _noise(self) -> tuple[float, float]:
        """Center (median) and tail spread of the residuals in the noise window."""
        noise = self._noise_cache
        if noise is None:
            noise = self._noise_cache = sorted(self._noise_recent)
        n = len(noise)
        if n < 10:
            return 0.0, 1e-6
        center = noise[n >> 1]
        # the tail quantile interpolated between order statistics (numpy's "linear"): with
        # fewer than 50 residuals, int(q * n) would always pick the largest one
        at = self.tail_quantile * (n - 1)
        i = int(at)
        tail = noise[i] if i + 1 >= n else noise[i] + (at - i) * (noise[i + 1] - noise[i])
        return center, max(tail - center, 1e-6)

    def _learn(self, value: float, y: float, residual: float) -> None:
        """A normal batch: into the noise, level and max baselines."""
        self._noise_recent.append(residual)
        self._noise_cache = None
        slide(self._level_recent, self._level_sorted, y, self.level_window)
        self._max_recent.append(value)

    def _update_active(
        self,
        step: int,
        value: float,
        y: float,
        level: float,
        residual: float,
        center: float,
        spread: float,
        epoch: int | None,
        metrics: Mapping[str, Any] | None,
    ) -> Event | None:
        self._active_steps += 1
        self._peak = max(self._peak, value)
        if residual <= center + spread or residual < self._log_min_ratio:
            self._normal += 1
        else:
            self._normal = 0
        settled = self._active_steps >= self.max_window  # it fills the recent maximum: the new level
        if self._normal < self.resolve_steps and not settled:
            return None
        since = self._active_since
        median_value = self._untransform(level)
        if settled:
            message = (
                f"{self.monitor} stayed high for {self._active_steps} batches after the spike at step "
                f"{fmt_step(since)}; now {fmt(value)} at step {fmt_step(step)}, treated as its new level"
            )
            self._level_recent.clear()
            self._level_sorted.clear()
            self._noise_recent.clear()
            self._noise_cache = []
            self._max_recent.clear()
            slide(self._level_recent, self._level_sorted, y, self.level_window)
            self._max_recent.append(value)
            self.seen = 0
        else:
            message = (
                f"{self.monitor} back to normal at step {fmt_step(step)}: {fmt(value)} vs recent median "
                f"{fmt(median_value)} (spike since step {fmt_step(since)}, peak {fmt(self._peak)})"
            )
        self._active_since = None
        return self.make_event(
            self.title,
            message,
            status=RESOLVED,
            epoch=epoch,
            step=step,
            metrics=metrics if metrics is not None else {self.monitor: value},
            details={
                "value": value,
                "baseline": median_value,
                "median": median_value,
                "since_step": since,
                "peak": self._peak,
            },
        )
