"""Load benchmark: many training jobs alerting through a clustered Alertmanager pair.

``--jobs`` simulated jobs (threads, each with its own `alertcb.Notifier` and
Alertmanager channel listing both instances) open an incident every
``--interval-s`` and resolve it ``--hold-s`` later, for ``--seconds``. Two real
Alertmanager processes, clustered by gossip on loopback, notify one webhook
receiver. Each incident is its own Alertmanager group (``group_by: [incident]``),
the worst case for notification volume.

Reported: whether every incident's firing and resolved notification arrived;
extra copies (Alertmanager is at-least-once: a peer whose pipeline started before
a change sends its stale copy, the merged notification log can make the first
peer repeat itself, and a failed webhook POST is retried), split by same/other
instance; flaps (an instance notifying "firing" again after "resolved" for the
same incident, what an expired lease or a re-ordered resolve from alertcb would
cause: must be 0); throughput; and end-to-end latency, emit -> receiver,
p50/p99, excluding a warm-up (50 Notifiers starting at once in one process).
The latency includes Alertmanager's ``group_wait`` (firing) and
``group_interval`` (resolved), 1 s each by default.

Run:  python -m bench.am_load --seconds 60            (table on stdout; default: $AM_LOAD_SECONDS or 60)
      python -m bench.am_load --seconds 60 --json out.json
"""

from __future__ import annotations

import argparse
import dataclasses
import http.server
import json
import math
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

