"""A summary rebuilt from a run's events, for a log that has no ``summary`` event (training died).

Example:
    >>> event = summary_from_events(read_events("alertcb-runs/exp42"))  # doctest: +SKIP
    >>> event.details["status"]  # doctest: +SKIP
    'crashed'
"""

from __future__ import annotations

import math
import time
from typing import Any

from alertcb.events import Event, RunInfo
from alertcb.report._coerce import as_int
from alertcb.report.tracker import SummaryTracker


class _NoNotifier:
    """Stands in for a notifier when a summary is rebuilt from a log (nothing is emitted)."""

    def __init__(self, run: RunInfo | None) -> None:
        self.run = run


def summary_from_events(
    events: list[Event], *, run: RunInfo | None = None, start: float | None = None
) -> Event:
    """Rebuild a partial summary from a run's events (a log without a summary event).

    The status is ``crashed``/``interrupted`` when such an event is in the log, else
    ``incomplete``. Alerts are counted and lifecycle events listed as the tracker would
    have; per-epoch rows and progress come from ``progress`` events when there are any.

    Args:
        events: the run's events, oldest first.
        run: the run's identity (defaults to the first event's ``run``).
        start: when the run started (defaults to the first event's time).
    """
    if run is None:
        run = next((e.run for e in events if e.run is not None), None)
    times = [e.time for e in events if math.isfinite(e.time)]
    begin = start if start is not None else (min(times) if times else None)
    end = max(times) if times else begin
    tracker = SummaryTracker(_NoNotifier(run))
    tracker._start_wall = begin
    tracker._wall = lambda: end if end is not None else time.time()
    tracker._mono = lambda: (end - begin) if end is not None and begin is not None else 0.0
    tracker._start_mono = 0.0 if begin is not None else None
    tracker._finished = True  # replaying a log: nothing starts, nothing is emitted
    epochs = tracker._epochs
    last_progress: dict[str, Any] | None = None
    for event in events:
        if event.kind == "progress":
            last_progress = dict(event.details)
            done = as_int(event.details.get("epochs_done"))
            if done and event.metrics and (epochs.last_epoch is None or done - 1 > epochs.last_epoch):
                epochs.add(done - 1, dict(event.metrics), None, time=event.time, duration=None)
        else:
            tracker._on_event(event)
    if last_progress is not None:
        planned = as_int(last_progress.get("epochs_planned"))
        tracker._epochs_planned = planned if planned and planned > 0 else None
        tracker._pace.steps_seen = as_int(last_progress.get("steps_done")) or 0
        epochs.done = max(epochs.done, as_int(last_progress.get("epochs_done")) or 0)
    epochs.durations = []
    error = tracker._alerts.error
    return tracker.build_event(error["status"] if error is not None else "incomplete")
