"""SpikeDetector on plain number sequences."""

from __future__ import annotations

import math
import random

import pytest

from alertcb import ConfigError
from alertcb.detectors import SpikeDetector
from alertcb.events import Event


def noisy(n: int, seed: int = 0, level: float = 1.0, sigma: float = 0.3, trend: float = 0.0) -> list[float]:
    rng = random.Random(seed)
    return [level * math.exp(rng.gauss(0.0, sigma) - trend * i) for i in range(n)]


def run(detector: SpikeDetector, values: list[float]) -> list[Event]:
    return [e for i, v in enumerate(values) if (e := detector.update(i, v)) is not None]


def test_one_batch_spike_fires_once_at_that_batch() -> None:
    """A 30x batch after warm-up fires exactly once, at that batch (delay 0)."""
    values = noisy(300)
    values[200] *= 30
    events = run(SpikeDetector(), values)
    firing = [e for e in events if not e.resolved]
    assert [200] == [e.step for e in firing]
    assert "loss spike" == firing[0].title
    assert "warning" == str(firing[0].severity)


def test_spike_is_resolved_when_loss_is_back_to_normal() -> None:
    """After the spike, resolve_steps normal batches produce one resolved event with the same title."""
    values = noisy(300)
    values[200] *= 30
    events = run(SpikeDetector(resolve_steps=5), values)
    assert [("firing", 200), ("resolved", 205)] == [(e.status, e.step) for e in events]
    assert events[0].fingerprint == events[1].fingerprint


def test_message_and_details_carry_the_numbers() -> None:
    """The message explains one number against its baseline; details hold value, baseline, ratio, recent max."""
    values = [1.0 + 0.01 * (i % 5) for i in range(1500)]
    values[1234] = 34.5
    event = run(SpikeDetector(), values)[0]
    assert event.message.startswith("loss 34.5 at step 1,234 is ")
    assert "the median 1.02 of the last 20 batches" in event.message
    assert "highest of the last 100 batches, 1.04" in event.message
    assert 34.5 == event.details["value"]
    assert event.details["baseline"] == event.details["median"]
    assert 1.04 == pytest.approx(event.details["recent_max"])
    assert event.details["ratio"] == pytest.approx(34.5 / event.details["median"])
    assert event.details["median"] == pytest.approx(1.02, abs=0.03)


def test_multi_batch_spike_is_one_incident() -> None:
    """Three consecutive bad batches give one alert, not three."""
    values = noisy(300, seed=1)
    for i in (150, 151, 152):
        values[i] *= 50
    events = run(SpikeDetector(), values)
    assert 1 == sum(not e.resolved for e in events)


def test_downward_trend_with_noise_does_not_fire() -> None:
    """A steadily falling, noisy loss never fires (log space, robust baseline)."""
    values = noisy(5000, seed=2, sigma=0.35, trend=0.0008)
    assert [] == run(SpikeDetector(), values)


def test_heavy_tailed_small_batch_noise_does_not_fire() -> None:
    """Clean heavy-tailed per-batch noise (regular 3-10x batches) stays quiet: the threshold adapts to the run."""
    rng = random.Random(3)
    values = [0.01 * (1 + 8 * rng.random() ** 6) * math.exp(rng.gauss(0, 0.4)) for _ in range(10000)]
    ratios = [v / sorted(values[i - 20 : i])[10] for i, v in enumerate(values) if i >= 20]
    assert sum(r >= 3 for r in ratios) > 50  # the noise really has 3x+ batches
    assert len([e for e in run(SpikeDetector(), values) if not e.resolved]) <= 1


def test_same_ratio_fires_in_a_smooth_run() -> None:
    """A 4x batch is a spike in a smooth run (small spread), even though it would be noise elsewhere."""
    values = noisy(400, seed=4, sigma=0.05)
    values[300] *= 4
    assert [300] == [e.step for e in run(SpikeDetector(), values) if not e.resolved]


def test_below_min_ratio_never_fires() -> None:
    """A batch under min_ratio x the median never fires, however smooth the run."""
    values = [1.0] * 300
    values[200] = 2.5
    assert [] == run(SpikeDetector(min_ratio=3.0), values)


def test_no_alert_during_warmup() -> None:
    """Nothing fires before warmup_steps batches."""
    values = noisy(100)
    values[30] *= 100
    assert [] == [e for e in run(SpikeDetector(warmup_steps=50), values) if not e.resolved]


def test_sensitivity_trades_alerts() -> None:
    """Lower sensitivity fires on smaller excursions than higher sensitivity."""
    values = noisy(600, seed=5, sigma=0.3)
    values[400] *= 5
    low = run(SpikeDetector(sensitivity=1.0), list(values))
    high = run(SpikeDetector(sensitivity=6.0), list(values))
    assert 400 in [e.step for e in low if not e.resolved]
    assert 400 not in [e.step for e in high if not e.resolved]


def test_non_finite_values_are_ignored() -> None:
    """NaN and Inf are left to the non-finite detector."""
    values = noisy(200)
    values[100] = math.nan
    values[101] = math.inf
    assert [] == run(SpikeDetector(), values)


