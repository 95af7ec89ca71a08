"""HangMonitor: timeouts, phases, the stuck thread's stack, and the scheduler job."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from alertcb import ConfigError
from alertcb.detectors import HangMonitor, schedule_hang_check
from alertcb.events import Event


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_fixed_timeout_fires_once_then_resolves(clock: FakeClock) -> None:
    """No beat for longer than timeout_s fires once; the next beat resolves it."""
    m = HangMonitor(timeout_s=10, clock=clock)
    m.start()
    m.beat(0, 0)
    clock.advance(9)
    assert m.check() is None
    clock.advance(2)
    event = m.check()
    assert event is not None
    assert ("training hung", "critical", 0) == (event.title, str(event.severity), event.step)
    assert event.details["idle_s"] == pytest.approx(11)
    assert event.message.startswith("no progress for 11.0 s after step 0 (timeout 10.0 s)")
    assert m.check() is None  # one alert per incident
    m.beat(1, 0)
    resolved = m.check()
    assert resolved is not None and resolved.resolved and event.fingerprint == resolved.fingerprint


def test_adaptive_timeout_is_a_multiple_of_step_time_with_a_floor(clock: FakeClock) -> None:
    """Adaptive: timeout = multiplier x median step time, never below min_timeout_s."""
    m = HangMonitor(timeout_multiplier=10, min_timeout_s=5, clock=clock)
    m.start()
    for step in range(50):
        clock.advance(2.0 if step % 10 else 30.0)  # occasional slow batches do not move the median
        m.beat(step)
    assert m.step_time_s == pytest.approx(2.0)
    assert m.current_timeout_s() == pytest.approx(20.0)
    fast = HangMonitor(timeout_multiplier=10, min_timeout_s=5, clock=clock)
    fast.start()
    for step in range(10):
        clock.advance(0.01)
        fast.beat(step)
    assert 5 == fast.current_timeout_s()


def test_startup_budget_applies_before_the_first_batch(clock: FakeClock) -> None:
    """Before the first batch (compilation) the first_step_timeout_s budget applies."""
    m = HangMonitor(timeout_s=1, first_step_timeout_s=60, clock=clock)
    m.start()
    clock.advance(30)
    assert m.check() is None
    clock.advance(31)
    event = m.check()
    assert event is not None and "startup" == event.details["phase"]


@pytest.mark.parametrize(("phase", "budget"), [("validation", 50.0), ("checkpoint", 70.0)])
def test_phase_budgets(clock: FakeClock, phase: str, budget: float) -> None:
    """Validation and checkpoint phases have their own budgets; entering a phase counts as progress."""
    m = HangMonitor(timeout_s=1, validation_timeout_s=50, checkpoint_timeout_s=70, clock=clock)
    m.start()
    m.beat(0)
    clock.advance(0.5)
    m.phase(phase)
    clock.advance(budget - 1)
    assert m.check() is None
    clock.advance(2)
    event = m.check()
    assert event is not None and phase == event.details["phase"]


def test_idle_never_fires(clock: FakeClock) -> None:
    """Before start() and after stop() nothing is watched."""
    m = HangMonitor(timeout_s=1, clock=clock)
    clock.advance(100)
    assert m.check() is None
    m.start()
    m.beat(0)
    m.stop()
    clock.advance(100)
    assert m.check() is None


def test_stop_resolves_an_open_hang(clock: FakeClock) -> None:
    """If training ends while a hang is open, the next check resolves it."""
    m = HangMonitor(timeout_s=1, clock=clock)
    m.start()
    m.beat(0)
    clock.advance(5)
    assert m.check() is not None
    m.stop()
    resolved = m.check()
    assert resolved is not None and resolved.resolved


def sleepy_data_loader(stop: threading.Event, started: threading.Event, monitor: HangMonitor) -> None:
    monitor.start()
    monitor.beat(0)
    started.set()
    stop.wait(10)


@pytest.fixture
def stuck_thread() -> Iterator[tuple[HangMonitor, threading.Thread]]:
    monitor = HangMonitor(timeout_s=0.05)
    stop, started = threading.Event(), threading.Event()
    thread = threading.Thread(target=sleepy_data_loader, args=(stop, started, monitor), name="trainer")
    thread.start()
    started.wait(5)
    try:
        yield monitor, thread
    finally:
        stop.set()
        thread.join(5)


def test_alert_shows_the_training_thread_stack(stuck_thread: tuple[HangMonitor, threading.Thread]) -> None:
    """The alert carries the stuck thread's current stack, naming the function it is stuck in."""
    monitor, _ = stuck_thread
    event = monitor.check(now=time.monotonic() + 1)
    assert event is not None
    assert "sleepy_data_loader" in event.details["stack"]
    assert "sleepy_data_loader" in event.message


def test_scheduler_job_fires_while_the_thread_is_stuck(
    stuck_thread: tuple[HangMonitor, threading.Thread],
) -> None:
    """An APScheduler interval job emits the alert while the training thread is still blocked."""
    from alertcb.scheduling import Scheduler

    monitor, thread = stuck_thread
    got: list[Event] = []
    arrived = threading.Event()

    def emit(event: Event) -> None:
        got.append(event)
        arrived.set()

    scheduler = Scheduler()
    try:
        schedule_hang_check(scheduler, monitor, emit, interval_s=0.05)
        assert arrived.wait(5)
        assert thread.is_alive()
    finally:
        scheduler.shutdown()
    assert "training hung" == got[0].title


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"timeout_s": 0}, "timeout_s"),
        ({"timeout_multiplier": 0.5}, "timeout_multiplier"),
        ({"min_timeout_s": -1}, "min_timeout_s"),
    ],
)
def test_bad_arguments_name_the_field(kwargs: dict[str, object], field: str) -> None:
    """Invalid arguments raise ConfigError naming the field."""
    with pytest.raises(ConfigError) as info:
        HangMonitor(**kwargs)  # type: ignore[arg-type]
    assert field == info.value.field
