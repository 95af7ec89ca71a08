"""Callbacks never break training: odd logs, evaluate/predict only, epochs=0, concurrent calls."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import numpy as np
import pytest
import tensorflow as tf

from alertcb import ConfigError
from alertcb.events import Event
from alertcb.keras import (
    AlertEngine,
    DivergenceAlert,
    HangWatchdog,
    LossSpikeAlert,
    NonFiniteAlert,
    PlateauAlert,
    ThresholdAlert,
    TrainingSummary,
    default_callbacks,
)
from tests.keras.conftest import firing
from tests.keras.helpers import fit, keras, mlp, regression


def all_callbacks(notifier: Any) -> list[Any]:
    return default_callbacks(
        notifier,
        hang={"timeout_s": 30, "interval_s": 0.2},
        plateau={"patience": 1},
        thresholds=[
            {"monitor": "loss", "above": 1e6, "level": "batch"},
            {"monitor": "val_loss", "above": 1e6},
        ],
    )


def test_default_callbacks_is_one_engine(notifier: Any) -> None:
    """default_callbacks is one AlertEngine feeding every default detector; batch hooks run once.

    (Changed by issue 12: it used to be five callbacks, each with its own lock and decoder.)
    """
    callbacks = default_callbacks(notifier)
    assert isinstance(callbacks, list)
    engine = callbacks[0]
    assert isinstance(engine, AlertEngine)
    batch_hooked = [cb for cb in callbacks if type(cb).on_train_batch_end is not keras.callbacks.Callback.on_train_batch_end]
    assert [engine] == batch_hooked
    monitor = engine.engine
    enabled = {type(d).__name__ for d in monitor.detectors}
    assert {"NonFiniteDetector", "SpikeDetector", "DivergenceDetector", "HangMonitor", "ValAnomalyDetector"} == enabled
    assert monitor.tracker is not None
    more = all_callbacks(notifier)[0].engine
    assert more.plateau is not None and 2 == len(more.thresholds)
    bare = default_callbacks(
        notifier, nonfinite=False, spike=False, divergence=False, hang=False, summary=False, val_anomaly=False
    )[0].engine
    assert [] == bare.detectors and bare.tracker is None


def test_presets_are_the_same_engine(notifier: Any) -> None:
    """Each named callback is an AlertEngine preset with only its own detector enabled."""
    assert ["NonFiniteDetector"] == [type(d).__name__ for d in NonFiniteAlert(notifier).engine.detectors]
    assert ["SpikeDetector"] == [type(d).__name__ for d in LossSpikeAlert(notifier).engine.detectors]
    assert ["ThresholdDetector"] == [
        type(d).__name__ for d in ThresholdAlert(notifier, above=1.0).engine.detectors
    ]
    summary = TrainingSummary(notifier)
    assert [] == summary.engine.detectors and summary.tracker is summary.engine.tracker


def test_progress_and_lifecycle_extension_points(notifier: Any) -> None:
    """progress= builds a ProgressDigest on the engine's tracker (scheduled only during fit)."""
    engine = default_callbacks(notifier, progress={"every": "1h"}, hang=False)[0]
    assert engine.progress is not None and engine.progress.tracker is engine.engine.tracker
    assert [] == notifier.scheduler.get_jobs()
    with pytest.raises(ConfigError) as info:
        default_callbacks(notifier, progress={"every": "soon"})
    assert info.value.field.startswith("progress")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"spike": {"sensitivity": -1}}, "spike.sensitivity"),
        ({"hang": {"timeout_s": 0}}, "hang.timeout_s"),
        ({"plateau": {"mode": "sideways"}}, "plateau.mode"),
        ({"thresholds": [{"monitor": "loss"}]}, "thresholds[0].above"),
        ({"spike": "yes"}, "spike"),
        ({"divergence": {"bogus": 1}}, "divergence"),
        ({"val_anomaly": {"sensitivity": 0}}, "val_anomaly.sensitivity"),
        ({"overfitting": {"patience": 0}}, "overfitting.patience"),
        ({"nonfinite": {"on_nonfinite": "explode"}}, "nonfinite.on_nonfinite"),
    ],
)
def test_default_callbacks_errors_name_the_field(notifier: Any, kwargs: dict[str, Any], field: str) -> None:
    """Bad options raise ConfigError with the dotted field path."""
    with pytest.raises(ConfigError) as info:
        default_callbacks(notifier, **kwargs)
    assert field == info.value.field


