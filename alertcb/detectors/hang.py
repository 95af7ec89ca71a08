"""Hang watchdog: no batch finished for too long, seen from a background thread.

The training thread calls `HangMonitor.beat` at every batch end (O(1): it stores a
monotonic time and the step). A background job (an APScheduler interval job on the
notifier's scheduler, see `schedule_hang_check`) calls `HangMonitor.check`, which
fires while the training thread is still stuck — a data generator sleeping, a hung
collective, a blocked input pipeline — and shows where it is stuck: the training
thread's current Python stack from ``sys._current_frames()``, plus the stacks of other
busy threads (``tf.data`` runs Python generators on its own threads).

Timeouts: a fixed ``timeout_s``, or adaptive — ``timeout_multiplier`` x the median of
the recent step times, never below ``min_timeout_s``. Phases with their own budgets:
``"startup"`` (until the first batch: graph tracing and compilation),
``"validation"`` (between validation batches, including compiling the test step) and
``"checkpoint"`` (from the last batch of an epoch to the first of the next: epoch-end
callbacks such as checkpoint saving, and the input pipeline restarting).
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections.abc import Callable
from types import FrameType
from typing import Any

from alertcb._guard import capture_internal_error
from alertcb.detectors.base import Detector, fmt_step
from alertcb.events import RESOLVED, Event, RunInfo, Severity
from alertcb.filters import fmt_duration
from alertcb.scheduling import Job, Scheduler
from alertcb.validate import check_number

TITLE = "training hung"
PHASES = ("startup", "train", "validation", "checkpoint", "idle")
DEFAULT_TIMEOUT_MULTIPLIER = 20.0
DEFAULT_MIN_TIMEOUT_S = 120.0
DEFAULT_FIRST_STEP_TIMEOUT_S = 900.0
DEFAULT_VALIDATION_TIMEOUT_S = 600.0
DEFAULT_CHECKPOINT_TIMEOUT_S = 600.0
DEFAULT_INTERVAL_S = 5.0
_STEP_TIMES = 64
_STACK_FRAMES = 25
#: Where threads that merely wait for work sit (their stacks are not shown).
_IDLE_FILES = ("threading.py", "queue.py", "selectors.py", "thread.py", "socket.py", "ssl.py")


def format_stack(frame: FrameType | None, limit: int = _STACK_FRAMES) -> str:
    """The innermost ``limit`` frames of a stack, formatted like a traceback."""
    if frame is None:
        return ""
    return "".join(traceback.format_stack(frame)[-limit:]).rstrip("\n")


def _is_idle(frame: FrameType) -> bool:
    return frame.f_code.co_filename.endswith(_IDLE_FILES)


class HangMonitor(Detector):
    """Decides whether training is stuck; `beat` from the training loop, `check` from a timer.

    Args:
        timeout_s: fixed timeout between batches; None (default) is adaptive.
        timeout_multiplier: adaptive timeout = this x the median recent step time. Defaults to 20.
        min_timeout_s: floor of the adaptive timeout. Defaults to 120.
        first_step_timeout_s: budget until the first batch (compilation). Defaults to 900.
        validation_timeout_s: budget between validation batches. Defaults to 600.
        checkpoint_timeout_s: budget between epochs (epoch-end callbacks, checkpoints). Defaults to 600.
        severity: defaults to ``"critical"``.
        run: `RunInfo` put on events.
        clock: the monotonic clock (tests pass a fake one).

    Example:
        >>> m = HangMonitor(timeout_s=1.0)
        >>> m.start(); m.beat(0)
        >>> m.check(now=time.monotonic() + 5).title
        'training hung'
    """

    kind = "hang"

    def __init__(
        self,
        *,
        timeout_s: float | None = None,
        timeout_multiplier: float = DEFAULT_TIMEOUT_MULTIPLIER,
        min_timeout_s: float = DEFAULT_MIN_TIMEOUT_S,
        first_step_timeout_s: float = DEFAULT_FIRST_STEP_TIMEOUT_S,
        validation_timeout_s: float = DEFAULT_VALIDATION_TIMEOUT_S,
        checkpoint_timeout_s: float = DEFAULT_CHECKPOINT_TIMEOUT_S,
        severity: Severity | str = "critical",
        run: RunInfo | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(severity=severity, run=run)
        self._clock = clock
        self.timeout_s = check_number("timeout_s", timeout_s, minimum=0, strict_minimum=True, allow_none=True)
        self.timeout_multiplier = check_number("timeout_multiplier", timeout_multiplier, minimum=1.0)
        self.min_timeout_s = check_number("min_timeout_s", min_timeout_s, minimum=0, strict_minimum=True)
        self.first_step_timeout_s = check_number(
            "first_step_timeout_s", first_step_timeout_s, minimum=0, strict_minimum=True
        )
        self.validation_timeout_s = check_number(
            "validation_timeout_s", validation_timeout_s, minimum=0, strict_minimum=True
        )
        self.checkpoint_timeout_s = check_number(
            "checkpoint_timeout_s", checkpoint_timeout_s, minimum=0, strict_minimum=True
        )
        self._lock = threading.Lock()
        self._step_times: list[float] = [0.0] * _STEP_TIMES
        self._n_times = 0
        self._phase = "idle"
        self._last_beat = clock()
        self._last_step: int | None = None
        self._last_epoch: int | None = None
        self._beats_in_phase = 0
        self._thread_id: int | None = None
        self._fired: Event | None = None
        self._fired_at_beat = 0.0

    # --- training thread (O(1)) ------------------------------------------------------------

    def start(self, thread_id: int | None = None) -> None:
        """Training begins on this thread (or ``thread_id``): the startup budget applies."""
        with self._lock:
            self._thread_id = thread_id if thread_id is not None else threading.get_ident()
            self._phase = "startup"
            self._beats_in_phase = 0
            self._last_beat = self._clock()

    def stop(self) -> None:
        """Training ended: nothing to watch until the next `start`."""
        with self._lock:
            self._phase = "idle"

    def beat(self, step: int | None = None, epoch: int | None = None) -> None:
        """A batch finished (call from every batch-end hook)."""
        now = self._clock()
        with self._lock:
            self.beat_held(now, step, epoch)

    def share_lock(self, lock: Any) -> None:
        """Guard this watchdog's state with ``lock`` (an ``RLock``): `Monitor` passes its own,
        so a batch takes one lock and calls `beat_held` inside it."""
        self._lock = lock

    def beat_held(self, now: float, step: int | None = None, epoch: int | None = None) -> None:
        """`beat` for a caller that already holds this watchdog's lock (see `share_lock`)."""
        if self._phase == "train" and self._beats_in_phase > 0:
            self._step_times[self._n_times % _STEP_TIMES] = now - self._last_beat
            self._n_times += 1
        if self._phase in ("startup", "checkpoint", "idle"):
            self._phase = "train"
            self._beats_in_phase = 0
        self._beats_in_phase += 1
        self._last_beat = now
        if step is not None:
            self._last_step = step
        if epoch is not None:
            self._last_epoch = epoch
        if self._thread_id is None:
            self._thread_id = threading.get_ident()

    def validation_beat(self) -> None:
        """A validation batch finished."""
        now = self._clock()
        with self._lock:
            self._last_beat = now
            self._beats_in_phase += 1

    def phase(self, name: str) -> None:
        """Enter a phase: ``"train"``, ``"validation"``, ``"checkpoint"``, ``"startup"`` or ``"idle"``.

        Entering a phase counts as progress (its budget starts now).
        """
        if name not in PHASES:
            raise ValueError(f"phase: expected one of {PHASES}, got {name!r}")
        now = self._clock()
        with self._lock:
            self._phase = name
            self._beats_in_phase = 0
            self._last_beat = now

    # --- timer thread ----------------------------------------------------------------------

    @property
    def step_time_s(self) -> float | None:
        """Median of the recent step times, or None before two training batches."""
        with self._lock:
            n = min(self._n_times, _STEP_TIMES)
            times = sorted(self._step_times[:n])
        return times[n // 2] if n else None

    def current_timeout_s(self) -> float | None:
        """The budget that applies now (None while idle)."""
        phase = self._phase
        if phase == "idle":
            return None
        if phase == "startup":
            return self.first_step_timeout_s
        if phase == "validation":
            return self.validation_timeout_s
        if phase == "checkpoint":
            return self.checkpoint_timeout_s
        if self.timeout_s is not None:
            return self.timeout_s
        step_time = self.step_time_s
        if step_time is None:
            return max(self.min_timeout_s, self.first_step_timeout_s if self._n_times == 0 else 0.0)
        return max(self.min_timeout_s, self.timeout_multiplier * step_time)

    def check(self, now: float | None = None) -> Event | None:
        """Called periodically off the training thread.

        Returns:
            A firing event when no progress was seen for longer than the current
            timeout, a resolved event at the first check after progress resumed, else None.
        """
        now = self._clock() if now is None else now
        with self._lock:
            last_beat, step, epoch, phase = self._last_beat, self._last_step, self._last_epoch, self._phase
            fired, fired_at_beat = self._fired, self._fired_at_beat
        if fired is not None:
            if last_beat > fired_at_beat or phase == "idle":
                with self._lock:
                    self._fired = None
                stalled_s = last_beat - fired_at_beat if phase != "idle" else now - fired_at_beat
                verb = "resumed" if phase != "idle" else "ended"
                return self.make_event(
                    TITLE,
                    f"training {verb} after {fmt_duration(stalled_s)} without progress"
                    + (f" (step {fmt_step(step)})" if step is not None else ""),
                    status=RESOLVED,
                    epoch=epoch,
                    step=step,
                    details={"stalled_s": stalled_s, "phase": phase},
                )
            return None
        timeout_s = self.current_timeout_s()
        if timeout_s is None:
            return None
        idle_s = now - last_beat
        if idle_s <= timeout_s:
            return None
        stack, others = self._stacks()
        where = {
            "startup": "before the first batch finished",
            "train": f"after step {fmt_step(step)}" if step is not None else "during training",
            "validation": "during validation",
            "checkpoint": "between epochs (epoch-end callbacks, checkpointing, input pipeline)",
        }.get(phase, "")
        message = f"no progress for {fmt_duration(idle_s)} {where} (timeout {fmt_duration(timeout_s)})"
        if stack:
            message += "\n\nTraining thread stack (innermost last):\n" + stack
        for name, other in others.items():
            message += f"\n\nBusy thread {name}:\n" + other
        event = self.make_event(
            TITLE,
            message,
            epoch=epoch,
            step=step,
            details={
                "idle_s": idle_s,
                "timeout_s": timeout_s,
                "phase": phase,
                "last_step": step,
                "step_time_s": self.step_time_s,
                "stack": stack,
                "threads": others,
            },
        )
        with self._lock:
            if self._fired is None and self._last_beat == last_beat:
                self._fired = event
                self._fired_at_beat = last_beat
                return event
        return None

    def _stacks(self) -> tuple[str, dict[str, str]]:
        try:
            frames = sys._current_frames()
        except Exception:  # noqa: BLE001 - diagnostics only
            return "", {}
        me = threading.get_ident()
        names = {t.ident: t.name for t in threading.enumerate()}
        stack = format_stack(frames.get(self._thread_id)) if self._thread_id is not None else ""
        others: dict[str, str] = {}
        for ident, frame in frames.items():
            if ident in (me, self._thread_id) or _is_idle(frame):
                continue
            name = names.get(ident, f"thread-{ident}")
            if name.startswith(("APScheduler", "alertcb")):
                continue
            others[name] = format_stack(frame, limit=12)
            if len(others) >= 4:
                break
        return stack, others


def schedule_hang_check(
    scheduler: Scheduler,
    monitor: HangMonitor,
    emit: Callable[[Event], Any],
    *,
    interval_s: float = DEFAULT_INTERVAL_S,
) -> Job:
    """Add an interval job to ``scheduler`` that runs ``monitor.check()`` and emits what it returns.

    Returns:
        The job; call ``job.remove()`` to stop watching.
    """

    def job() -> None:
        try:
            event = monitor.check()
            if event is not None:
                emit(event)
        except Exception as exc:  # noqa: BLE001 - a watchdog must never die
            capture_internal_error("hang check", exc)

    return scheduler.add_interval_job(
        job, interval_s, name="alertcb hang check", misfire_grace_s=max(1.0, interval_s * 4)
    )
