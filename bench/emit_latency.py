"""emit() latency with every channel hanging and a CPU-bound thread competing.

Run: python -m bench.emit_latency [--n 200000]

Reports p50/p99/p99.9/max in microseconds for two paths: "accepted" (the queue has
room) and "queue full" (the event is dropped and counted). Targets (issue 2):
p99 <= 20 us, p99.9 <= 100 us.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import threading
import time
from typing import ClassVar

from alertcb import Event, Notifier
from alertcb.channels.base import Channel, Outcome, SendContext
from alertcb.notification import Notification


class Hung(Channel):
    type: ClassVar[str] = "hung"

    def send(self, notification: Notification, ctx: SendContext) -> Outcome:
        threading.Event().wait()
        return Outcome.delivered()


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    s = sorted(samples_ns)
    pick = lambda q: s[min(len(s) - 1, int(q * len(s)))] / 1000.0  # noqa: E731
    return {"p50_us": pick(0.5), "p99_us": pick(0.99), "p99.9_us": pick(0.999), "max_us": s[-1] / 1000.0}


def measure(n: int, queue_size: int, busy: bool) -> dict[str, float]:
    stop = threading.Event()

    def spin() -> None:
        x = 0
        while not stop.is_set():
            x += 1

    spinner = threading.Thread(target=spin, daemon=True)
    if busy:
        spinner.start()
    with tempfile.TemporaryDirectory() as tmp:
        notifier = Notifier([Hung(name=f"hung{i}") for i in range(6)], run_name="bench", run_dir=tmp,
                            queue_size=queue_size, group_wait_s=0)
        events = [Event(kind="spike", title=f"loss spike {i % 100}", severity="critical") for i in range(1000)]
        notifier.emit(events[0])  # start the thread, let it get stuck in a hung channel
        time.sleep(0.2)
        samples = []
        clock = time.perf_counter_ns
        emit = notifier.emit
        for i in range(n):
            ev = events[i % 1000]
            t0 = clock()
            emit(ev)
            samples.append(clock() - t0)
        stats = notifier.stats()
        notifier.close(0.1)
    stop.set()
    out = percentiles(samples)
    out["accepted"] = stats["emitted"] - sum(stats["dropped"].values())
    out["dropped"] = sum(stats["dropped"].values())
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200_000)
    args = parser.parse_args()
    results = {
        "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
        "accepted_busy_thread": measure(args.n, queue_size=args.n + 10, busy=True),
        "queue_full_busy_thread": measure(args.n, queue_size=1000, busy=True),
        "accepted_idle": measure(args.n, queue_size=args.n + 10, busy=False),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