def test_every_callback_rejects_a_missing_notifier() -> None:
    """A callback without a notifier fails at construction, naming 'notifier'."""
    for cls in (
        NonFiniteAlert,
        LossSpikeAlert,
        DivergenceAlert,
        PlateauAlert,
        ThresholdAlert,
        HangWatchdog,
        TrainingSummary,
    ):
        with pytest.raises(ConfigError) as info:
            cls(None)
        assert "notifier" == info.value.field


def test_evaluate_predict_and_zero_epochs_do_not_crash(notifier: Any, events: list[Event]) -> None:
    """Callbacks attached to evaluate/predict only, or to fit(epochs=0), do nothing harmful."""
    x, y = regression(64)
    model = mlp()
    callbacks = all_callbacks(notifier)
    model.evaluate(x, y, callbacks=callbacks, verbose=0)
    model.predict(x, callbacks=callbacks, verbose=0)
    fit(model, x, y, callbacks, epochs=0)
    assert [] == firing(events, "nonfinite") + firing(events, "spike") + firing(events, "hang")


@pytest.mark.parametrize(
    "value",
    [None, "abc", b"x", np.float32(0.5), np.float64(0.5), tf.constant(0.5), np.array(0.5), [1.0], object()],
    ids=lambda v: type(v).__name__,
)
def test_odd_log_values_never_raise(tmp_path: Any, value: Any) -> None:
    """None, strings, numpy scalars, tensors and objects in logs are read or ignored, never raised on."""
    from alertcb.notifier import Notifier
    from alertcb.testing import RecordingChannel

    notifier = Notifier(
        channels=[RecordingChannel()], run_name="t", run_dir=tmp_path, outbox=False
    )
    callbacks = all_callbacks(notifier)
    model = mlp()
    for cb in callbacks:
        cb.set_model(model)
        cb.set_params({"epochs": 1, "steps": 10, "verbose": 0})
        cb.on_train_begin()
        cb.on_epoch_begin(0)
        for batch in range(3):
            cb.on_train_batch_end(batch, {"loss": value, "accuracy": value})
            cb.on_train_batch_end(batch, None)
        cb.on_epoch_end(0, {"loss": value, "val_loss": value})
        cb.on_epoch_end(0, None)
        cb.on_train_end()
    notifier.close(timeout_s=2)


def test_concurrent_out_of_order_calls_are_safe(notifier: Any, events: list[Event]) -> None:
    """Batch hooks called from several threads, out of order, keep state consistent and never raise."""
    spike = LossSpikeAlert(notifier)
    nonfinite = NonFiniteAlert(notifier, check_weights_every=0)
    model = mlp()
    for cb in (spike, nonfinite):
        cb.set_model(model)
        cb.set_params({"epochs": 1, "steps": 4000})
        cb.on_train_begin()
        cb.on_epoch_begin(0)
    rng = random.Random(0)
    batches = list(range(4000))
    order = [b + rng.randint(-3, 3) for b in batches]
    errors: list[BaseException] = []

    def worker(part: list[int]) -> None:
        try:
            for b in part:
                b = max(0, min(3999, b))
                for cb in (spike, nonfinite):
                    cb.on_train_batch_end(b, {"loss": 1.0})  # a constant running mean
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(order[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [] == errors
    assert [] == firing(events)


def test_async_safe_is_declared(notifier: Any) -> None:
    """Every callback declares async_safe so Keras 3 keeps asynchronous dispatch on JAX/torch."""
    for cb in all_callbacks(notifier):
        assert cb.async_safe is True


def test_hooks_cost_a_few_microseconds(notifier: Any) -> None:
    """Per-batch hook cost, measured with perf_counter_ns over many calls, stays in the microseconds."""
    model = mlp()
    costs = {}
    for cb in default_callbacks(notifier, hang={"interval_s": 60}):
        cb.set_model(model)
        cb.set_params({"epochs": 1, "steps": 100_000})
        cb.on_train_begin()
        cb.on_epoch_begin(0)
        total = 0.0
        n = 5000
        start = time.perf_counter_ns()
        for batch in range(n):
            total += 0.5 + 0.01 * (batch % 13)
            cb.on_train_batch_end(batch, {"loss": total / (batch + 1)})
        costs[type(cb).__name__] = (time.perf_counter_ns() - start) / n / 1000
        cb.on_train_end()
    # Generous bound for a shared 2-core machine; docs/detection.md has the measured numbers.
    assert all(us < 100 for us in costs.values()), costs
