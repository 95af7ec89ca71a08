"""Benchmark: the outbox's write, claim and heartbeat paths (issue 13).

- **Write**: one `Outbox.add_many` of a burst of N distinct notifications (one transaction),
  against the same burst when the transaction fails and every row is written on its own
  (the fallback that keeps one bad row from failing the batch), interleaved A B A B.
- **Window**: emit() of a burst of N distinct critical incidents → the outbox commit of each
  (measured by wrapping ``Outbox.add_many``), with a destination that never answers: the
  at-risk window in which a kill -9 loses an event (after it the next Notifier re-sends).
- **Recovery**: `Outbox.claim_orphans` of N rows left by a dead owner (one transaction),
  and the heartbeat (one lease renewal).

Run: python -m bench.outbox [--quick] [--json PATH]
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import alertcb
from alertcb.channels.base import Channel, Outcome, SendContext
from alertcb.delivery.outbox import Outbox
from alertcb.events import Event
from alertcb.notification import Notification
from bench._common import bench_args, finish, md_table, median, quantile, quiet_alertcb_logger


class _Hung(Channel):
    type = "hung"

    def send(self, notification: Notification, ctx: SendContext) -> Outcome:
        threading.Event().wait(30)
        return Outcome.retry("hung")


def _notes(n: int, tag: str) -> list[tuple[Notification, list[str]]]:
    return [(Notification(events=(Event(kind="custom", title=f"{tag} {i}", severity="critical"),)), ["dest"])
            for i in range(n)]


class _FailingBatch(Outbox):
    """An outbox whose batch transaction fails once per add_many (forces the per-row path)."""

    def add_many(self, batch: list[tuple[Notification, list[str]]]) -> list[dict[str, int]]:
        real = self.db

        class Once:
            def __init__(self) -> None:
                self.failed = False

            def __getattr__(self, name: str) -> Any:
                return getattr(real, name)

            def __enter__(self) -> Any:
                return real.__enter__()

            def __exit__(self, *exc: Any) -> Any:
                return real.__exit__(*exc)

            def execute(self, sql: str, *args: Any) -> Any:
                if sql.startswith("INSERT") and not self.failed:
                    self.failed = True
                    raise OSError(28, "No space left on device")
                return real.execute(sql, *args)

        self._db = Once()  # type: ignore[assignment]
        try:
            return super().add_many(batch)
        finally:
            self._db = real


def bench_write(n: int, rounds: int, tmp: Path) -> list[list[Any]]:
    times: dict[str, list[float]] = {"one transaction": [], "row by row (fallback)": []}
    for r in range(rounds):
        for label, cls in (("one transaction", Outbox), ("row by row (fallback)", _FailingBatch)):
            box = cls(tmp / f"w{r}{label[0]}.sqlite3", owner="w")
            box.db  # noqa: B018 - open and register outside the timing
            batch = _notes(n, label)
            t0 = time.perf_counter()
            ids = box.add_many(batch)
            times[label].append((time.perf_counter() - t0) * 1000)
            assert sum(1 for d in ids if d["dest"]) >= n - 1
            box.close()
    return [[label, n, f"{median(v):.2f}", f"{median(v) * 1000 / n:.1f}"] for label, v in times.items()]


def bench_window(n: int, tmp: Path) -> list[Any]:
    commits: dict[str, float] = {}
    notifier = alertcb.Notifier([_Hung(name="dest")], run_name="w", run_dir=tmp / "runs", outbox=tmp / "win.sqlite3",
                                group_wait_s=0, flush_timeout_s=0)
    box = notifier._dispatcher.outbox
    assert box is not None
    real_add = box.add_many

    def timed(batch: list[tuple[Notification, list[str]]]) -> list[dict[str, int]]:
        out = real_add(batch)
        now = time.perf_counter()
        for note, _ in batch:
            commits[note.event.title] = now
        return out

    box.add_many = timed  # type: ignore[method-assign]
    time.sleep(0.3)  # recovery done, thread idle
    emitted: dict[str, float] = {}
    for i in range(n):
        title = f"burst {i}"
        emitted[title] = time.perf_counter()
        notifier.alert(title, severity="critical")
    deadline = time.monotonic() + 30
    while len(commits) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    notifier.close(0)
    window = sorted((commits[t] - emitted[t]) * 1000 for t in emitted if t in commits)
    return [f"burst of {n} distinct incidents", len(window), f"{quantile(window, 0.5):.1f}",
            f"{quantile(window, 0.99):.1f}", f"{window[-1]:.1f}"]


def bench_claim(n: int, tmp: Path) -> list[list[Any]]:
    path = tmp / "claim.sqlite3"
    writer = Outbox(path, owner="dead")
    writer.add_many(_notes(n, "orphan"))
    writer.release()
    writer.close()
    box = Outbox(path, owner="r")
    t0 = time.perf_counter()
    claimed = box.claim_orphans({"dest"})
    claim_ms = (time.perf_counter() - t0) * 1000
    assert len(claimed) == n
    beats = []
    for _ in range(50):
        box._renewed = 0.0
        t0 = time.perf_counter()
        box.heartbeat()
        beats.append((time.perf_counter() - t0) * 1e6)
    box.close()
    return [[f"claim_orphans, {n} rows (one transaction, decoded)", f"{claim_ms:.1f} ms"],
            ["heartbeat (lease renewal)", f"{median(beats):.0f} µs"]]


def main() -> None:
    args = bench_args(__doc__)
    quiet_alertcb_logger()
    n = 300 if args.quick else 1000
    rounds = args.repeats or (2 if args.quick else 5)
    tmp = Path(tempfile.mkdtemp(prefix="alertcb-bench-outbox-"))
    try:
        write = bench_write(n, rounds, tmp)
        window = bench_window(300, tmp)
        claim = bench_claim(2000 if args.quick else 10_000, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    tables = [
        f"Outbox write of a burst (median of {rounds} interleaved rounds)\n\n"
        + md_table(["path", "rows", "ms per burst", "µs per row"], write),
        "Window between emit() and the outbox commit, destination hung (a kill -9 inside it loses the event)\n\n"
        + md_table(["load", "committed", "p50 ms", "p99 ms", "max ms"], [window]),
        "Recovery\n\n" + md_table(["operation", "time"], claim),
    ]
    finish(args, {"write": write, "window": window, "claim": claim, "tables": tables})


if __name__ == "__main__":
    main()
