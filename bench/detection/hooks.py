"""Per-hook cost of alertcb's Keras callbacks, and the cost of the silent-NaN weight check.

``python -m bench.detection --hooks``. Hooks are called directly (no model step), many
times, timed with ``time.perf_counter_ns``; the best of 5 repeats is reported (the
machine is shared: the minimum is the least disturbed estimate).
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _time_hook(cb: Any, n: int) -> float:
    cb.on_train_begin()
    cb.on_epoch_begin(0)
    running = 0.0
    logs = {"loss": 0.0, "accuracy": 0.5}
    start = time.perf_counter_ns()
    for batch in range(n):
        running += 0.5 + 0.01 * (batch % 13)
        logs["loss"] = running / (batch + 1)
        cb.on_train_batch_end(batch, logs)
    elapsed = time.perf_counter_ns() - start
    cb.on_train_end()
    return elapsed / n / 1000.0


def measure(n: int = 20_000, repeats: int = 5) -> str:
    import keras

    from alertcb.keras import (
        DivergenceAlert,
        HangWatchdog,
        LossSpikeAlert,
        NonFiniteAlert,
        ThresholdAlert,
        TrainingSummary,
    )
    from alertcb.keras.nonfinite import make_weights_check
    from alertcb.notifier import Notifier
    from alertcb.testing import RecordingChannel

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((20,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(1),
        ]
    )
    model.compile("adam", "mse")
    with tempfile.TemporaryDirectory() as tmp:
        notifier = Notifier(channels=[RecordingChannel()], run_name="hooks", run_dir=tmp, outbox=False)
        try:
            factories = {
                "NonFiniteAlert (check_weights_every=0)": lambda: NonFiniteAlert(
                    notifier, check_weights_every=0
                ),
                "NonFiniteAlert (default: weights every 100 batches and 10 s)": lambda: NonFiniteAlert(
                    notifier
                ),
                "NonFiniteAlert (weights every 100 batches, no time gate)": lambda: NonFiniteAlert(
                    notifier, check_weights_min_interval_s=0
                ),
                "LossSpikeAlert": lambda: LossSpikeAlert(notifier),
                "DivergenceAlert": lambda: DivergenceAlert(notifier),
                "HangWatchdog": lambda: HangWatchdog(notifier, interval_s=60),
                "ThresholdAlert (batch level)": lambda: ThresholdAlert(
                    notifier, "loss", above=1e9, level="batch"
                ),
                "TrainingSummary": lambda: TrainingSummary(notifier),
            }
            rows = []
            for name, make in factories.items():
                samples = []
                for _ in range(repeats):
                    cb = make()
                    cb.set_model(model)
                    cb.set_params({"epochs": 1, "steps": n})
                    samples.append(_time_hook(cb, n))
                rows.append((name, min(samples)))
            check = make_weights_check(model)
            check()
            samples = []
            for _ in range(repeats):
                start = time.perf_counter_ns()
                for _ in range(200):
                    check()
                samples.append((time.perf_counter_ns() - start) / 200 / 1000.0)
            weights_us = min(samples)
        finally:
            notifier.close(timeout_s=1)
    n_params = sum(int(v.numpy().size) for v in model.trainable_variables)
    default_total = sum(
        us for name, us in rows if "default" in name or not name.startswith(("NonFinite", "Threshold"))
    )
    lines = [
        f"Per-call cost of on_train_batch_end ({n:,} calls, best of {repeats}; keras {keras.__version__}):",
        "",
        "| callback | µs per batch |",
        "|---|---|",
        *[f"| {name} | {us:.1f} |" for name, us in rows],
        f"| **all of default_callbacks** | **{default_total:.1f}** |",
        "",
        f"Weight check (one on-device reduction over {len(model.trainable_variables)} variables, {n_params:,} weights): "
        f"{weights_us:.0f} µs per check: {weights_us / 100:.1f} µs per batch if it ran every 100 batches; "
        f"by default it also waits 10 s between checks.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(measure())
