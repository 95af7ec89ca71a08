"""What every detector shares: its `RunInfo`, event construction, number formatting and sliding windows.

Detectors are plain Python: they take floats and return `Event` objects (or None).
They never emit, never log on the hot path, and never import a framework.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Mapping
from typing import Any, ClassVar

from alertcb.errors import ConfigError
from alertcb.events import FIRING, Event, RunInfo, Severity
from alertcb.filters import fmt_int, fmt_number
from alertcb.validate import check_severity


def slide(recent: deque[float], ordered: list[float], value: float, size: int) -> int:
    """Append to a sliding window kept both in arrival order and sorted (O(log n) + memmove).

    Returns the window's length after the push (at most ``size``).
    """
    recent.append(value)
    insort(ordered, value)
    n = len(recent)
    if n > size:
        del ordered[bisect_left(ordered, recent.popleft())]
        n -= 1
    return n


def fmt(value: float | None) -> str:
    """A metric value for a message: ``34.5``, ``0.0931``, ``1.2e-05``, ``NaN``."""
    return fmt_number(value, 3)


def fmt_step(step: int | None) -> str:
    """A step number for a message: ``1,234``."""
    return fmt_int(step) if step is not None else "?"


def fmt_ratio(ratio: float) -> str:
    """A ratio for a message: ``380x``, ``4.2x``, ``1e+06x``."""
    if not math.isfinite(ratio):
        return "∞x"
    if ratio >= 1e6:
        return f"{ratio:.0e}x"
    if ratio >= 100:
        return f"{ratio:,.0f}x"
    return f"{ratio:.2g}x" if ratio < 10 else f"{ratio:.0f}x"


def is_finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def check_name(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(field, f"expected a metric name such as 'loss', got {value!r}")
    return value


class Detector:
    """Base class of the detectors.

    Args:
        severity: severity of this detector's firing events.
        run: the `RunInfo` attached to events (the adapters set ``notifier.run``).
    """

    kind: ClassVar[str] = "custom"

    def __init__(self, *, severity: Severity | str, run: RunInfo | None = None) -> None:
        self.severity = check_severity("severity", severity)
        self.run = run

    def make_event(
        self,
        title: str,
        message: str,
        *,
        status: str = FIRING,
        epoch: int | None = None,
        step: int | None = None,
        metrics: Mapping[str, Any] | None = None,
        details: Mapping[str, Any] | None = None,
        severity: Severity | None = None,
    ) -> Event:
        """Build an event of this detector's kind."""
        return Event(
            kind=self.kind,
            title=title,
            message=message,
            severity=self.severity if severity is None else severity,
            status=status,
            run=self.run,
            epoch=epoch,
            step=step,
            metrics=metrics or {},
            details=details or {},
        )
