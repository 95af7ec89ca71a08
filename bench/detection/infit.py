"""Training-thread cost of `default_callbacks` inside a real ``fit``, next to ``TerminateOnNaN``.

``python -m bench.detection.infit [--fits N]``. A ~1 ms/step MLP; fits alternate
between ``[TerminateOnNaN()]`` and ``default_callbacks(notifier)`` (interleaved, so load
drifts hit both); each hook is wrapped with a ``perf_counter_ns`` timer inside the fit.
Reported: median per-step hook time of each, train begin+end time of the engine, and the
paired median ratio of fit times. Short on purpose (2 shared cores).
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
        t0 = time.perf_counter()
        model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=cbs)
        if i > 1:  # the first pair warms up (tracing of the weight check, caches)
            times[name].append(time.perf_counter() - t0)
        notifier.flush(10)
    notifier.close(timeout_s=5)
    ratios = [b / a for a, b in zip(times["TerminateOnNaN"], times["default_callbacks"], strict=False)]
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
