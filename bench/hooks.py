"""Benchmark 5: per-batch hook cost of each callback, and the silent-NaN weight check's cost.

Part A: each callback's ``on_train_batch_end`` is called directly N times (100,000 by
default) with realistic logs (Python floats, as Keras' ``CallbackList`` passes them:
``loss`` as an epoch running mean plus two metrics), 1,000 batches per epoch with
untimed epoch boundaries. Every call is timed with ``time.perf_counter_ns``; the cost of
timing an empty call is subtracted. The callbacks' models are a real small MLP, so
`NonFiniteAlert`'s default weight check (every 100 batches) is included in its row.
Rows are interleaved over repeats; the median of the per-repeat means is reported.
"via CallbackList" rows time Keras' own dispatcher (``keras.callbacks.CallbackList``,
which also converts logs to floats) around the same callbacks: what ``fit`` pays.

Part B: the weight check (`alertcb.keras.nonfinite.make_weights_check`: one on-device
reduction in a ``tf.function``, one boolean to host) against model size (1e4 to 1e7
parameters, plus a deep model with many variables), with each model's own training
step time on this CPU (batch 32), the amortised cost per step for several intervals,
and the smallest interval that keeps it at or below 0.5% of a step. Also measured: the
one-time cost of building and tracing the check (paid at the first check of every
``fit``: the check is rebuilt in ``on_train_begin``) and an eager alternative.

Run: python -m bench.hooks [--quick] [--json PATH]
"""

from __future__ import annotations

import array
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from bench._common import (
    bench_args,
    finish,
    loadavg,
    md_table,
    median,
    quiet_alertcb_logger,
    quiet_tensorflow,
)

STEPS_PER_EPOCH = 1000
INTERVALS = (10, 50, 100, 200, 500, 1000)
BUDGET = 0.005  # 0.5% of a step


def _weight_check_defaults() -> tuple[int, float]:
    """The weight check's current defaults: (batches, seconds) between checks (0 s if no time floor)."""
    from alertcb.keras import nonfinite

    # Since issue 12 the interval comes from a cost budget (no fixed default): 0 means "budget".
    return (int(getattr(nonfinite, "DEFAULT_CHECK_WEIGHTS_EVERY", 0) or 0),
            float(getattr(nonfinite, "DEFAULT_CHECK_WEIGHTS_MIN_INTERVAL_S", 0.0)))


def _default_interval_label() -> str:
    every, floor_s = _weight_check_defaults()
    if not every:
        return "weights on the 0.5% cost budget"
    return f"weights every ≥{every} batches" + (f" and ≥{floor_s:g} s" if floor_s else "")


def _every_100_no_floor() -> dict[str, Any]:
    import inspect

    from alertcb.keras import NonFiniteAlert

    kwargs: dict[str, Any] = {"check_weights_every": 100}
    if "check_weights_min_interval_s" in inspect.signature(NonFiniteAlert).parameters:
        kwargs["check_weights_min_interval_s"] = 0.0
    return kwargs


def _logs_sequence(n: int) -> list[dict[str, float]]:
    """Running means of a noisy decreasing loss (what Keras reports at each batch end)."""
    import random

    rng = random.Random(0)
    out = []
    s_loss = s_mae = s_acc = 0.0
    for i in range(n):
        b = i % STEPS_PER_EPOCH
        if b == 0:
            s_loss = s_mae = s_acc = 0.0
        loss = (1.0 / (1 + i / 5000)) * rng.lognormvariate(0, 0.3)
        s_loss += loss
        s_mae += loss ** 0.5
        s_acc += min(1.0, 0.5 + i / (2 * n))
        out.append({"loss": s_loss / (b + 1), "mae": s_mae / (b + 1), "accuracy": s_acc / (b + 1)})
    return out


