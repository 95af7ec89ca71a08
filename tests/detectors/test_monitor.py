"""Monitor: the detectors for a custom training loop, through a real Notifier."""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from alertcb import ConfigError
from alertcb.detectors import Monitor, PlateauDetector, ThresholdDetector, WeightCheckSchedule
from alertcb.notifier import Notifier
from alertcb.testing import RecordingChannel, capture_events


@pytest.fixture
def notifier(tmp_path: Path) -> Iterator[Notifier]:
    n = Notifier(channels=[RecordingChannel()], run_name="t", run_dir=tmp_path)
    try:
        yield n
    finally:
        n.close()


def losses(n: int, seed: int = 0) -> list[float]:
    rng = random.Random(seed)
    return [math.exp(-i / 500 + rng.gauss(0, 0.2)) for i in range(n)]


def test_observe_emits_spike_and_nan(notifier: Notifier) -> None:
    """A custom loop's spike and NaN reach the notifier, attributed to its run, with epoch and step."""
    values = losses(400)
    values[300] *= 40
    values[350] = math.nan
    with capture_events() as events:
        monitor = Monitor(notifier)
        for step, value in enumerate(values):
            monitor.observe(step, {"loss": value}, epoch=step // 100)
    firing = [(e.kind, e.step, e.epoch) for e in events if not e.resolved]
    assert [("spike", 300, 3), ("nonfinite", 350, 3)] == firing
    assert all("t" == e.run.name for e in events if e.run is not None)


def test_running_means_are_decoded(notifier: Notifier) -> None:
    """With running_mean=True, Keras-style running means are de-averaged before spike detection."""
    values = losses(600, seed=1)
    values[450] *= 40
    with capture_events() as events:
        monitor = Monitor(notifier, running_mean=True)
        for epoch in range(2):
            total = 0.0
            for batch in range(300):
                step = epoch * 300 + batch
                total += values[step]
                monitor.observe(step, {"loss": total / (batch + 1)}, epoch=epoch, batch=batch)
    assert [450] == [e.step for e in events if e.kind == "spike" and not e.resolved]


def test_observe_epoch_runs_plateau_and_thresholds(notifier: Notifier) -> None:
    """observe_epoch feeds the plateau detector and epoch-level thresholds."""
    with capture_events() as events:
        monitor = Monitor(
            notifier,
            plateau=PlateauDetector("val_loss", patience=1),
            thresholds=[ThresholdDetector("val_loss", above=10)],
        )
        for epoch, value in enumerate([1.0, 0.9, 12.0]):
            monitor.observe_epoch(epoch, {"val_loss": value})
    assert [("plateau", 2), ("threshold", 2)] == sorted((e.kind, e.epoch) for e in events)
    assert monitor.should_stop


def test_bad_values_never_raise(notifier: Notifier) -> None:
    """Strings, None and objects in the metrics are ignored."""
    monitor = Monitor(notifier)
    assert [] == monitor.observe(0, {"loss": "abc", "acc": None, "x": object()})


def test_hang_watchdog_fires_while_loop_is_stuck(notifier: Notifier) -> None:
    """With hang_timeout_s the scheduler job alerts while the loop is blocked, then resolves."""
    arrived = threading.Event()
    notifier.add_listener(lambda e: arrived.set() if e.kind == "hang" and not e.resolved else None)
    with capture_events() as events, Monitor(notifier, hang_timeout_s=0.2, hang_interval_s=0.05) as monitor:
        monitor.observe(0, {"loss": 1.0})
        assert arrived.wait(5)  # the loop is "stuck" here
        monitor.observe(1, {"loss": 1.0})
        deadline = time.monotonic() + 5
        while not any(e.kind == "hang" and e.resolved for e in events) and time.monotonic() < deadline:
            time.sleep(0.02)
    assert ["firing", "resolved"] == [e.status for e in events if e.kind == "hang"][:2]


def test_bad_arguments_name_the_field(notifier: Notifier) -> None:
    """Wrong detector arguments raise ConfigError naming the field."""
    with pytest.raises(ConfigError) as info:
        Monitor(notifier, spike="yes")  # type: ignore[arg-type]
    assert "spike" == info.value.field
    with pytest.raises(ConfigError) as info:
        Monitor(None)
    assert "notifier" == info.value.field


def test_one_object_covers_detectors_summary_and_lr(notifier: Notifier) -> None:
    """A custom loop needs only Monitor: batch_end/epoch_end feed detectors and the summary; close() sends it."""
    values = losses(300, seed=2)
    values[100] *= 50
    with capture_events() as events:
        monitor = Monitor(notifier, lr=lambda: 0.125)
        monitor.train_begin({"epochs": 3, "steps": 100})
        for epoch in range(3):
            monitor.epoch_begin(epoch)
            for batch in range(100):
                monitor.batch_end(epoch * 100 + batch, {"loss": values[epoch * 100 + batch]}, epoch=epoch)
            monitor.epoch_end(epoch, {"loss": 0.5, "val_loss": 0.6})
        monitor.close()
    spikes = [e for e in events if e.kind == "spike" and not e.resolved]
    assert [100] == [e.step for e in spikes]
    assert 0.125 == spikes[0].details["lr"]
    summaries = [e for e in events if e.kind == "summary"]
    assert 1 == len(summaries)


def test_epoch_alerts_carry_the_global_step(notifier: Notifier) -> None:
    """An epoch-level alert carries the step of the epoch's last batch, not 0."""
    with capture_events() as events:
        monitor = Monitor(notifier, summary=False, thresholds=[ThresholdDetector("val_loss", above=1)])
        for step in range(50):
            monitor.batch_end(step, {"loss": 1.0}, epoch=0)
        monitor.epoch_end(0, {"loss": 1.0, "val_loss": 5.0})
    assert [49] == [e.step for e in events if e.kind == "threshold"]


def test_unknown_monitor_reported_once(notifier: Notifier, caplog: pytest.LogCaptureFixture) -> None:
    """A typo (val_los) is reported once, at the first epoch end that lacks it; nothing raises."""
    monitor = Monitor(
        notifier,
        summary=False,
        plateau=PlateauDetector("val_los"),
        thresholds=[ThresholdDetector("val_los", above=1)],
    )
    with caplog.at_level("WARNING", logger="alertcb"):
        for epoch in range(3):
            monitor.epoch_end(epoch, {"loss": 1.0, "val_loss": 1.0})
    warnings = [r.getMessage() for r in caplog.records if "val_los'" in r.getMessage()]
    assert 1 == len(warnings)
    assert "available: loss, val_loss" in warnings[0]


def test_stop_and_raise_policies(notifier: Notifier) -> None:
    """on_nonfinite='stop' sets should_stop; 'raise' raises NonFiniteError after emitting."""
    from alertcb.detectors import NonFiniteError

    stop = Monitor(notifier, on_nonfinite="stop", summary=False)
    stop.batch_end(0, {"loss": math.nan})
    assert stop.should_stop
    raising = Monitor(notifier, on_nonfinite="raise", summary=False)
    with capture_events() as events, pytest.raises(NonFiniteError):
        raising.batch_end(0, {"loss": math.inf})
    assert ["nonfinite"] == [e.kind for e in events]


def test_silent_nan_through_the_weight_check(notifier: Notifier) -> None:
    """weights_check=... reports NaN weights behind a finite loss within 5 batches."""
    state = {"finite": True}
    with capture_events() as events:
        schedule = WeightCheckSchedule(every=5)  # deterministic here; the cost budget is tested on a fake clock
        monitor = Monitor(notifier, summary=False, weights_check=lambda: state["finite"], weights=schedule)
        for step in range(100):
            if step == 40:
                state["finite"] = False
            monitor.batch_end(step, {"loss": 1.0})
    fired = [e for e in events if e.kind == "nonfinite"]
    assert 1 == len(fired) and 40 <= (fired[0].step or 0) <= 45
