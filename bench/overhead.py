"""Benchmark 1: what alertcb costs a real ``model.fit``, side by side with the alternatives.

Two models (a small MLP at ~1-2 ms per step and a small CNN), each trained with:

- ``none``: no callbacks;
- ``TerminateOnNaN``: ``keras.callbacks.TerminateOnNaN()``;
- ``alertcb console``: ``alertcb.keras.default_callbacks(notifier)`` with the embedded
  default (Console channel, run directory, SQLite outbox); the console output goes to
  a StringIO through the ``alertcb`` logger;
- ``alertcb all hung``: the same plus Webhook, Slack, WeCom, PagerDuty, Alertmanager
  and Email, every one pointed at a loopback server that accepts connections and never
  answers (SMTP never sends its banner);
- ``alertcb all hung + alerts``: the same, plus one critical alert per epoch, so the
  dispatcher is busy with (and stuck in) the hung endpoints *during* training.

Variants are interleaved (A B C D E A B C D E …) after one warm-up round, in one
process (the model's train function is traced once). The timed region is
``model.fit`` only; a fresh Notifier (with its own run directory and outbox) is built
before and closed after each run. Reported: median fit time, ratio of medians to
``none`` and the median of the per-round ratios.

Run: python -m bench.overhead [--quick] [--json PATH]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

from bench._common import (
    LoopbackServer,
    bench_args,
    cpu_seconds,
    finish,
    hung_channels,
    interleave,
    loadavg,
    md_table,
    median,
    quiet_alertcb_logger,
    quiet_tensorflow,
    ratios_to,
)

VARIANTS = ("none", "TerminateOnNaN", "alertcb console", "alertcb all hung", "alertcb all hung + alerts")


def build_models(keras: Any) -> dict[str, dict[str, Any]]:
    import numpy as np

    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    mlp = keras.Sequential(
        [
            keras.Input((20,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(1),
        ],
        name="mlp",
    )
    mlp.compile(optimizer="adam", loss="mse", metrics=["mae"])
    cnn = keras.Sequential(
        [
            keras.Input((16, 16, 1)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10, activation="softmax"),
        ],
        name="cnn",
    )
    cnn.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x_mlp = rng.normal(size=(16_000, 20)).astype("float32")
    y_mlp = (x_mlp[:, :1] * 0.5 + rng.normal(scale=0.1, size=(16_000, 1))).astype("float32")
    x_cnn = rng.random(size=(8_000, 16, 16, 1), dtype="float32")
    y_cnn = rng.integers(0, 10, size=(8_000,))
    return {
        "MLP": {"model": mlp, "x": x_mlp, "y": y_mlp, "params": mlp.count_params()},
        "CNN": {"model": cnn, "x": x_cnn, "y": y_cnn, "params": cnn.count_params()},
    }


HOOKS = (
    "on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
    "on_train_batch_end", "on_batch_end", "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
)


class HookTimer:
    """Accumulates the training thread's time inside the hooks a callback overrides.

    The wrapper itself costs one ``perf_counter_ns`` pair per call (~0.2 µs), charged to alertcb.
    """

    def __init__(self) -> None:
        self.ns = 0
        self.calls = 0

    def wrap(self, keras: Any, callbacks: list[Any]) -> None:
        base = keras.callbacks.Callback
        clock = time.perf_counter_ns
        for cb in callbacks:
            for name in HOOKS:
                if getattr(type(cb), name, None) is getattr(base, name, None):
                    continue  # not overridden: Keras' no-op
                setattr(cb, name, self._timed(getattr(cb, name), clock))

    def _timed(self, fn: Callable[..., Any], clock: Callable[[], int]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                self.ns += clock() - t0
                self.calls += 1

        return timed


def thread_cpu_s(exclude: set[int]) -> dict[int, float]:
    """CPU seconds (user + system) of each live Python thread not in ``exclude`` (by native id)."""
    import os
    import threading

    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, float] = {}
    for thread in threading.enumerate():
        tid = thread.native_id
        if tid is None or tid in exclude:
            continue
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[tid] = (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            continue
    return out


class EpochAlert:
    """A tiny callback factory: one critical ``notifier.alert`` per epoch (distinct titles)."""

    @staticmethod
    def make(keras: Any, notifier: Any) -> Any:
        class _EpochAlert(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                loss = (logs or {}).get("loss", float("nan"))
                notifier.alert(f"epoch {epoch} finished", f"loss={loss:.4f}", severity="critical")

        return _EpochAlert()


def _bench_model(keras: Any, model_name: str, spec: dict[str, Any], plan: tuple[int, int, int],
                 hang: LoopbackServer, repeats: int, log: Callable[[str], None]) -> tuple[dict[str, Any], str]:
    import alertcb
    import alertcb.keras

    epochs, steps, batch = plan
    model, x, y = spec["model"], spec["x"][: steps * batch], spec["y"][: steps * batch]
    closes: dict[str, list[float]] = {v: [] for v in VARIANTS}
    cpu: dict[str, list[float]] = {v: [] for v in VARIANTS}
    pending: dict[str, list[int]] = {v: [] for v in VARIANTS}
    in_hooks_ms: dict[str, list[float]] = {v: [] for v in VARIANTS}
    bg_cpu_ms: dict[str, list[float]] = {v: [] for v in VARIANTS}

    def make_variant(variant: str) -> Callable[[], float]:
        def one() -> float:
            import threading

            tmp = tempfile.mkdtemp(prefix="alertcb-bench-")
            before = {t.native_id for t in threading.enumerate() if t.native_id is not None}
            notifier = None
            timer = HookTimer()
            callbacks: list[Any] = []
            if variant == "TerminateOnNaN":
                callbacks = [keras.callbacks.TerminateOnNaN()]
                timer.wrap(keras, callbacks)  # the reference: what one stock callback's hook costs inside fit
            elif variant == "alertcb console":
                notifier = alertcb.Notifier(run_name="bench", run_dir=tmp)
            elif variant.startswith("alertcb all hung"):
                notifier = alertcb.Notifier(hung_channels(hang), console=True, run_name="bench", run_dir=tmp)
            if notifier is not None:
                callbacks = alertcb.keras.default_callbacks(notifier)
                if variant.endswith("+ alerts"):
                    callbacks.append(EpochAlert.make(keras, notifier))
                timer.wrap(keras, callbacks)
            bg0 = thread_cpu_s(before)
            cpu0 = cpu_seconds()
            start = time.perf_counter()
            model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, callbacks=callbacks, shuffle=False)
            elapsed = time.perf_counter() - start
            cpu[variant].append(cpu_seconds() - cpu0)
            if callbacks:
                in_hooks_ms[variant].append(timer.ns / 1e6)
            if notifier is not None:
                bg1 = thread_cpu_s(before)
                bg_cpu_ms[variant].append(1000 * sum(v - bg0.get(t, 0.0) for t, v in bg1.items()))
            if notifier is not None:
                t0 = time.perf_counter()
                left = notifier.close(timeout_s=1.0 if "hung" in variant else 10.0)
                closes[variant].append(time.perf_counter() - t0)
                pending[variant].append(left)
            shutil.rmtree(tmp, ignore_errors=True)
            return elapsed

        return one

    log(f"overhead: {model_name} ({spec['params']:,} params, {epochs}x{steps} steps of {batch})")
    model.fit(x[: 2 * batch], y[: 2 * batch], batch_size=batch, epochs=1, verbose=0)  # trace the train step
    warm: dict[str, float] = {}
    samples = interleave({v: make_variant(v) for v in VARIANTS}, repeats, warmup=repeats > 1, warmups=warm, log=log)
    stats = ratios_to(samples, "none")
    cpu_stats = ratios_to({v: c[-repeats:] for v, c in cpu.items()}, "none")
    steps_total = epochs * steps
    attributed = {
        v: {
            "in_hooks_ms": median(in_hooks_ms[v][-repeats:]),
            "background_cpu_ms": median(bg_cpu_ms[v][-repeats:]) if bg_cpu_ms[v] else 0.0,
            "pct_of_fit": 100 * (median(in_hooks_ms[v][-repeats:]) + (median(bg_cpu_ms[v][-repeats:]) if bg_cpu_ms[v] else 0.0))
            / (1000 * stats["none"]["median_s"]),
        }
        for v in VARIANTS
        if in_hooks_ms[v]
    }
    data = {
        "params": spec["params"],
        "epochs": epochs,
        "steps_per_epoch": steps,
        "batch_size": batch,
        "repeats": repeats,
        "variants": stats,
        "cpu": cpu_stats,
        "attributed": attributed,
        "warmup_s": warm,
        "extra_ms_per_fit_vs_none": {v: (s["median_s"] - stats["none"]["median_s"]) * 1000 for v, s in stats.items()},
        "close_s_median": {v: (median(c) if c else None) for v, c in closes.items()},
        "pending_at_close": pending,
    }
    rows = [
        [
            v,
            s["median_s"],
            s["median_s"] / steps_total * 1000,
            f"{s['ratio_of_medians']:.3f}",
            f"{s['median_paired_ratio']:.3f}",
            f"{s['ratio_of_minima']:.3f}",
            f"{s['min_s']:.2f}–{s['max_s']:.2f}",
            cpu_stats[v]["median_s"],
            f"{cpu_stats[v]['median_paired_ratio']:.3f}",
            "" if data["close_s_median"][v] is None else f"{data['close_s_median'][v]:.2f}",
        ]
        for v, s in stats.items()
    ]
    table = (
        f"**{model_name}** ({spec['params']:,} parameters, {epochs} epoch(s) x {steps} steps, batch {batch}; "
        f"median of {repeats} interleaved rounds)\n\n"
        + md_table(
            ["callbacks", "fit s (median)", "ms/step", "ratio of medians", "median paired ratio", "ratio of minima",
             "range s",
             "CPU s (median)", "CPU paired ratio", "close() s, after fit"],
            rows,
        )
    )
    table += (
        "\n\nDirectly attributed cost per fit (less sensitive to machine load): the training thread's time inside "
        "the callbacks' hooks (TerminateOnNaN as the reference), plus the CPU used by alertcb's own threads (dispatcher, senders, scheduler) during "
        "`fit`, as % of the median `none` fit\n\n"
        + md_table(
            ["callbacks", "in the callbacks' hooks, ms/fit", "alertcb threads CPU, ms/fit", "% of a fit", "µs per step"],
            [[v, a["in_hooks_ms"], a["background_cpu_ms"], f"{a['pct_of_fit']:.2f}%",
              1000 * (a["in_hooks_ms"] + a["background_cpu_ms"]) / steps_total] for v, a in attributed.items()],
        )
    )
    return data, table


def run(quick: bool = False, log: Callable[[str], None] | None = None, repeats: int | None = None,
        only: Sequence[str] = ()) -> dict[str, Any]:
    quiet_tensorflow()
    import keras

    sink = quiet_alertcb_logger()
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    models = build_models(keras)
    plans = {
        # name: (epochs, steps per epoch, batch size)
        "MLP": (1, 200, 32) if quick else (3, 500, 32),
        "CNN": (1, 50, 32) if quick else (2, 250, 32),
    }
    rounds = {"MLP": repeats or (1 if quick else 7), "CNN": repeats or (1 if quick else 5)}
    result: dict[str, Any] = {"benchmark": "overhead", "quick": quick, "loadavg_start": loadavg(), "models": {}}
    tables: list[str] = []
    with LoopbackServer("hang") as hang:
        for model_name, spec in models.items():
            if only and model_name not in only:
                continue
            data, table = _bench_model(keras, model_name, spec, plans[model_name], hang, rounds[model_name], log)
            result["models"][model_name] = data
            tables.append(table)
    result["console_chars_written"] = len(sink.getvalue())
    result["tables"] = tables
    return result


def main() -> None:
    args = bench_args(__doc__)
    finish(args, run(quick=args.quick, repeats=args.repeats))


if __name__ == "__main__":
    main()
