"""Benchmark 4: delivery latency and throughput to a loopback webhook receiver.

The receiver is a separate process (HTTP/1.1 keep-alive, answers 200 at once) that
stamps every POST with ``time.monotonic_ns()`` when its body has been read; the
benchmark stamps each ``emit()`` with the same system-wide clock.

- **Latency**: critical events (distinct titles, so each is its own incident and no
  group wait applies) emitted one at a time, 50 ms apart, alternating between a
  Notifier with the SQLite outbox and one without (A B A B …). p50/p99 of
  emit → arrival. For the outbox Notifier, the window between ``emit()`` and the
  outbox commit of its notification (issue 6) is measured by wrapping its
  ``Outbox.add_many`` (the commit happens inside it).
- **Throughput, sustained**: ``rate_limits=False``, distinct titles, at most 100
  notifications in flight (so the lane never coalesces into digests: it does above
  200 queued): notifications per second until the last one is delivered, with and
  without the outbox, interleaved. The receiver reports how many TCP connections the
  requests came on (connection reuse).
  A third configuration sends ``progress`` events (never grouped, so they open no
  incident) to separate the delivery pipeline from the grouping bookkeeping.
- **Throughput, burst**: N events emitted at once; the dispatcher coalesces a queue of
  more than 200 into digests, so both HTTP requests/s and events/s are reported, with
  the emit → outbox-commit window under that load.

Run: python -m bench.delivery [--quick] [--json PATH]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import alertcb
from alertcb.channels import Webhook
from alertcb.events import Severity
from bench._common import (
    LoopbackServer,
    bench_args,
    finish,
    loadavg,
    md_table,
    median,
    quantile,
    quiet_alertcb_logger,
)

TARGET_P50_MS = 20.0
TARGET_RATE = 500.0


class Probe:
    """A Notifier to the receiver whose outbox commits are timestamped (by wrapping ``Outbox.add_many``)."""

    def __init__(self, url: str, *, outbox: bool, label: str) -> None:
        self.tmp = tempfile.mkdtemp(prefix="alertcb-bench-")
        self.label = label
        self.notifier = alertcb.Notifier(
            [Webhook(url=url)], run_name=f"delivery-{label}", run_dir=self.tmp, outbox=outbox, rate_limits=False
        )
        self.emitted_ns: dict[str, int] = {}
        self.committed_ns: dict[str, int] = {}
        box = self.notifier._dispatcher.outbox
        if box is not None:  # the commit happens inside add_many (or add, in older versions)
            for method in ("add_many", "add"):
                if hasattr(box, method):
                    setattr(box, method, self._stamp(getattr(box, method)))

    def _stamp(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any) -> Any:
            out = original(*args)
            now = time.monotonic_ns()
            notes = [args[0]] if len(args) == 2 else [note for note, _ in args[0]]
            for note in notes:
                for event in note.events:
                    self.committed_ns.setdefault(event.title, now)
            return out

        return wrapper

    def emit(self, title: str, kind: str = "custom") -> None:
        event = self.notifier.event(kind, title, "benchmark", severity=Severity.CRITICAL)
        self.emitted_ns[title] = time.monotonic_ns()
        self.notifier.emit(event)

    def delivered(self) -> int:
        return int(self.notifier.stats()["destinations"]["webhook"]["delivered"])

    def wait_delivered(self, count: int, timeout_s: float) -> float:
        deadline = time.monotonic() + timeout_s
        while self.delivered() < count and time.monotonic() < deadline:
            time.sleep(0.001)
        return time.monotonic()

    def close(self) -> None:
        self.notifier.close(timeout_s=5)
        shutil.rmtree(self.tmp, ignore_errors=True)


def _ms(values_ns: list[int]) -> dict[str, float]:
    s = sorted(v / 1e6 for v in values_ns)
    return {"n": len(s), "p50_ms": quantile(s, 0.5), "p99_ms": quantile(s, 0.99), "max_ms": s[-1] if s else float("nan")}


def latency(server: LoopbackServer, n: int) -> dict[str, Any]:
    server.reset()
    probes = [Probe(server.url(), outbox=True, label="outbox"), Probe(server.url(), outbox=False, label="no-outbox")]
    for p in probes:  # start each dispatcher thread and open the connection / outbox
        p.emit(f"{p.label} warm-up")
        p.wait_delivered(1, 10)
    for i in range(n):
        for p in probes:
            p.emit(f"{p.label} {i}")
            time.sleep(0.05)
    for p in probes:
        p.wait_delivered(n + 1, 10)
    arrivals = {a["title"]: a["t_ns"] for a in server.arrivals()}
    out: dict[str, Any] = {}
    for p in probes:
        lat = [arrivals[t] - p.emitted_ns[t] for t in p.emitted_ns if t in arrivals and "warm-up" not in t]
        out[p.label] = _ms(lat)
        out[p.label]["missing"] = sum(1 for t in p.emitted_ns if t not in arrivals)
        if p.committed_ns:
            win = [p.committed_ns[t] - p.emitted_ns[t] for t in p.emitted_ns if t in p.committed_ns and "warm-up" not in t]
            out[p.label]["emit_to_outbox_commit"] = _ms(win)
        p.close()
    return out


def sustained(server: LoopbackServer, n: int, outbox: bool, in_flight: int = 100, kind: str = "custom") -> dict[str, Any]:
    server.reset()
    p = Probe(server.url(), outbox=outbox, label="outbox" if outbox else "no-outbox")
    p.emit("warm-up")
    p.wait_delivered(1, 10)
    server.reset()
    start = time.monotonic()
    sent = 0
    while sent < n:
        done = p.delivered() - 1
        while sent < n and sent - done < in_flight:
            p.emit(f"t {sent}", kind)
            sent += 1
        time.sleep(0.0005)
    end = p.wait_delivered(n + 1, 60)
    arrivals = server.arrivals()
    rate = n / (end - start)
    stamps = sorted(a["t_ns"] for a in arrivals)
    k = max(2, len(stamps) // 5)
    first = (k - 1) / ((stamps[k - 1] - stamps[0]) / 1e9) if len(stamps) >= k and stamps[k - 1] > stamps[0] else float("nan")
    last = (k - 1) / ((stamps[-1] - stamps[-k]) / 1e9) if len(stamps) >= k and stamps[-1] > stamps[-k] else float("nan")
    win = [p.committed_ns[t] - p.emitted_ns[t] for t in p.emitted_ns if t in p.committed_ns and t != "warm-up"]
    p.close()
    return {
        "n": n,
        "seconds": end - start,
        "notifications_per_s": rate,
        "requests": len(arrivals),
        "connections": len({a["peer"] for a in arrivals}),
        "rate_first_fifth_per_s": first,
        "rate_last_fifth_per_s": last,
        "emit_to_outbox_commit": _ms(win) if win else None,
    }


def burst(server: LoopbackServer, n: int, outbox: bool) -> dict[str, Any]:
    server.reset()
    p = Probe(server.url(), outbox=outbox, label="outbox" if outbox else "no-outbox")
    p.emit("warm-up")
    p.wait_delivered(1, 10)
    server.reset()
    start = time.monotonic()
    for i in range(n):
        p.emit(f"b {i}")
    end = p.wait_delivered(n + 1, 120)
    arrivals = server.arrivals()
    events = sum(a["events"] for a in arrivals)
    win = [p.committed_ns[t] - p.emitted_ns[t] for t in p.emitted_ns if t in p.committed_ns and t != "warm-up"]
    stats = p.notifier.stats()["destinations"]["webhook"]
    p.close()
    return {
        "n": n,
        "seconds": end - start,
        "events_per_s": n / (end - start),
        "requests": len(arrivals),
        "requests_per_s": len(arrivals) / (end - start),
        "events_in_requests": events,
        "coalesced": stats["coalesced"],
        "emit_to_outbox_commit": _ms(win) if win else None,
    }


def grouping_scan_cost(counts: tuple[int, ...]) -> dict[str, float]:
    """µs per dispatcher loop iteration spent in ``Grouper.tick/waiting/next_due`` with K open incidents.

    The dispatcher calls all three on every wake-up (``_step`` and ``_wait``); each scans every
    open incident. K open incidents are made the way a run makes them: K critical events
    with distinct titles (sent at once, so none is waiting).
    """
    from alertcb.delivery.grouping import Grouper
    from alertcb.events import Event

    out: dict[str, float] = {}
    for k in counts:
        grouper = Grouper(group_wait_s=5.0)
        now = time.monotonic()
        for i in range(k):
            grouper.process(Event(kind="custom", title=f"incident {i}", severity=Severity.CRITICAL), now)
        reps = max(20, 200_000 // max(k, 1))
        start = time.perf_counter_ns()
        for _ in range(reps):
            grouper.tick(now)
            grouper.waiting()
            grouper.next_due()
        out[str(k)] = (time.perf_counter_ns() - start) / reps / 1000
    return out


def run(quick: bool = False, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    quiet_alertcb_logger()
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    n_lat = 30 if quick else 200
    n_tp = 500 if quick else 3000
    n_burst = 500 if quick else 2000
    repeats = 1 if quick else 3
    result: dict[str, Any] = {"benchmark": "delivery", "quick": quick, "loadavg_start": loadavg()}
    with LoopbackServer("fast") as server:
        log(f"delivery: latency ({n_lat} events per notifier, interleaved)")
        result["latency"] = latency(server, n_lat)
        log("delivery: sustained throughput")
        tp: dict[str, list[dict[str, Any]]] = {"outbox": [], "no-outbox": [], "outbox, progress events": []}
        bu: dict[str, list[dict[str, Any]]] = {"outbox": [], "no-outbox": []}
        for r in range(repeats):
            for outbox in (True, False):
                tp["outbox" if outbox else "no-outbox"].append(sustained(server, n_tp, outbox))
            tp["outbox, progress events"].append(sustained(server, n_tp, True, kind="progress"))
            log(f"  sustained round {r + 1}/{repeats}")
        log("delivery: burst")
        for r in range(repeats):
            for outbox in (True, False):
                bu["outbox" if outbox else "no-outbox"].append(burst(server, n_burst, outbox))
            log(f"  burst round {r + 1}/{repeats}")
    result["sustained"] = tp
    result["burst"] = bu
    result["grouping_scan_us"] = grouping_scan_cost((0, 100, 1000, 10_000))
    lat = result["latency"]
    tables = [
        f"Delivery latency, emit() of a critical event → arrival at a loopback webhook receiver "
        f"({n_lat} events per configuration, 50 ms apart, interleaved; target p50 ≤ {TARGET_P50_MS:.0f} ms)\n\n"
        + md_table(
            ["configuration", "p50 ms", "p99 ms", "max ms", "lost"],
            [[k, v["p50_ms"], v["p99_ms"], v["max_ms"], v["missing"]] for k, v in lat.items()],
        ),
    ]
    window_rows = []
    if "emit_to_outbox_commit" in lat.get("outbox", {}):
        w = lat["outbox"]["emit_to_outbox_commit"]
        window_rows.append(["one event at a time (idle dispatcher)", w["p50_ms"], w["p99_ms"], w["max_ms"]])
    for label, runs in (("sustained, ≤100 in flight", tp["outbox"]), ("burst, all at once", bu["outbox"])):
        ws = [r["emit_to_outbox_commit"] for r in runs if r.get("emit_to_outbox_commit")]
        if ws:
            window_rows.append([label, median([w["p50_ms"] for w in ws]), median([w["p99_ms"] for w in ws]),
                                median([w["max_ms"] for w in ws])])
    tables.append(
        f"Throughput to a fast loopback receiver, `rate_limits=False`, distinct titles (median of {repeats} "
        f"interleaved runs; target ≥ {TARGET_RATE:.0f} notifications/s)\n\n"
        + md_table(
            ["mode", "outbox / events", "notifications", "HTTP requests", "TCP connections", "seconds",
             "notifications/s", "HTTP requests/s", "req/s, first fifth → last fifth"],
            [["sustained (≤100 in flight)", k, n_tp, median([r["requests"] for r in v]),
              median([r["connections"] for r in v]), median([r["seconds"] for r in v]),
              median([r["notifications_per_s"] for r in v]), median([r["requests"] / r["seconds"] for r in v]),
              f"{median([r['rate_first_fifth_per_s'] for r in v]):.0f} → "
              f"{median([r['rate_last_fifth_per_s'] for r in v]):.0f}"]
             for k, v in tp.items()]
            + [["burst (all emitted at once; >200 queued → digests)", k, n_burst, median([r["requests"] for r in v]),
                "", median([r["seconds"] for r in v]), median([r["events_per_s"] for r in v]),
                median([r["requests_per_s"] for r in v]), ""]
               for k, v in bu.items()],
        )
    )
    tables.append(
        "Window between `emit()` and the outbox commit of its notification (the at-risk window of issue 6: "
        "a crash inside it loses the event; after it the next Notifier re-delivers)\n\n"
        + md_table(["load", "p50 ms", "p99 ms", "max ms"], window_rows)
    )
    scan = result["grouping_scan_us"]
    tables.append(
        "Dispatcher bookkeeping per loop iteration (`Grouper.tick` + `waiting` + `next_due`, called on every "
        "wake-up) vs open incidents (`max_incidents` defaults to 10,000); it grew linearly with open incidents "
        "before 535bfa3 (3.3 ms at 10,000)\n\n"
        + md_table(["open incidents", "µs per dispatcher iteration"], [[f"{int(k):,}", v] for k, v in scan.items()])
    )
    result["tables"] = tables
    return result


def main() -> None:
    args = bench_args(__doc__)
    finish(args, run(quick=args.quick))


if __name__ == "__main__":
    main()