def _time_calls(hooks: list[Callable[[int, Any], Any]], epoch_hooks: list[Any], logs_seq: list[dict[str, float]],
                n: int) -> tuple[float, float, float]:
    """Mean, p50 and p99 in ns of calling every hook in ``hooks`` once per batch."""
    samples = array.array("q", bytes(8 * n))
    clock = time.perf_counter_ns
    m = len(logs_seq)
    epoch = 0
    for cb in epoch_hooks:
        cb.on_train_begin({})
        cb.on_epoch_begin(0, {})
    for i in range(n):
        b = i % STEPS_PER_EPOCH
        if b == 0 and i:
            for cb in epoch_hooks:
                cb.on_epoch_end(epoch, dict(logs_seq[(i - 1) % m]))
            epoch += 1
            for cb in epoch_hooks:
                cb.on_epoch_begin(epoch, {})
        logs = logs_seq[i % m]
        t0 = clock()
        for hook in hooks:
            hook(b, logs)
        samples[i] = clock() - t0
    for cb in epoch_hooks:
        cb.on_train_end({})
    ordered = sorted(samples)
    return sum(samples) / n, float(ordered[n // 2]), float(ordered[int(n * 0.99)])


def hook_costs(quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    import keras

    import alertcb
    import alertcb.keras as ak

    n = 20_000 if quick else 100_000
    repeats = 1 if quick else 3
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((20,)), keras.layers.Dense(64, activation="relu"), keras.layers.Dense(64, activation="relu"),
         keras.layers.Dense(1)]
    )
    model.compile("adam", "mse", metrics=["mae", "accuracy"])
    logs_seq = _logs_sequence(min(n, 20_000))
    tmp = tempfile.mkdtemp(prefix="alertcb-bench-")
    notifier = alertcb.Notifier(run_name="hooks", run_dir=tmp)  # the embedded default (console)

    def setup(cb: Any) -> Any:
        cb.set_model(model)
        cb.set_params({"epochs": n // STEPS_PER_EPOCH, "steps": STEPS_PER_EPOCH, "verbose": 0})
        return cb

    def direct(make: Callable[[], Any]) -> Callable[[], tuple[float, float, float]]:
        def go() -> tuple[float, float, float]:
            cbs = [setup(c) for c in make()]
            return _time_calls([c.on_train_batch_end for c in cbs], cbs, logs_seq, n)
        return go

    def via_list(make: Callable[[], Any]) -> Callable[[], tuple[float, float, float]]:
        def go() -> tuple[float, float, float]:
            cbs = make()
            clist = keras.callbacks.CallbackList(cbs, add_history=False, add_progbar=False, model=model,
                                                 epochs=n // STEPS_PER_EPOCH, steps=STEPS_PER_EPOCH, verbose=0)
            return _time_calls([clist.on_train_batch_end], [clist], logs_seq, n)
        return go

    rows_spec: dict[str, Callable[[], tuple[float, float, float]]] = {
        "(empty call: timer overhead)": lambda: _time_calls([lambda b, logs: None], [], logs_seq, n),
        "keras Callback (no-op)": direct(lambda: [keras.callbacks.Callback()]),
        "TerminateOnNaN": direct(lambda: [keras.callbacks.TerminateOnNaN()]),
        "NonFiniteAlert (check_weights_every=0)": direct(lambda: [ak.NonFiniteAlert(notifier, check_weights_every=0)]),
        f"NonFiniteAlert (default: {_default_interval_label()})": direct(lambda: [ak.NonFiniteAlert(notifier)]),
        "NonFiniteAlert (weights every 100 batches, no time floor)": direct(
            lambda: [ak.NonFiniteAlert(notifier, **_every_100_no_floor())]
        ),
        "LossSpikeAlert": direct(lambda: [ak.LossSpikeAlert(notifier)]),
        "DivergenceAlert": direct(lambda: [ak.DivergenceAlert(notifier)]),
        "HangWatchdog": direct(lambda: [ak.HangWatchdog(notifier)]),
        "TrainingSummary": direct(lambda: [ak.TrainingSummary(notifier)]),
        "PlateauAlert (not in defaults)": direct(lambda: [ak.PlateauAlert(notifier)]),
        "default_callbacks (all 5, direct)": direct(lambda: ak.default_callbacks(notifier)),
        "via CallbackList: no callbacks": via_list(lambda: []),
        "via CallbackList: TerminateOnNaN": via_list(lambda: [keras.callbacks.TerminateOnNaN()]),
        "via CallbackList: default_callbacks": via_list(lambda: ak.default_callbacks(notifier)),
    }
    raw: dict[str, list[tuple[float, float, float]]] = {k: [] for k in rows_spec}
    for r in range(repeats):
        for name, go in rows_spec.items():
            raw[name].append(go())
        log(f"  hooks: round {r + 1}/{repeats} done")
    notifier.close(timeout_s=5)
    shutil.rmtree(tmp, ignore_errors=True)
    overhead_ns = median([m for m, _, _ in raw["(empty call: timer overhead)"]])
    rows = []
    out: dict[str, Any] = {"calls": n, "repeats": repeats, "timer_overhead_ns": overhead_ns, "rows": {}}
    for name, values in raw.items():
        sub = 0.0 if name.startswith("(") else overhead_ns
        entry = {
            "mean_us": (median([m for m, _, _ in values]) - sub) / 1000,
            "best_mean_us": (min(m for m, _, _ in values) - sub) / 1000,
            "p50_us": (median([p for _, p, _ in values]) - sub) / 1000,
            "p99_us": (median([p for _, _, p in values]) - sub) / 1000,
        }
        out["rows"][name] = entry
        rows.append([name, entry["mean_us"], entry["best_mean_us"], entry["p50_us"], entry["p99_us"]])
    out["table"] = (
        f"Per-batch hook cost ({n:,} calls per row and repeat, {STEPS_PER_EPOCH} batches per epoch, "
        f"{repeats} interleaved repeats; timer overhead of {overhead_ns:.0f} ns subtracted). Means include "
        "everything amortised, including preemption by other processes; p50 is the typical call. These are "
        "tight-loop (warm-cache) costs: inside a real `fit` each call costs several times more (see the "
        "overhead benchmark's in-fit hook timing). The 'no time floor' row runs the weight check every 100 "
        "batches: its p99 is one check, its mean includes the tf.function trace of each repeat.\n\n"
        + md_table(["callback", "mean µs/batch (median of repeats)", "mean µs (best repeat)", "p50 µs", "p99 µs"],
                   rows)
    )
    return out


def per_fit_costs(quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """ms spent in each callback's once-per-fit and once-per-epoch hooks (on a real small MLP).

    A fresh set of callbacks per simulated fit (3 epochs of 200 untimed batches), as
    ``fit`` would see them; the median over fits is reported.
    """
    import keras
    import numpy as np

    import alertcb
    import alertcb.keras as ak

    fits = 2 if quick else 5
    model = keras.Sequential(
        [keras.Input((20,)), keras.layers.Dense(64, activation="relu"), keras.layers.Dense(64, activation="relu"),
         keras.layers.Dense(1)]
    )
    model.compile("adam", "mse", metrics=["mae"])
    model.fit(np.zeros((64, 20), "float32"), np.zeros((64, 1), "float32"), batch_size=32, verbose=0)
    logs_seq = _logs_sequence(600)
    tmp = tempfile.mkdtemp(prefix="alertcb-bench-")
    notifier = alertcb.Notifier(run_name="per-fit", run_dir=tmp)
    makers: dict[str, Callable[[], list[Any]]] = {
        "NonFiniteAlert": lambda: [ak.NonFiniteAlert(notifier)],
        "LossSpikeAlert": lambda: [ak.LossSpikeAlert(notifier)],
        "DivergenceAlert": lambda: [ak.DivergenceAlert(notifier)],
        "HangWatchdog": lambda: [ak.HangWatchdog(notifier)],
        "TrainingSummary": lambda: [ak.TrainingSummary(notifier)],
        "default_callbacks (all 5)": lambda: ak.default_callbacks(notifier),
    }
    clock = time.perf_counter
    raw: dict[str, dict[str, list[float]]] = {k: {"begin": [], "epoch1": [], "epochN": [], "end": []} for k in makers}
    for _ in range(fits):
        for name, make in makers.items():
            cbs = make()
            for cb in cbs:
                cb.set_model(model)
                cb.set_params({"epochs": 3, "steps": 200, "verbose": 0})
            t0 = clock()
            for cb in cbs:
                cb.on_train_begin({})
            raw[name]["begin"].append(clock() - t0)
            for epoch in range(3):
                for cb in cbs:
                    cb.on_epoch_begin(epoch, {})
                for b in range(200):
                    for cb in cbs:
                        cb.on_train_batch_end(b, logs_seq[epoch * 200 + b])
                t0 = clock()
                for cb in cbs:
                    cb.on_epoch_end(epoch, dict(logs_seq[epoch * 200 + 199]))
                raw[name]["epoch1" if epoch == 0 else "epochN"].append(clock() - t0)
            t0 = clock()
            for cb in cbs:
                cb.on_train_end({})
            raw[name]["end"].append(clock() - t0)
            notifier.flush(30)  # the summary's report is built in the background: keep it out of the next timing
    notifier.close(timeout_s=5)
    shutil.rmtree(tmp, ignore_errors=True)
    out: dict[str, Any] = {"fits": fits, "rows": {}}
    rows = []
    for name, parts in raw.items():
        ms = {k: median(v) * 1000 for k, v in parts.items()}
        ms["per_fit_3_epochs"] = ms["begin"] + ms["epoch1"] + 2 * ms["epochN"] + ms["end"]
        out["rows"][name] = ms
        rows.append([name, ms["begin"], ms["epoch1"], ms["epochN"], ms["end"], ms["per_fit_3_epochs"]])
    log("  per-fit hooks done")
    out["table"] = (
        f"Once-per-fit and once-per-epoch hook cost on the training thread, ms (median of {fits} simulated fits "
        "of 3 epochs, each well under 10 s). A fit that runs the weight check (with the current defaults: one "
        "longer than the time floor) also pays building and tracing it once, at its first check: see the "
        "weight-check table. The summary's report is built later, on the dispatcher thread.\n\n"
        + md_table(["callback", "on_train_begin", "1st on_epoch_end", "later on_epoch_end", "on_train_end",
                    "total per 3-epoch fit"], rows)
    )
    return out


def _mlp(keras: Any, params: int, depth: int = 2) -> Any:
    """A ``depth``-hidden-layer MLP with about ``params`` parameters (width w, input w)."""
    w = max(8, round((params / depth) ** 0.5))
    layers = [keras.Input((w,))] + [keras.layers.Dense(w, activation="relu") for _ in range(depth)]
    model = keras.Sequential([*layers, keras.layers.Dense(1)])
    model.compile("adam", "mse")
    return model


def _deep(keras: Any, layers: int, width: int) -> Any:
    model = keras.Sequential(
        [keras.Input((width,)), *[keras.layers.Dense(width, activation="relu") for _ in range(layers)],
         keras.layers.Dense(1)]
    )
    model.compile("adam", "mse")
    return model


def weight_check_costs(quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    import keras
    import numpy as np
    import tensorflow as tf

    from alertcb.keras.nonfinite import make_weights_check

    every_default, floor_s = _weight_check_defaults()

    sizes: list[tuple[str, Callable[[], Any]]] = [
        ("1e4", lambda: _mlp(keras, 10_000)),
        ("1e5", lambda: _mlp(keras, 100_000)),
        ("1e6", lambda: _mlp(keras, 1_000_000)),
        ("1e6, 100 layers (202 variables)", lambda: _deep(keras, 100, 100)),
        ("1e7", lambda: _mlp(keras, 10_000_000)),
    ]
    if quick:
        sizes = [sizes[0], sizes[2]]
    repeats = 1 if quick else 3
    rows = []
    out: dict[str, Any] = {"default_interval": every_default, "default_min_interval_s": floor_s, "sizes": {}}
    for label, build in sizes:
        keras.utils.set_random_seed(0)
        model = build()
        params = model.count_params()
        width = model.inputs[0].shape[-1]
        x = np.random.default_rng(0).normal(size=(32 * 64, width)).astype("float32")
        y = np.zeros((32 * 64, 1), dtype="float32")
        model.fit(x[:64], y[:64], batch_size=32, epochs=1, verbose=0)  # trace the train step
        # step time: time a short fit, sized to take ~1 s
        probe = time.perf_counter()
        model.fit(x[:320], y[:320], batch_size=32, epochs=1, verbose=0)
        per_step = (time.perf_counter() - probe) / 10
        steps = int(min(64, max(10, 1.0 / max(per_step, 1e-4))))
        variables = list(model.trainable_variables)

        def eager_check(variables: list[Any] = variables) -> bool:
            return all(bool(tf.reduce_all(tf.math.is_finite(v.value))) for v in variables)

        t0 = time.perf_counter()
        check = make_weights_check(model)
        check()
        build_trace_s = time.perf_counter() - t0
        eager_check()
        calls = 20 if params >= 5_000_000 else 200
        if quick:
            calls = max(5, calls // 4)
        step_s: list[float] = []
        check_s: list[float] = []
        eager_s: list[float] = []
        for _ in range(repeats):  # interleaved: step, check, eager, step, check, eager, ...
            t0 = time.perf_counter()
            model.fit(x[: 32 * steps], y[: 32 * steps], batch_size=32, epochs=1, verbose=0)
            step_s.append((time.perf_counter() - t0) / steps)
            t0 = time.perf_counter()
            for _ in range(calls):
                check()
            check_s.append((time.perf_counter() - t0) / calls)
            t0 = time.perf_counter()
            for _ in range(calls):
                eager_check()
            eager_s.append((time.perf_counter() - t0) / calls)
        step, chk, eager = median(step_s), median(check_s), median(eager_s)
        needed = chk / (BUDGET * step)
        default_steps = max(every_default, floor_s / step)  # batches between checks with the current defaults
        entry = {
            "params": params,
            "variables": len(variables),
            "step_ms": step * 1000,
            "check_us": chk * 1e6,
            "eager_check_us": eager * 1e6,
            "build_and_trace_ms": build_trace_s * 1000,
            "pct_of_step": {str(k): 100 * chk / (k * step) for k in INTERVALS},
            "default_batches_between_checks": default_steps,
            "pct_of_step_current_default": 100 * chk / (default_steps * step),
            "min_interval_for_0.5pct": needed,
            "trace_pct_of_1500_steps": 100 * build_trace_s / (1500 * step),
        }
        out["sizes"][label] = entry
        log(f"  weight check {label}: {entry['check_us']:.0f} µs, step {entry['step_ms']:.2f} ms")
        rows.append(
            [label, f"{params:,}", len(variables), entry["step_ms"], entry["check_us"], entry["eager_check_us"],
             entry["build_and_trace_ms"]]
            + [f"{entry['pct_of_step'][str(k)]:.3f}%" for k in INTERVALS]
            + [f"{entry['pct_of_step_current_default']:.4f}% (every {default_steps:,.0f})", f"{needed:.0f}"]
        )
        del model
        keras.backend.clear_session()
    out["table"] = (
        f"Silent-NaN weight check vs model size (CPU, batch 32; median of {repeats} interleaved repeats). "
        f"The last columns are the check's amortised cost as % of one training step at each interval; "
        f"the current default is {_default_interval_label()}, i.e. every max({every_default}, "
        f"{floor_s:g} s / step) batches.\n\n"
        + md_table(
            ["model", "params", "variables", "step ms", "check µs", "eager check µs", "build+trace ms (first check of every fit)"]
            + [f"every {k}" for k in INTERVALS]
            + ["current default", "min interval for ≤0.5%"],
            rows,
        )
    )
    return out


def run(quick: bool = False, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    quiet_tensorflow()
    quiet_alertcb_logger()
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    result: dict[str, Any] = {"benchmark": "hooks", "quick": quick, "loadavg_start": loadavg()}
    log("hooks: per-batch hook cost")
    result["hooks"] = hook_costs(quick, log)
    log("hooks: per-fit hooks")
    result["per_fit"] = per_fit_costs(quick, log)
    log("hooks: weight check vs model size")
    result["weight_check"] = weight_check_costs(quick, log)
    result["tables"] = [result["hooks"]["table"], result["per_fit"]["table"], result["weight_check"]["table"]]
    return result


def main() -> None:
    args = bench_args(__doc__)
    finish(args, run(quick=args.quick))


if __name__ == "__main__":
    main()
