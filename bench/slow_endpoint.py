"""Benchmark 2: per-epoch notifications to an endpoint that answers in 2 s, three ways.

The same small MLP ``fit`` (3 epochs x 500 steps) with:

- ``none``: no callbacks;
- ``keras RemoteMonitor``: ``keras.callbacks.RemoteMonitor`` (a synchronous
  ``requests.post`` on the training thread at every epoch end);
- ``sync httpx per epoch``: the way most notification callbacks are written, an
  ``httpx.post(...)`` in ``on_epoch_end``;
- ``alertcb per epoch``: the same per-epoch message handed to
  ``notifier.emit(notifier.event("progress", ...))`` from ``on_epoch_end`` and delivered
  by a `Webhook` channel (progress events are never grouped: sent at once).

All three post to the same loopback server, which answers every request 200 after 2 s.
Interleaved (A B C D …) after a warm-up round. Timed: ``model.fit``. For alertcb, the
time ``close()`` then waits for the last message is reported separately (it is not
training time), and the endpoint's count of received messages shows nothing was lost.

Run: python -m bench.slow_endpoint [--quick] [--json PATH]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from bench._common import (
    LoopbackServer,
    bench_args,
    finish,
    interleave,
    loadavg,
    md_table,
    median,
    quiet_alertcb_logger,
    quiet_tensorflow,
    ratios_to,
)

VARIANTS = ("none", "keras RemoteMonitor", "sync httpx per epoch", "alertcb per epoch")


def run(quick: bool = False, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    quiet_tensorflow()
    import httpx
    import keras

    import alertcb
    from alertcb.channels import Webhook
    from bench.overhead import build_models

    quiet_alertcb_logger()
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    epochs, steps, batch = (1, 150, 32) if quick else (3, 500, 32)
    repeats = 1 if quick else 3
    spec = build_models(keras)["MLP"]
    model, x, y = spec["model"], spec["x"][: steps * batch], spec["y"][: steps * batch]
    received: dict[str, list[int]] = {v: [] for v in VARIANTS}
    close_s: dict[str, list[float]] = {v: [] for v in VARIANTS}

    class SyncNotify(keras.callbacks.Callback):
        def __init__(self, url: str) -> None:
            super().__init__()
            self.url = url

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            httpx.post(self.url, json={"text": f"epoch {epoch + 1} finished", "logs": logs or {}}, timeout=10)

    class AlertcbNotify(keras.callbacks.Callback):
        def __init__(self, notifier: Any) -> None:
            super().__init__()
            self.notifier = notifier

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            metrics = {k: float(v) for k, v in (logs or {}).items()}
            self.notifier.emit(
                self.notifier.event("progress", f"epoch {epoch + 1} finished", "", severity="info",
                                    epoch=epoch, metrics=metrics)
            )

    with LoopbackServer("slow", delay_s=2.0) as slow:

        def make(variant: str) -> Callable[[], float]:
            def one() -> float:
                slow.reset()
                tmp = tempfile.mkdtemp(prefix="alertcb-bench-")
                notifier = None
                callbacks: list[Any] = []
                if variant == "keras RemoteMonitor":
                    callbacks = [keras.callbacks.RemoteMonitor(root=slow.url(""), path="/publish/epoch/end/")]
                elif variant == "sync httpx per epoch":
                    callbacks = [SyncNotify(slow.url("/notify"))]
                elif variant == "alertcb per epoch":
                    notifier = alertcb.Notifier([Webhook(url=slow.url("/alertcb"))], run_name="slow", run_dir=tmp)
                    callbacks = [AlertcbNotify(notifier)]
                start = time.perf_counter()
                model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, callbacks=callbacks, shuffle=False)
                elapsed = time.perf_counter() - start
                if notifier is not None:
                    t0 = time.perf_counter()
                    notifier.close(timeout_s=30)
                    close_s[variant].append(time.perf_counter() - t0)
                shutil.rmtree(tmp, ignore_errors=True)
                received[variant].append(len(slow.arrivals()))
                return elapsed

            return one

        log(f"slow endpoint: MLP {epochs}x{steps} steps, endpoint answers in 2 s")
        model.fit(x[: 2 * batch], y[: 2 * batch], batch_size=batch, epochs=1, verbose=0)  # trace the train step
        samples = interleave({v: make(v) for v in VARIANTS}, repeats, warmup=not quick, log=log)
    stats = ratios_to(samples, "none")
    result: dict[str, Any] = {
        "benchmark": "slow_endpoint",
        "quick": quick,
        "loadavg_start": loadavg(),
        "epochs": epochs,
        "steps_per_epoch": steps,
        "repeats": repeats,
        "variants": stats,
        "received": received,
        "close_s": close_s,
    }
    rows = [
        [v, s["median_s"], f"{s['ratio_of_medians']:.2f}", f"{s['median_paired_ratio']:.2f}",
         median(received[v][-repeats:]) if received[v] else 0,
         median(close_s[v]) if close_s[v] else ""]
        for v, s in stats.items()
    ]
    result["tables"] = [
        f"Per-epoch notifications to an endpoint that answers in 2 s (MLP, {epochs} epochs x {steps} steps; "
        f"median of {repeats} interleaved rounds)\n\n"
        + md_table(["callbacks", "fit s (median)", "ratio of medians", "median paired ratio",
                    "messages received", "close() waited s (after fit)"], rows)
    ]
    return result


def main() -> None:
    args = bench_args(__doc__)
    finish(args, run(quick=args.quick))


if __name__ == "__main__":
    main()
