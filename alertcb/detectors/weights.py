"""When to run the silent-NaN weight check: from a cost budget, not a fixed interval.

The check ("are all trainable weights finite?") is one on-device reduction plus one
boolean to the host. Its cost is measured, as is the step time; the interval is the
smallest number of batches that keeps the check within ``budget`` (0.5%) of training
time, capped so that a NaN is reported within ``target_batches`` (5) batches or
``target_s`` (1 s) of training time, whichever is later. Big models are checked every
batch, tiny fast ones every few (a 1 ms step with a 0.1 ms check: every 20 batches,
20 ms). Framework-free: the adapter passes the check function and the clock.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

import alertcb.detectors.defaults as D
from alertcb.validate import check_number

_MEASURE = 3  # checks timed after the first (which includes tracing/compilation)


class WeightCheckSchedule:
    """Decides, batch by batch, whether the weight check is due.

    Args:
        budget: fraction of the step time the check may cost. Defaults to 0.005.
        target_batches: report within this many batches... Defaults to 5.
        target_s: ...or within this many seconds of training, whichever is later. Defaults to 1.
        every: a fixed interval in batches instead of the budget (None: budget).
        min_interval_s: never check more often than this. Defaults to 0.
        clock: a monotonic clock in seconds (tests pass a fake one).

    Example:
        >>> s = WeightCheckSchedule(every=5)
        >>> [s.due() for _ in range(5)]
        [False, False, False, False, True]
        >>> s.time(lambda: True), s.due()
        (True, False)
    """

    def __init__(
        self,
        *,
        budget: float = D.WEIGHTS_BUDGET,
        target_batches: int = D.WEIGHTS_TARGET_BATCHES,
        target_s: float = D.WEIGHTS_TARGET_S,
        every: int | None = None,
        min_interval_s: float = 0.0,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.budget = check_number("budget", budget, minimum=0, strict_minimum=True)
        self.target_batches = check_number("target_batches", target_batches, minimum=1, integer=True)
        self.target_s = check_number("target_s", target_s, minimum=0)
        self.every = check_number("every", every, minimum=1, integer=True, allow_none=True)
        self.min_interval_s = check_number("min_interval_s", min_interval_s, minimum=0)
        self.clock = clock
        self.reset()

    def reset(self) -> None:
        """A new fit: forget measurements."""
        self._since = 0
        self._checks = 0
        self._check_s: deque[float] = deque(maxlen=8)
        self._step_s: deque[float] = deque(maxlen=64)
        self._last_batch: float | None = None
        self._last_check = -math.inf
        self.interval = self.every or 1

    def due(self) -> bool:
        """Call once per batch end; True when the check should run now."""
        now = self.clock()
        last = self._last_batch
        if last is not None:
            self._step_s.append(now - last)
        self._last_batch = now
        self._since += 1
        if self._since < self.interval:
            return False
        return now - self._last_check >= self.min_interval_s

    def ran(self, seconds: float) -> None:
        """Record one check that took ``seconds``; recomputes the interval."""
        self._since = 0
        self._checks += 1
        self._last_check = self.clock()
        if self._last_batch is not None:
            # The check's own time is not step time.
            self._last_batch += seconds
        if self._checks > 1:  # the first includes tracing
            self._check_s.append(seconds)
        if self.every is not None:
            return
        if self._checks <= _MEASURE or not self._step_s or not self._check_s:
            self.interval = 1
            return
        step = sorted(self._step_s)[len(self._step_s) // 2]
        check = min(self._check_s)
        if step <= 0:
            self.interval = self.target_batches
            return
        by_budget = math.ceil(check / (self.budget * step))
        allowed = max(self.target_batches, int(self.target_s / step))
        self.interval = max(1, min(by_budget, allowed))

    def time(self, check: Callable[[], bool]) -> bool:
        """Run ``check`` and record its cost; returns its result."""
        begin = self.clock()
        try:
            return check()
        finally:
            self.ran(self.clock() - begin)
