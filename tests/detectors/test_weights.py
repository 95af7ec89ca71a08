"""WeightCheckSchedule: the silent-NaN check interval from a cost budget (fake clock)."""

from __future__ import annotations

import pytest

from alertcb import ConfigError
from alertcb.detectors import WeightCheckSchedule


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def interval_after(step_s: float, check_s: float, batches: int = 200) -> int:
    clock = Clock()
    schedule = WeightCheckSchedule(clock=clock)

    def check() -> bool:
        clock.now += check_s
        return True

    for _ in range(batches):
        clock.now += step_s
        if schedule.due():
            schedule.time(check)
    return schedule.interval


def test_big_model_is_checked_every_batch() -> None:
    """A 1 s step with a 2 ms check (0.2%) is within the 0.5% budget at every batch."""
    assert 1 == interval_after(1.0, 0.002)


def test_tiny_model_is_checked_every_few_batches() -> None:
    """A 1 ms step with a 0.1 ms check: every 20 batches keeps it at 0.5%."""
    assert 20 == interval_after(0.001, 0.0001)


def test_latency_target_caps_the_interval() -> None:
    """A check costing 10% of a 0.5 s step would need 20 batches: capped at 5 batches (2.5 s > 1 s)."""
    assert 5 == interval_after(0.5, 0.05)


def test_one_second_target_for_fast_steps() -> None:
    """A 1 ms step with a 10 ms check: the budget wants 2,000 batches; 1 s of training (1,000) wins."""
    assert 1000 == interval_after(0.001, 0.01, batches=3000)


def test_first_checks_come_early() -> None:
    """The first four batches are checked (measuring the cost; a fault at batch 30 is never behind a warm-up),
    then the budget sets the interval."""
    clock = Clock()
    schedule = WeightCheckSchedule(clock=clock)
    due = []
    for i in range(30):
        clock.now += 0.001
        if schedule.due():
            due.append(i)
            schedule.time(lambda: bool(setattr(clock, "now", clock.now + 0.0001)) or True)
    assert [0, 1, 2, 3, 23] == due


def test_fixed_interval() -> None:
    """every=n checks every n batches whatever the costs."""
    schedule = WeightCheckSchedule(every=3)
    hits = [i for i in range(9) if schedule.due() and (schedule.ran(0.0) or True)]
    assert [2, 5, 8] == hits


@pytest.mark.parametrize(("kwargs", "field"), [({"budget": 0}, "budget"), ({"every": 0}, "every")])
def test_bad_arguments_name_the_field(kwargs: dict[str, float], field: str) -> None:
    """ConfigError naming the field."""
    with pytest.raises(ConfigError) as info:
        WeightCheckSchedule(**kwargs)  # type: ignore[arg-type]
    assert field == info.value.field