def test_persistent_moderate_rise_fires_on_second_batch() -> None:
    """Two batches in a row above the persistence threshold fire at the second one."""
    values = noisy(400, seed=6, sigma=0.1)
    values[300] *= 3.6
    values[301] *= 3.6
    detector = SpikeDetector(sensitivity=20.0, persistence_sensitivity=2.0)
    firing = [e for e in run(detector, values) if not e.resolved]
    assert [301] == [e.step for e in firing]
    assert firing[0].details["persisted"] is True


def test_zero_and_negative_losses_do_not_crash() -> None:
    """Zero or slightly negative decoded losses (float32 round-off near zero) are handled."""
    values = [1e-4, 0.0, -1e-9] * 100
    run(SpikeDetector(), values)


def test_reset_forgets_the_baseline() -> None:
    """reset() starts over: no alert right after, because warm-up applies again."""
    detector = SpikeDetector()
    run(detector, noisy(300))
    detector.reset()
    assert detector.update(0, 1000.0) is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"sensitivity": 0}, "sensitivity"),
        ({"min_ratio": 0.5}, "min_ratio"),
        ({"window": 5}, "window"),
        ({"warmup_steps": 3}, "warmup_steps"),
        ({"tail_quantile": 1.5}, "tail_quantile"),
        ({"severity": "loud"}, "severity"),
        ({"sensitivity": "high"}, "sensitivity"),
    ],
)
def test_bad_arguments_name_the_field(kwargs: dict[str, object], field: str) -> None:
    """Invalid constructor arguments raise ConfigError naming the field."""
    with pytest.raises(ConfigError) as info:
        SpikeDetector(**kwargs)  # type: ignore[arg-type]
    assert field == info.value.field


def test_fault_from_batch_30_is_caught_without_a_long_warmup() -> None:
    """A 3x batch at step 30 of a decreasing run fires at that batch (the warm-up is 20 batches)."""
    rng = random.Random(5)
    values = [2.0 * math.exp(-i / 60) * math.exp(rng.gauss(0, 0.05)) for i in range(200)]
    values[30] *= 3.5
    assert [30] == [e.step for e in run(SpikeDetector(), values) if not e.resolved]


def test_one_odd_batch_does_not_become_a_short_noise_windows_tail() -> None:
    """With ~40 residuals, the 98th percentile is interpolated, not the largest residual.

    One 1.8x batch at step 30 (clean: below the recent max) used to set the tail spread by
    itself, and a 3.7x batch above the max at step 55 stayed under the threshold.
    """
    rng = random.Random(3)
    values = [2.0 * math.exp(-i / 40) + 1.0 for i in range(12)]
    values += [math.exp(rng.gauss(0, 0.05)) for _ in range(60)]
    values[30] = 1.8
    values[55] = 3.7
    assert [55] == [e.step for e in run(SpikeDetector(), values) if not e.resolved]


def test_three_x_noise_not_above_the_recent_max_is_clean() -> None:
    """Batches 3x the median but never above the max of the last 100 are mini-batch noise: no alert."""
    values = [1.0] * 400
    for i in range(0, 400, 7):
        values[i] = 4.0  # regular 4x batches: 4x the median, never above the recent max of 4.0
    assert [] == run(SpikeDetector(), values)


def test_level_shift_fires_at_its_first_batch() -> None:
    """The loss jumps 6x and stays: one spike alert at the jump."""
    rng = random.Random(6)
    values = [math.exp(rng.gauss(0, 0.1)) for _ in range(300)] + [
        6 * math.exp(rng.gauss(0, 0.1)) for _ in range(300)
    ]
    assert [300] == [e.step for e in run(SpikeDetector(), values) if not e.resolved]


def test_a_loss_that_never_recovers_becomes_the_new_level_and_new_spikes_fire() -> None:
    """A 100x jump that stays: one alert, resolved as the new level after max_window batches,
    and a 30x fault on top of that broken level 150 batches later fires again."""
    values = noisy(100) + noisy(400, seed=1, level=100.0)
    values[350] *= 30
    detector = SpikeDetector()
    events = run(detector, values)
    firing = [e.step for e in events if not e.resolved]
    resolved = [e for e in events if e.resolved]
    assert [100, 350] == firing
    assert "new level" in resolved[0].message
    assert 100 + detector.max_window - 1 <= (resolved[0].step or 0) <= 100 + detector.max_window + 1


def test_an_early_3x_batch_below_the_first_losses_does_not_blind_the_noise_window() -> None:
    """Early in a run the recent max is still the first, high losses: a 5x batch that does
    not beat them is clean (spec), but must not become the noise window's tail, so the 5x
    batch after it, above them, fires."""
    values = [6.0, 5.0, 4.0, 3.0, 2.0] + noisy(95, seed=3, level=1.2, sigma=0.15)
    values[57], values[58] = 5.9, 6.2
    firing = [e.step for e in run(SpikeDetector(), values) if not e.resolved]
    assert [58] == firing
