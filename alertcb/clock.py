"""One injectable clock for everything that waits or measures time.

The dispatcher, its lanes and the grouper (and the outbox and the hang watchdog, which
may take the same object) read time only through a `Clock`, and sleep only through
`Clock.wait`. Production uses `SYSTEM_CLOCK`; tests pass a `ManualClock` and move time
forward with `ManualClock.advance` instead of sleeping.

Example:
    >>> clock = ManualClock()
    >>> clock.advance(30.0)
    >>> clock.monotonic()
    30.0
"""

from __future__ import annotations

import random
import threading
import time
import weakref
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """Monotonic time for intervals, wall time for timestamps, a wait, and a random source."""

    random: random.Random

    def monotonic(self) -> float:
        """Seconds on a monotonic scale (intervals, deadlines)."""
        ...

    def time(self) -> float:
        """Unix time (timestamps shown to people and stored)."""
        ...

    def wait(self, event: threading.Event, timeout_s: float) -> bool:
        """Wait until ``event`` is set or ``timeout_s`` of this clock's time passed; True if set."""
        ...


class SystemClock:
    """The real clock: `time.monotonic`, `time.time`, `threading.Event.wait`."""

    def __init__(self, seed: int | None = None) -> None:
        self.random = random.Random(seed)

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def wait(self, event: threading.Event, timeout_s: float) -> bool:
        return event.wait(max(0.0, timeout_s))

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock:
    """A clock that moves only when told to (tests).

    `wait` blocks on the real event for at most a short real interval and wakes every waiter
    when `advance` is called, so a background thread re-reads the time at once.

    Args:
        start: the initial monotonic reading.
        wall_start: the initial Unix time.
        seed: seed of the random source (jitter), for reproducible tests.
    """

    def __init__(self, start: float = 0.0, *, wall_start: float = 1_700_000_000.0, seed: int = 0) -> None:
        self._now = float(start)
        self._offset = wall_start - start
        self._lock = threading.Lock()
        self._waiters: weakref.WeakSet[threading.Event] = weakref.WeakSet()
        self.random = random.Random(seed)

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def time(self) -> float:
        with self._lock:
            return self._now + self._offset

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` and wake every waiter."""
        with self._lock:
            self._now += max(0.0, seconds)
            waiters = list(self._waiters)
        for event in waiters:
            event.set()

    def wait(self, event: threading.Event, timeout_s: float) -> bool:
        if timeout_s <= 0:
            return event.is_set()
        with self._lock:
            self._waiters.add(event)
        # A real, short wait: the caller loops and re-reads `monotonic()` when woken.
        return event.wait(0.05)

    def __repr__(self) -> str:
        return f"ManualClock(monotonic={self.monotonic():.3f})"


#: The process-wide real clock (default of every component that takes a clock).
SYSTEM_CLOCK: Clock = SystemClock()
