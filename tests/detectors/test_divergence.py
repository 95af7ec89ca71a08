"""DivergenceDetector: a sustained rise of the loss level, not a spike."""

from __future__ import annotations

import math
import random

from alertcb.detectors import DivergenceDetector
from alertcb.events import Event


def run(d: DivergenceDetector, values: list[float]) -> list[Event]:
    return [e for i, v in enumerate(values) if (e := d.update(i, v)) is not None]


def test_sustained_rise_fires_once() -> None:
    """A loss that jumps to 20x its best and stays there fires once, critical."""
    values = [1.0 / (1 + 0.01 * i) for i in range(300)] + [20.0] * 200
    events = run(DivergenceDetector(), values)
    assert 1 == len(events)
    assert ("loss diverging", "critical") == (events[0].title, str(events[0].severity))
    assert 300 < (events[0].step or 0) < 360
    assert events[0].details["ratio"] > 5


def test_short_spikes_do_not_count() -> None:
    """Isolated spikes (even 1000x) do not move the median level."""
    values = [1.0] * 500
    for i in range(100, 500, 37):
        values[i] = 1000.0
    assert [] == run(DivergenceDetector(), values)


def test_exploding_loss_fires_quickly() -> None:
    """A loss growing without bound (>= factor**2) fires after window//4 batches, before patience."""
    values = [1.0] * 200 + [10.0 ** (1 + i / 10) for i in range(100)]
    events = run(DivergenceDetector(patience=80), values)
    assert events and (events[0].step or 0) < 200 + 40


def test_recovery_resolves() -> None:
    """When the level comes back near its best, a resolved event follows."""
    values = [1.0] * 200 + [30.0] * 100 + [1.0] * 100
    events = run(DivergenceDetector(), values)
    assert ["firing", "resolved"] == [e.status for e in events]


def test_noisy_clean_run_is_quiet() -> None:
    """A noisy but decreasing loss never diverges."""
    rng = random.Random(0)
    values = [math.exp(-i / 2000 + rng.gauss(0, 0.5)) for i in range(5000)]
    assert [] == run(DivergenceDetector(), values)


def test_near_zero_wobble_is_not_divergence() -> None:
    """A loss already ~1000x below where it started may wobble 10x without alerting (floor)."""
    values = [1.0] * 60 + [1e-6] * 300 + [1e-5] * 200
    assert [] == run(DivergenceDetector(), values)
