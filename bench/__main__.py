"""``python -m bench``: run alertcb's performance benchmarks (issue 7) and print every table.

Each benchmark runs in its own process (``python -m bench.<name> --json …``) so that one
benchmark's threads, imports and memory never affect another. Raw results go to
``bench/results/<name>.raw.json`` (git-ignored); ``bench/results/summary.json`` (the
headline numbers and targets, small) and ``bench/results/report.md`` (every table) are
written at the end.

Options:
    --quick            a smoke run (about 2 minutes)
    --only a,b         run only these benchmarks
    --skip a,b         run all but these
    --list             list the benchmarks
    --results DIR      where to write (default bench/results; bench/results/quick with --quick)

The detection-quality benchmark (``python -m bench.detection``) and the Alertmanager
load test (``python -m bench.am_load``) are separate.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench._common import RESULTS, ROOT, machine, md_table

#: name -> one-line description, in running order (cheapest first).
BENCHMARKS = {
    "startup": "whole-process start-up: import alertcb, alertcb --version",
    "plot_render": "loss-curve picture render time on a background thread; import alertcb stays lazy",
    "emit_latency": "emit() p50/p99/p99.9 with hung channels and a competing thread",
    "storm": "1,000,000 emits of one anomaly: messages, peak RSS, emit p99",
    "delivery": "emit -> webhook latency, throughput with/without outbox, outbox window",
    "outbox": "outbox burst write (batch vs per-row fallback), emit -> commit window, claim of 10,000 rows",
    "hooks": "per-batch hook cost per callback; weight check vs model size and interval",
    "slow_endpoint": "RemoteMonitor / sync httpx / alertcb against a 2 s endpoint",
    "overhead": "model.fit overhead: none / TerminateOnNaN / alertcb console / alertcb all hung",
}


def _git_revision() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "alertcb"], cwd=ROOT, capture_output=True,
                               text=True, timeout=10).stdout.strip()
    except OSError:
        return "unknown"
    return rev + (" + uncommitted changes in alertcb/" if dirty else "")


def _get(d: Any, *path: str, default: Any = None) -> Any:
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return default
        d = d[key]
    return d


def summarize(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The headline numbers, each with its target (if any) and whether it was met."""
    rows: list[dict[str, Any]] = []

    def add(what: str, value: Any, target: str = "", met: bool | None = None) -> None:
        rows.append({"what": what, "value": value, "target": target, "met": met})

    ov = results.get("overhead")
    if ov:
        for model, data in ov["models"].items():
            for variant in ("alertcb console", "alertcb all hung", "alertcb all hung + alerts"):
                v = _get(data, "variants", variant)
                if v:
                    r = v["ratio_of_medians"]
                    add(f"fit time {model}: {variant} / none (ratio of medians; paired {v['median_paired_ratio']:.3f}, "
                        f"of minima {v.get('ratio_of_minima', float('nan')):.3f})",
                        round(r, 3), "≤ 1.02" if variant != "alertcb all hung + alerts" else "", r <= 1.02
                        if variant != "alertcb all hung + alerts" else None)
    se = results.get("slow_endpoint")
    if se:
        for variant in ("keras RemoteMonitor", "sync httpx per epoch", "alertcb per epoch"):
            v = _get(se, "variants", variant)
            if v:
                add(f"2 s endpoint, fit time: {variant} / none", round(v["ratio_of_medians"], 2))
    el = results.get("emit_latency")
    if el:
        for name, cfg in el["configs"].items():
            m = cfg["median"]
            add(f"emit() p99 / p99.9 µs: {name}", f"{m['p99_us']:.2f} / {m['p99.9_us']:.1f}",
                "≤ 20 / ≤ 100", m["p99_us"] <= 20 and m["p99.9_us"] <= 100)
    de = results.get("delivery")
    if de:
        for label, lat in de["latency"].items():
            add(f"delivery latency p50 / p99 ms ({label})", f"{lat['p50_ms']:.1f} / {lat['p99_ms']:.1f}",
                "p50 ≤ 20", lat["p50_ms"] <= 20)
        for label, runs in de["sustained"].items():
            rate = sorted(r["notifications_per_s"] for r in runs)[len(runs) // 2]
            add(f"sustained throughput, notifications/s ({label})", round(rate), "≥ 500", rate >= 500)
        w = _get(de, "latency", "outbox", "emit_to_outbox_commit")
        if w:
            add("emit → outbox commit window p50 / p99 ms (idle)", f"{w['p50_ms']:.2f} / {w['p99_ms']:.2f}")
    hk = results.get("hooks")
    if hk:
        d = _get(hk, "hooks", "rows", "default_callbacks (all 5, direct)")
        if d:
            add("default_callbacks per-batch hook cost, µs (mean)", round(d["mean_us"], 1))
        big = _get(hk, "weight_check", "sizes", "1e7")
        if big:
            pct = big.get("pct_of_step_current_default", float("nan"))
            add(f"weight check, 1e7 params: % of a step with the current default (every "
                f"{big.get('default_batches_between_checks', float('nan')):,.0f} batches)", f"{pct:.4f}%", "≤ 0.5%",
                pct <= 0.5)
            add("weight check, 1e7 params: smallest interval (batches) for ≤ 0.5%",
                round(big["min_interval_for_0.5pct"], 1))
        worst = max((s["min_interval_for_0.5pct"] for s in _get(hk, "weight_check", "sizes", default={}).values()),
                    default=None)
        if worst is not None:
            add("weight check: smallest interval (batches) for ≤ 0.5% on every model measured", round(worst, 1))
        traces = [s["build_and_trace_ms"] for s in _get(hk, "weight_check", "sizes", default={}).values()]
        if traces:
            add("weight check build + tf.function trace, ms, paid once per fit (median over models)",
                round(sorted(traces)[len(traces) // 2]))
    st = results.get("startup")
    if st:
        for name, c in st["commands"].items():
            add(f"start-up median ms: {name}", round(c["median_ms"]),
                f"≤ {c['target_ms']:.0f}" if c["target_ms"] else "", c["met"])
    sm = results.get("storm")
    if sm:
        add(f"storm ({sm['n']:,} emits): messages received by the webhook", len(sm["received"]), "≤ 5",
            len(sm["received"]) <= 5)
        growth = sm["peak_rss_mib"] - sm["rss_before_mib"]
        add("storm: peak RSS − RSS before, MiB", round(growth, 1), "≤ 20 MB", growth <= 20)
        add("storm: emit p99 / p99.9 µs", f"{sm['emit_p99_us']:.2f} / {sm['emit_p99.9_us']:.1f}")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--only", default="", help="comma-separated benchmarks to run")
    parser.add_argument("--skip", default="", help="comma-separated benchmarks to skip")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--results", type=Path, default=None,
                        help="output folder (default bench/results, bench/results/quick with --quick)")
    args = parser.parse_args(argv)
    if args.list:
        for name, what in BENCHMARKS.items():
            print(f"{name:15s} {what}")
        return 0
    only = [s for s in args.only.split(",") if s]
    skip = {s for s in args.skip.split(",") if s}
    unknown = [s for s in [*only, *skip] if s not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
    names = [n for n in BENCHMARKS if (not only or n in only) and n not in skip]
    if args.results is None:
        args.results = RESULTS / "quick" if args.quick else RESULTS
    args.results.mkdir(parents=True, exist_ok=True)
    started = time.time()
    info = {"machine": machine(), "revision": _git_revision(), "quick": args.quick,
            "command": "python -m bench" + (" --quick" if args.quick else "")
            + (f" --only {args.only}" if only else "") + (f" --skip {args.skip}" if skip else ""),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    m = info["machine"]
    header = (f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']} ({m['virtualization']}), "
              f"Python {m['python']}, " + ", ".join(f"{k} {v}" for k, v in m["versions"].items())
              + f"; load average at start {m['loadavg']}; alertcb revision {info['revision']}")
    print(header + "\n", flush=True)
    results: dict[str, dict[str, Any]] = {}
    timings: dict[str, float] = {}
    failed: list[str] = []
    for name in names:
        out = args.results / f"{name}.raw.json"
        cmd = [sys.executable, "-m", f"bench.{name}", "--json", str(out)] + (["--quick"] if args.quick else [])
        print(f"== {name}: {BENCHMARKS[name]}", file=sys.stderr, flush=True)
        t0 = time.time()
        proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        timings[name] = time.time() - t0
        if proc.returncode != 0 or not out.exists():
            print(f"!! {name} failed (exit {proc.returncode})", file=sys.stderr, flush=True)
            failed.append(name)
            continue
        results[name] = json.loads(out.read_text())
        print(f"## {name} ({timings[name]:.0f} s)\n", flush=True)
        print(proc.stdout, flush=True)
    headline = summarize(results)
    table = md_table(
        ["measurement", "value", "target", "met"],
        [[r["what"], r["value"], r["target"], "" if r["met"] is None else ("yes" if r["met"] else "**no**")]
         for r in headline],
    )
    print("## Summary\n\n" + table, flush=True)
    info.update(seconds=round(time.time() - started), seconds_per_benchmark={k: round(v) for k, v in timings.items()},
                failed=failed, headline=headline)
    (args.results / "summary.json").write_text(json.dumps(info, indent=2, default=str) + "\n")
    report = [header, ""]
    for name, res in results.items():
        report += [f"## {name}", ""] + [t + "\n" for t in res.get("tables", [])]
    report += ["## Summary", "", table, ""]
    (args.results / "report.md").write_text("\n".join(report))
    print(f"\nwrote {args.results / 'summary.json'} and {args.results / 'report.md'} "
          f"({info['seconds']} s in all)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
