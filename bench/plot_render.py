"""Benchmark: the loss-curve picture's render time and what it costs ``import alertcb``.

The picture is drawn by matplotlib (Agg, no pyplot) on the dispatcher's background thread
when the summary is handled; matplotlib is imported there, lazily, never by ``import alertcb``.

Measured, all on this machine, interleaved and side by side:

1. Whole processes (median wall time): ``python -c pass`` (the floor), ``python -c "import
   alertcb"`` (target <= 150 ms), ``import alertcb.report.plot`` (must not pull matplotlib in),
   and ``import matplotlib.figure + backend_agg`` (what the first picture pays once).
2. In a fresh process, on a background thread as the dispatcher does it: the first picture
   (matplotlib import + font set-up + drawing) and the following ones, for a short run
   (12 epochs, 600 steps) and a long one (1,000 epochs, 2,000 batch buckets, 200 alert markers,
   a NaN stretch, 60 lifecycle events); and `build_report` (PNG + report.html) for the short run.

Run: python -m bench.plot_render [--quick] [--json PATH]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

from bench._common import ROOT, bench_args, finish, loadavg, md_table, median

TARGET_IMPORT_MS = 150.0

_IMPORTS = {
    "python -c pass": "pass",
    "import alertcb": "import alertcb",
    "import alertcb.report.plot": "import sys, alertcb.report.plot; assert 'matplotlib' not in sys.modules",
    "import matplotlib Figure + Agg": "import matplotlib.figure, matplotlib.backends.backend_agg",
}

# Runs in a fresh process: draws on a background thread, prints JSON timings (seconds).
_RENDER = r"""
import json, math, sys, tempfile, threading, time
sys.path.insert(0, {root!r})

def long_details():
    steps = 2000
    return {{
        "status": "diverged", "steps_per_epoch": 20, "epochs_done": 1000, "steps_done": 20000,
        "epochs": [{{"epoch": i, "metrics": {{"loss": (1 / (1 + i)) if i < 990 else "NaN",
                                            "val_loss": 1.2 / (1 + i)}}}} for i in range(1000)],
        "batch_loss": {{"stride": 10, "steps": [i * 10 for i in range(steps)],
                       "values": [1 / (1 + i / 20) if i < 1980 else None for i in range(steps)]}},
        "markers": [{{"kind": ("spike", "plateau", "divergence")[i % 3],
                      "severity": ("warning", "critical")[i % 2], "epoch": i * 5, "step": i * 100}}
                    for i in range(200)],
        "timeline": [{{"kind": ("checkpoint", "lr_change")[i % 2], "epoch": i * 16, "step": i * 320 + 19,
                       "details": {{"is_best": True, "path": "c.keras", "old": 0.1, "new": 0.05}}}}
                     for i in range(60)],
        "monitor": {{"name": "val_loss", "best_epoch": 999, "best_value": 0.0012}},
    }}

from tests.report.helpers import summary_event
short = summary_event("crashed").details
longd = long_details()
out = {{}}

def work():
    from alertcb.report.plot import loss_curve_png
    t = time.perf_counter(); loss_curve_png(short); out["first_s"] = time.perf_counter() - t
    out["short_s"], out["long_s"], out["build_report_s"] = [], [], []
    for _ in range({repeats}):
        t = time.perf_counter(); loss_curve_png(short); out["short_s"].append(time.perf_counter() - t)
        t = time.perf_counter(); loss_curve_png(longd); out["long_s"].append(time.perf_counter() - t)
    from alertcb.render import Renderer
    from alertcb.report.artifacts import build_report
    renderer = Renderer()
    with tempfile.TemporaryDirectory() as folder:
        for _ in range({repeats}):
            t = time.perf_counter(); build_report(summary_event("crashed"), renderer, folder)
            out["build_report_s"].append(time.perf_counter() - t)
    out["pyplot_loaded"] = "matplotlib.pyplot" in sys.modules

thread = threading.Thread(target=work, name="alertcb-dispatcher-like")
thread.start(); thread.join()
print(json.dumps(out))
"""


def _time_process(code: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, cwd="/", check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def run(quick: bool = False, repeats: int | None = None) -> dict[str, Any]:
    rounds = repeats or (3 if quick else 15)
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env_src = dict(env, PYTHONPATH=str(ROOT))  # measure this checkout, not whatever is installed
    samples: dict[str, list[float]] = {name: [] for name in _IMPORTS}
    for code in _IMPORTS.values():  # warm the page cache once
        _time_process(code, env_src)
    for _ in range(rounds):
        for name, code in _IMPORTS.items():
            samples[name].append(_time_process(code, env_src))
    floor = median(samples["python -c pass"])
    result: dict[str, Any] = {"benchmark": "plot_render", "quick": quick, "rounds": rounds,
                              "loadavg_start": loadavg(), "imports": {}}
    rows = []
    for name, values in samples.items():
        ms = median(values) * 1000
        result["imports"][name] = {"median_ms": ms, "minus_floor_ms": ms - floor * 1000, "samples_s": values}
        target = f"≤ {TARGET_IMPORT_MS:.0f} ms: {'met' if ms <= TARGET_IMPORT_MS else 'MISSED'}" if name == "import alertcb" else ""
        rows.append([name, ms, min(values) * 1000, ms - floor * 1000, target])
    tables = [f"Whole processes (median of {rounds} interleaved rounds)\n\n"
              + md_table(["command", "median ms", "min ms", "minus `python -c pass` ms", "target"], rows)]
    proc = subprocess.run(
        [sys.executable, "-c", _RENDER.format(root=str(ROOT), repeats=max(3, rounds))],
        env=env_src, cwd="/", capture_output=True, text=True, check=True, timeout=600,
    )
    render = json.loads(proc.stdout.strip().splitlines()[-1])
    result["render"] = render
    render_rows = [
        ["first picture in a process (imports matplotlib)", render["first_s"] * 1000, ""],
        ["short run (12 epochs, 600 steps)", median(render["short_s"]) * 1000, max(render["short_s"]) * 1000],
        ["long run (1,000 epochs, 2,000 buckets, 200 markers, NaN stretch)", median(render["long_s"]) * 1000,
         max(render["long_s"]) * 1000],
        ["build_report, short run (PNG + report.html written)", median(render["build_report_s"]) * 1000,
         max(render["build_report_s"]) * 1000],
    ]
    tables.append("Loss-curve picture on a background thread (as the dispatcher draws it); "
                  f"pyplot loaded: {render['pyplot_loaded']}\n\n"
                  + md_table(["what", "median ms", "max ms"], render_rows))
    result["tables"] = tables
    return result


def main() -> None:
    args = bench_args(__doc__)
    os.chdir(ROOT)
    finish(args, run(quick=args.quick, repeats=args.repeats))


if __name__ == "__main__":
    main()