#: Not ALERTCB_*: `Notifier.from_env` rejects unknown ALERTCB_ variables.
ALERTMANAGER_BIN = os.environ.get("ALERTMANAGER_BIN", "/usr/bin/prometheus-alertmanager")
STATUSES = ("firing", "resolved")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- the receiver
class HookReceiver:
    """Records, per (incident, status), the arrival times and the sending instance."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrivals: dict[tuple[str, str], list[tuple[float, str]]] = {}
        self.notifications = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                now = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.record(now, json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        class Server(http.server.ThreadingHTTPServer):
            request_queue_size = 256  # bursts of notifications must not be refused at accept()
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="hook-receiver", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def record(self, now: float, body: dict[str, Any]) -> None:
        with self.lock:
            self.notifications += 1
            for alert in body.get("alerts", []):
                key = (alert["labels"].get("incident", ""), alert["status"])
                self.arrivals.setdefault(key, []).append((now, body.get("externalURL", "")))

    def start(self) -> HookReceiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _duration(seconds: float) -> str:
    """Seconds as an Alertmanager/Go duration (``1500ms``)."""
    return f"{round(seconds * 1000)}ms"


# ---------------------------------------------------------------- the Alertmanager pair
class AlertmanagerPair:
    """Two real Alertmanagers clustered on loopback (each lists the other as its peer)."""

    def __init__(
        self, workdir: Path, receiver_url: str, *, group_wait_s: float = 1.0, group_interval_s: float = 1.0,
        peer_timeout_s: float = 1.0,
    ) -> None:
        self.workdir = workdir
        self.peer_timeout_s = peer_timeout_s
        self.config = workdir / "alertmanager.yml"
        self.config.write_text(
            "route:\n"
            "  receiver: hook\n"
            "  group_by: [incident]\n"
            f"  group_wait: {_duration(group_wait_s)}\n"
            f"  group_interval: {_duration(group_interval_s)}\n"
            "  repeat_interval: 1h\n"
            "receivers:\n"
            "  - name: hook\n"
            "    webhook_configs:\n"
            f"      - url: '{receiver_url}'\n"
            "        send_resolved: true\n"
        )
        self.procs: list[subprocess.Popen[bytes]] = []
        self.urls: list[str] = []

    def start(self, timeout_s: float = 30.0) -> AlertmanagerPair:
        web = [free_port(), free_port()]
        gossip = [free_port(), free_port()]
        for i in (0, 1):
            storage = self.workdir / f"data-{i}"
            storage.mkdir(exist_ok=True)
            url = f"http://127.0.0.1:{web[i]}"
            cmd = [
                ALERTMANAGER_BIN,
                f"--config.file={self.config}",
                f"--storage.path={storage}",
                f"--web.listen-address=127.0.0.1:{web[i]}",
                f"--web.external-url={url}",  # the receiver tells the instances apart by it
                f"--cluster.listen-address=127.0.0.1:{gossip[i]}",
                f"--cluster.peer=127.0.0.1:{gossip[1 - i]}",
                "--cluster.settle-timeout=2s",
                f"--cluster.peer-timeout={_duration(self.peer_timeout_s)}",
                "--cluster.gossip-interval=100ms",
                "--cluster.pushpull-interval=1s",
                "--log.level=warn",
            ]
            with open(self.workdir / f"alertmanager-{i}.log", "wb") as log:
                self.procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))
            self.urls.append(url)
        deadline = time.monotonic() + timeout_s
        while not all(self._settled(u) for u in self.urls):
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                self.stop()
                raise RuntimeError(f"Alertmanager cluster did not form; logs in {self.workdir}")
            time.sleep(0.1)
        return self

    @staticmethod
    def _settled(url: str) -> bool:
        """Both peers joined and gossip settled (until then an instance holds notifications back)."""
        try:
            with urllib.request.urlopen(url + "/api/v2/status", timeout=1) as resp:
                cluster = json.load(resp)["cluster"]
        except OSError:
            return False
        return len(cluster.get("peers") or []) == 2 and cluster.get("status") == "ready"

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# ---------------------------------------------------------------- the jobs
@dataclasses.dataclass
class JobLog:
    """What one simulated job emitted and when alertcb had it accepted by both instances,
    keyed by (fingerprint, status): wall times."""

    emitted: dict[tuple[str, str], float] = dataclasses.field(default_factory=dict)
    accepted: dict[tuple[str, str], float] = dataclasses.field(default_factory=dict)
    stats: dict[str, Any] = dataclasses.field(default_factory=dict)
    pending_at_close: int = 0


def _timed_channel(urls: list[str], log: JobLog) -> Any:
    """The Alertmanager channel, noting when each incident state was first accepted."""
    from alertcb.channels import Alertmanager

    class TimedAlertmanager(Alertmanager):
        def send(self, notification: Any, ctx: Any) -> Any:
            outcome = super().send(notification, ctx)
            if outcome.verdict == "delivered":
                now = time.time()
                for event in notification.events:
                    log.accepted.setdefault((event.fingerprint, event.status), now)
            return outcome

    return TimedAlertmanager(urls=urls, resend_interval_s=60)


def run_job(index: int, urls: list[str], stop_at: float, interval_s: float, hold_s: float, log: JobLog) -> None:
    """One training job: open an incident every ~interval_s, resolve each after hold_s, then drain."""
    from alertcb import Notifier
    from alertcb.events import Event

    rng = random.Random(index)
    notifier = Notifier(
        [_timed_channel(urls, log)],
        run_name=f"job-{index:02d}",
        job="am-load",
        worker="worker:0",
        run_dir=False,
        outbox=False,
        group_wait_s=0,
        flush_timeout_s=30,
    )
    open_incidents: list[tuple[float, Event]] = []
    number = 0
    next_open = time.monotonic() + rng.uniform(0, interval_s)
    while True:
        now = time.monotonic()
        if now >= next_open and now < stop_at:
            severity = "critical" if number % 4 == 0 else "warning"
            event = notifier.event("custom", f"incident {number}", f"job {index} incident {number}", severity=severity)
            log.emitted[(event.fingerprint, "firing")] = time.time()
            notifier.emit(event)
            open_incidents.append((now + hold_s * rng.uniform(0.75, 1.25), event))
            open_incidents.sort(key=lambda item: item[0])
            number += 1
            next_open += interval_s * rng.uniform(0.5, 1.5)
        while open_incidents and open_incidents[0][0] <= now:
            _, event = open_incidents.pop(0)
            resolved = dataclasses.replace(event, status="resolved", time=time.time())
            log.emitted[(event.fingerprint, "resolved")] = time.time()
            notifier.emit(resolved)
        if now >= stop_at and not open_incidents:
            break
        wake = min([next_open if now < stop_at else math.inf, *(due for due, _ in open_incidents[:1])])
        time.sleep(max(0.0, min(wake - time.monotonic(), 0.5)))
    log.pending_at_close = notifier.close(30)
    log.stats = notifier.stats()


# ---------------------------------------------------------------- the measurement
@dataclasses.dataclass
class LoadResult:
    jobs: int
    seconds: float
    incidents: int
    posts_per_instance: int
    missing: dict[str, int]
    extra_copies: dict[str, int]  # copies beyond the first, by (same|other) instance and state
    flaps: int  # an instance notified "firing" after it had notified "resolved"
    repeated_firing: int  # an instance notified one incident "firing" twice
    notifications: int
    latency_s: dict[str, dict[str, float]]
    steady_latency_s: dict[str, dict[str, float]]
    accept_latency_s: dict[str, float]
    warmup_s: float
    alertcb: dict[str, int]
    wall_s: float

    @property
    def ok(self) -> bool:
        return (
            not any(self.missing.values())
            and self.flaps == 0
            and self.alertcb["failed"] == 0
            and self.alertcb["dropped"] == 0
        )

    def table(self) -> str:
        rows = [
            ("simulated jobs (threads, one Notifier each)", f"{self.jobs}"),
            ("alerting phase (latency: first warm-up excluded)", f"{self.seconds:.0f} s ({self.warmup_s:.0f} s)"),
            ("incidents opened and resolved", f"{self.incidents:,}"),
            ("alertcb notifications delivered (each POSTed to both)", f"{self.posts_per_instance:,} "
             f"({self.posts_per_instance / self.seconds:,.1f}/s)"),
            ("notifications at the receiver", f"{self.notifications:,} ({self.notifications / self.seconds:,.1f}/s)"),
            ("incidents missing a firing / resolved notification", f"{self.missing['firing']} / {self.missing['resolved']}"),
            ("extra copies, other instance: firing / resolved",
             f"{self.extra_copies['other_firing']} / {self.extra_copies['other_resolved']}"),
            ("extra copies, same instance: firing / resolved",
             f"{self.extra_copies['same_firing']} / {self.extra_copies['same_resolved']}"),
            ("incidents that flapped (firing again after resolved)", f"{self.flaps}"),
            ("alertcb dropped / failed / retried", f"{self.alertcb['dropped']} / {self.alertcb['failed']} / {self.alertcb['retried']}"),
        ]
        acc = self.accept_latency_s
        rows.append(("emit -> accepted by both Alertmanagers: p50 / p99 / max",
                     f"{acc['p50'] * 1000:.0f} / {acc['p99'] * 1000:.0f} / {acc['max'] * 1000:.0f} ms"))
        for label, figures in (("", self.steady_latency_s), (", incl. warm-up", self.latency_s)):
            for status in STATUSES:
                lat = figures[status]
                rows.append((f"emit -> receiver, {status}{label}: p50 / p99 / max",
                             f"{lat['p50']:.2f} / {lat['p99']:.2f} / {lat['max']:.2f} s"))
        width = max(len(r[0]) for r in rows)
        lines = [f"| {'measure':<{width}} | value |", f"|{'-' * (width + 2)}|-------|"]
        lines += [f"| {name:<{width}} | {value} |" for name, value in rows]
        return "\n".join(lines)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def _summary(values: list[float]) -> dict[str, float]:
    return {"p50": percentile(values, 50), "p99": percentile(values, 99), "max": max(values, default=math.nan),
            "n": float(len(values))}


def run_load(
    seconds: float = 60.0,
    jobs: int = 50,
    interval_s: float = 1.0,
    hold_s: float = 3.0,
    drain_timeout_s: float = 30.0,
    workdir: Path | None = None,
    group_interval_s: float = 1.0,
    peer_timeout_s: float = 1.0,
    warmup_s: float = 3.0,
) -> LoadResult:
    """Run the whole benchmark and return its measurements (raises if Alertmanager is missing)."""
    if not (os.path.exists(ALERTMANAGER_BIN) or shutil.which(ALERTMANAGER_BIN)):
        raise FileNotFoundError(f"{ALERTMANAGER_BIN} not found (apt-get install prometheus-alertmanager)")
    own_dir = workdir is None
    folder = Path(tempfile.mkdtemp(prefix="am-load-")) if workdir is None else workdir
    receiver = HookReceiver().start()
    pair = AlertmanagerPair(folder, receiver.url, group_interval_s=group_interval_s, peer_timeout_s=peer_timeout_s).start()
    started = time.monotonic()
    started_wall = time.time()
    try:
        logs = [JobLog() for _ in range(jobs)]
        stop_at = time.monotonic() + seconds
        threads = [
            threading.Thread(target=run_job, args=(i, pair.urls, stop_at, interval_s, hold_s, logs[i]), name=f"job-{i}")
            for i in range(jobs)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        emitted = {key: t for log in logs for key, t in log.emitted.items()}
        deadline = time.monotonic() + drain_timeout_s
        while time.monotonic() < deadline:
            with receiver.lock:
                if all(key in receiver.arrivals for key in emitted):
                    break
            time.sleep(0.2)
        time.sleep(2 * (peer_timeout_s + group_interval_s) + 1)  # late HA duplicates land here
    finally:
        pair.stop()
        receiver.stop()
    wall_s = time.monotonic() - started
    with receiver.lock:
        arrivals = {k: list(v) for k, v in receiver.arrivals.items()}
        notifications = receiver.notifications
    missing = Counter(key[1] for key in emitted if key not in arrivals)
    extra: Counter[str] = Counter()
    flaps = 0
    repeated_firing = 0
    latency: dict[str, list[float]] = {s: [] for s in STATUSES}
    steady: dict[str, list[float]] = {s: [] for s in STATUSES}
    for key, emit_time in emitted.items():
        got = arrivals.get(key)
        if not got:
            continue
        latency[key[1]].append(min(t for t, _ in got) - emit_time)
        if emit_time - started_wall >= warmup_s:
            steady[key[1]].append(latency[key[1]][-1])
        senders = Counter(sender for _, sender in got)
        extra[f"same_{key[1]}"] += sum(n - 1 for n in senders.values())
        extra[f"other_{key[1]}"] += len(senders) - 1
        if key[1] == "firing":
            repeated_firing += sum(1 for n in senders.values() if n > 1)
            resolved = arrivals.get((key[0], "resolved"), [])
            flaps += any(
                t_fire > t_res for t_fire, s_fire in got for t_res, s_res in resolved if s_fire == s_res
            )
    accepted = {key: t for log in logs for key, t in log.accepted.items()}
    accept_latency = [
        accepted[key] - emit_time
        for key, emit_time in emitted.items()
        if key in accepted and emit_time - started_wall >= warmup_s
    ]
    totals = Counter[str]()
    for log in logs:
        lane = log.stats.get("destinations", {}).get("alertmanager", {})
        totals["delivered"] += int(lane.get("delivered", 0))
        totals["retried"] += int(lane.get("retried", 0))
        totals["failed"] += sum(lane.get("failed", {}).values())
        totals["dropped"] += sum(log.stats.get("dropped", {}).values())
        totals["pending"] += log.pending_at_close
    if own_dir:
        shutil.rmtree(folder, ignore_errors=True)
    return LoadResult(
        jobs=jobs,
        seconds=seconds,
        incidents=sum(1 for _, status in emitted if status == "firing"),
        posts_per_instance=totals["delivered"],
        missing={s: missing.get(s, 0) for s in STATUSES},
        extra_copies={f"{w}_{st}": extra.get(f"{w}_{st}", 0) for w in ("other", "same") for st in STATUSES},
        flaps=flaps,
        repeated_firing=repeated_firing,
        notifications=notifications,
        latency_s={s: _summary(v) for s, v in latency.items()},
        steady_latency_s={s: _summary(v) for s, v in steady.items()},
        accept_latency_s=_summary(accept_latency),
        warmup_s=warmup_s,
        alertcb=dict(totals),
        wall_s=wall_s,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.am_load", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("AM_LOAD_SECONDS", 60)))
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--interval-s", type=float, default=1.0, help="mean time between new incidents of one job")
    parser.add_argument("--hold-s", type=float, default=3.0, help="how long an incident stays open")
    parser.add_argument("--group-interval-s", type=float, default=1.0, help="Alertmanager group_interval")
    parser.add_argument("--peer-timeout-s", type=float, default=1.0, help="Alertmanager --cluster.peer-timeout")
    parser.add_argument("--json", type=Path, help="also write the result as JSON here")
    args = parser.parse_args(argv)
    result = run_load(
        args.seconds, args.jobs, args.interval_s, args.hold_s,
        group_interval_s=args.group_interval_s, peer_timeout_s=args.peer_timeout_s,
    )
    print(result.table())
    if args.json:
        args.json.write_text(json.dumps(dataclasses.asdict(result), indent=2))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
