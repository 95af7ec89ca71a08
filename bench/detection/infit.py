"""Training-thread cost of `default_callbacks` inside a real ``fit``, next to ``TerminateOnNaN``.

``python -m bench.detection.infit [--fits N]``. A ~1 ms/step MLP; fits alternate
between ``[TerminateOnNaN()]`` and ``default_callbacks(notifier)`` (interleaved, so load
drifts hit both); each hook is wrapped with a ``perf_counter_ns`` timer inside the fit.
Reported: median per-step hook time of each, train begin+end time of the engine, the
paired median ratio of fit times, and the paired median ratio of *step times*: a first
callback in both lists stamps every batch end, and each fit's median interval between
stamps is its step time. On 2 shared cores whole fits swing by +-30% with the neighbours'
load, so the fit-time ratio cannot resolve 1%; a fit's median step is insensitive to such
bursts. Weight checks are few (cost budget), so they are out of the median; their share
of the fit is reported from the engine's own schedule.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _timed(cb: Any, name: str, sink: list[int]) -> None:
    inner = getattr(cb, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter_ns()
        try:
            return inner(*args, **kwargs)
        finally:
            sink.append(time.perf_counter_ns() - t0)

    setattr(cb, name, wrapper)


def _stamps(keras: Any, sink: list[int]) -> Any:
    class Stamp(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            sink.append(time.perf_counter_ns())

    return Stamp()


def run(fits: int = 6, steps: int = 400) -> str:
    import keras
    import numpy as np

    import alertcb
    from alertcb.keras import default_callbacks

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(256, activation="relu"), keras.layers.Dense(256, activation="relu"),
         keras.layers.Dense(1)]
    )
    model.compile("adam", "mse")
    x = np.random.default_rng(0).normal(size=(steps * 32, 64)).astype("float32")
    y = x[:, :1] * 2
    model.fit(x[:64], y[:64], batch_size=32, verbose=0)  # compile outside the timing
    tmp = tempfile.mkdtemp(prefix="alertcb-infit-")
    notifier = alertcb.Notifier(run_name="infit", run_dir=tmp, outbox=False)
    times: dict[str, list[float]] = {"TerminateOnNaN": [], "default_callbacks": []}
    hooks: dict[str, list[int]] = {"TerminateOnNaN": [], "default_callbacks": []}
    fixed: list[int] = []
    step_us: dict[str, list[float]] = {"TerminateOnNaN": [], "default_callbacks": []}
    check_share: list[float] = []
    for i in range(2 * fits):
        name = "TerminateOnNaN" if i % 2 == 0 else "default_callbacks"
        if name == "TerminateOnNaN":
            cbs: list[Any] = [keras.callbacks.TerminateOnNaN()]
            _timed(cbs[0], "on_batch_end", hooks[name] if i > 1 else [])
        else:
            cbs = default_callbacks(notifier)
            per: list[int] = hooks[name] if i > 1 else []
            for cb in cbs:
                _timed(cb, "on_train_batch_end", per)
                _timed(cb, "on_train_begin", fixed)
                _timed(cb, "on_train_end", fixed)
        stamps: list[int] = []
        t0 = time.perf_counter()
        model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[_stamps(keras, stamps), *cbs])
        elapsed = time.perf_counter() - t0
        if i > 1:  # the first pair warms up (tracing of the weight check, caches)
            times[name].append(elapsed)
            step_us[name].append(statistics.median(b - a for a, b in zip(stamps, stamps[1:], strict=False)) / 1e3)
            if name == "default_callbacks":
                weights = cbs[0].engine.weights
                check_share.append(sum(weights._check_s) / len(weights._check_s) * weights._checks / elapsed
                                   if weights._check_s else 0.0)
        notifier.flush(10)
    notifier.close(timeout_s=5)
    ratios = [b / a for a, b in zip(times["TerminateOnNaN"], times["default_callbacks"], strict=False)]
    step_ratios = [b / a for a, b in zip(step_us["TerminateOnNaN"], step_us["default_callbacks"], strict=False)]
    step_ms = statistics.median(times["TerminateOnNaN"]) / steps * 1000
    fixed_ms = statistics.median(
        [fixed[j] + fixed[j + 1] for j in range(0, len(fixed) - 1, 2)]
    ) / 1e6 if len(fixed) >= 2 else float("nan")
    return "\n".join(
        [
            f"MLP 64-256-256-1, batch 32, {steps} steps/fit, {step_ms:.2f} ms/step; {fits - 1} measured pairs.",
            "",
            "| | per-step hook time on the training thread (median) | fit time |",
            "|---|---|---|",
            f"| TerminateOnNaN | {statistics.median(hooks['TerminateOnNaN']) / 1000:.1f} µs | "
            f"{statistics.median(times['TerminateOnNaN']):.3f} s |",
            f"| default_callbacks (one engine) | {statistics.median(hooks['default_callbacks']) / 1000:.1f} µs | "
            f"{statistics.median(times['default_callbacks']):.3f} s |",
            "",
            f"Paired median fit-time ratio default_callbacks / TerminateOnNaN: {statistics.median(ratios):.3f} "
            f"(pairs: {', '.join(f'{r:.3f}' for r in ratios)}). Engine train begin+end: {fixed_ms:.1f} ms "
            "(median per fit; the first fit also traces the weight check).",
            "",
            f"Median step time: TerminateOnNaN {statistics.median(step_us['TerminateOnNaN']):.0f} µs, "
            f"default_callbacks {statistics.median(step_us['default_callbacks']):.0f} µs; paired median ratio "
            f"{statistics.median(step_ratios):.4f} (pairs: {', '.join(f'{r:.3f}' for r in step_ratios)}). "
            f"Weight checks: {100 * statistics.median(check_share):.2f}% of the fit (median).",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.detection.infit")
    parser.add_argument("--fits", type=int, default=6)
    args = parser.parse_args()
    print(run(args.fits))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
