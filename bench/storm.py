"""Benchmark 7: a storm of 1,000,000 emits of one anomaly.

A child process (so its peak RSS is its own) builds a Notifier with a Webhook to a fast
loopback receiver plus the console (to a StringIO) and the default run directory and
outbox, then emits the same critical anomaly (``kind="nonfinite"``, title
``"loss is NaN"``, a fresh `Event` each time, as a naive detector would) 1,000,000 times
in a tight loop, timing each ``emit``. Then one ``resolved`` event and ``close()``.

Reported: messages that reached the receiver, the notifier's accounting (emitted,
processed, dropped by reason, suppressed repeats), lines written to ``events.jsonl``,
RSS before the storm and peak RSS (``ru_maxrss``), emit p50/p99/p99.9 and emits/s.
Issue 6 asks for at most 5 messages per destination and RSS growth within 20 MB.

Run: python -m bench.storm [--quick] [--json PATH]
"""

from __future__ import annotations

import array
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import ROOT, LoopbackServer, bench_args, finish, loadavg, md_table, percentiles_us


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(url: str, n: int) -> dict[str, Any]:
    """Runs in the child process: the storm itself."""
    from bench._common import quiet_alertcb_logger

    quiet_alertcb_logger()
    import alertcb
    from alertcb import Event, Severity
    from alertcb.channels import Webhook

    tmp = tempfile.mkdtemp(prefix="alertcb-storm-")
    notifier = alertcb.Notifier([Webhook(url=url)], console=True, run_name="storm", run_dir=tmp)
    samples = array.array("q", bytes(8 * n))
    run = notifier.run
    warm = Event(kind="custom", title="warm-up", severity=Severity.INFO, run=run)
    notifier.emit(warm)
    notifier.flush(5)
    rss_before = _rss_mib()
    clock = time.perf_counter_ns
    emit = notifier.emit
    start = time.perf_counter()
    for i in range(n):
        event = Event(kind="nonfinite", title="loss is NaN", message=f"batch {i}", severity=Severity.CRITICAL,
                      run=run, step=i, metrics={"loss": float("nan")})
        t0 = clock()
        emit(event)
        samples[i] = clock() - t0
    storm_s = time.perf_counter() - start
    rss_after_storm = _rss_mib()
    notifier.emit(Event(kind="nonfinite", title="loss is NaN", message="finite again", severity=Severity.CRITICAL,
                        run=run, status="resolved"))
    flush_start = time.perf_counter()
    pending = notifier.flush(60)
    flush_s = time.perf_counter() - flush_start
    stats = notifier.stats()
    notifier.close(5)
    events_lines = 0
    jsonl = Path(tmp) / "storm" / "events.jsonl"
    if jsonl.exists():
        events_lines = sum(1 for _ in jsonl.open())
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    pct = percentiles_us(list(samples))
    return {
        "n": n,
        "storm_s": storm_s,
        "emits_per_s": n / storm_s,
        "emit_mean_us": sum(samples) / n / 1000,
        **{f"emit_{k}": v for k, v in pct.items()},
        "rss_before_mib": rss_before,
        "rss_after_storm_mib": rss_after_storm,
        "peak_rss_mib": peak_rss,
        "flush_s": flush_s,
        "pending_after_flush": pending,
        "stats": stats,
        "events_jsonl_lines": events_lines,
    }


def run(quick: bool = False) -> dict[str, Any]:
    n = 100_000 if quick else 1_000_000
    with LoopbackServer("fast") as server:
        proc = subprocess.run(
            [sys.executable, "-m", "bench.storm", "--child", server.url(), str(n)],
            cwd=ROOT, capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        data = json.loads(proc.stdout.strip().splitlines()[-1])
        arrivals = server.arrivals()
    data["received"] = [{"title": a["title"], "events": a["events"]} for a in arrivals if a["title"] != "warm-up"]
    stats = data["stats"]
    hook = stats["destinations"].get("webhook", {})
    console = stats["destinations"].get("console", {})
    rows = [
        ["emits", f"{n:,}"],
        ["wall time of the storm loop (s)", data["storm_s"]],
        ["emits/s (including building each Event)", f"{data['emits_per_s']:,.0f}"],
        ["emit p50 / p99 / p99.9 / max (µs)",
         f"{data['emit_p50_us']:.2f} / {data['emit_p99_us']:.2f} / {data['emit_p99.9_us']:.1f} / {data['emit_max_us']:,.0f}"],
        ["messages received by the webhook (storm + resolve)", len(data["received"])],
        ["webhook delivered / console delivered", f"{hook.get('delivered')} / {console.get('delivered')}"],
        ["accounting: emitted / processed / dropped", f"{stats['emitted']:,} / {stats['processed']:,} / {stats['dropped']}"],
        ["suppressed repeats", f"{stats.get('suppressed_repeats', 0):,}"],
        ["lines in events.jsonl", data["events_jsonl_lines"]],
        ["RSS before storm (MiB)", data["rss_before_mib"]],
        ["RSS after storm (MiB)", data["rss_after_storm_mib"]],
        ["peak RSS (MiB)", data["peak_rss_mib"]],
        ["peak RSS − RSS before (MiB)", data["peak_rss_mib"] - data["rss_before_mib"]],
        ["flush after the storm (s)", data["flush_s"]],
    ]
    return {
        "benchmark": "storm",
        "quick": quick,
        "loadavg_start": loadavg(),
        **data,
        "tables": [
            f"Storm: {n:,} emits of one anomaly in a tight loop (Webhook to a fast loopback receiver + console, "
            "run directory and outbox on)\n\n" + md_table(["", "value"], rows)
        ],
    }


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], int(sys.argv[3])), default=str))
        return
    args = bench_args(__doc__)
    finish(args, run(quick=args.quick))


if __name__ == "__main__":
    main()
