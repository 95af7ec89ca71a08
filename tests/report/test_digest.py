"""ProgressDigest: interval parsing, job options, content, and no backlog after a stall."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from alertcb.errors import ConfigError
from alertcb.events import Event
from alertcb.report.digest import ProgressDigest, parse_interval

from .helpers import FakeNotifier, make_tracker, simulate


@pytest.fixture
def notifier() -> Iterator[FakeNotifier]:
    from alertcb.scheduling import Scheduler

    fake = FakeNotifier()
    fake.scheduler = Scheduler()
    try:
        yield fake
    finally:
        fake.scheduler.shutdown()


@pytest.mark.parametrize(
    ("every", "seconds"),
    [
        ("1h", 3600),
        ("30m", 1800),
        ("90s", 90),
        ("1h30m", 5400),
        ("2d", 172800),
        ("1.5h", 5400),
        ("90", 90),
        (" 2 m ", 120),
        ("1500ms", 1.5),
        (90, 90),
        (2.5, 2.5),
        ("1H", 3600),
    ],
)
def test_parse_interval(every: Any, seconds: float) -> None:
    """Durations with units, plain numbers and numeric strings are seconds."""
    assert seconds == parse_interval(every)


@pytest.mark.parametrize(
    "every", ["", "abc", "1x", "h", "-5", "1h-", 0, 0.5, -1, True, None, math.nan, math.inf, [1]]
)
def test_parse_interval_rejects_nonsense(every: Any) -> None:
    """Anything else raises ConfigError naming 'every'."""
    with pytest.raises(ConfigError, match="every"):
        parse_interval(every)


def test_job_is_coalesced_and_never_queues(notifier: FakeNotifier) -> None:
    """The interval job: coalesce, one instance at a time, a misfire grace of one interval."""
    tracker, _ = make_tracker(notifier)
    digest = ProgressDigest(notifier, every="30m", tracker=tracker)
    [job] = notifier.scheduler.get_jobs()
    assert (True, 1, 1800) == (job.coalesce, job.max_instances, job.misfire_grace_s)
    assert 1800 == job.interval_s
    digest.cancel()
    digest.cancel()
    assert [] == notifier.scheduler.get_jobs()


def test_digest_content(notifier: FakeNotifier) -> None:
    """Epoch x/y, metrics, ETA and the alerts since the previous digest."""
    tracker, clock = make_tracker(notifier)
    digest = ProgressDigest(notifier, every="1h", tracker=tracker, start=False)
    simulate(tracker, clock, epochs=3, planned=10, steps=50, spike_at=60)
    first = digest.emit_now()
    assert first is not None and first in notifier.events
    d = first.details
    assert ("progress", 3, 10, 1) == (first.kind, d["epoch"], d["epochs_planned"], d["alerts_since"]["total"])
    assert pytest.approx(30.0) == d["percent"]
    assert pytest.approx(7 * 1.5) == d["eta_s"]
    assert first.message.startswith("epoch 4/10 (30%) · ETA 10.5 s · loss=")
    assert first.message.endswith("1 new alert")
    second = digest.emit_now()
    assert second is not None and 0 == second.details["alerts_since"]["total"]
    assert second.message.endswith("no new alerts")
    notifier.emit(Event(kind="plateau", title="val_loss plateau"))
    third = digest.emit_now()
    assert third is not None and {"plateau": 1} == third.details["alerts_since"]["by_kind"]


def test_no_digest_before_or_after_training(notifier: FakeNotifier) -> None:
    """Digests are skipped while training is not running."""
    tracker, clock = make_tracker(notifier)
    digest = ProgressDigest(notifier, tracker=tracker, start=False)
    assert digest.emit_now() is None
    simulate(tracker, clock, epochs=1)
    assert digest.emit_now() is not None
    tracker.train_end()
    assert digest.emit_now() is None
    assert 1 == sum(e.kind == "progress" for e in notifier.events)


def test_without_a_tracker_it_still_counts_alerts(notifier: FakeNotifier) -> None:
    """tracker=None: uptime and the alerts the notifier emitted."""
    digest = ProgressDigest(notifier, every=60, start=False)
    notifier.emit(Event(kind="spike", title="loss spike"))
    notifier.emit(Event(kind="spike", title="loss spike", status="resolved"))
    event = digest.emit_now()
    assert event is not None and {"spike": 1} == event.details["alerts_since"]["by_kind"]
    assert event.message.startswith("running ")


def test_bad_tracker_is_refused(notifier: FakeNotifier) -> None:
    """A tracker without progress() is a ConfigError naming 'tracker'."""
    with pytest.raises(ConfigError, match="tracker"):
        ProgressDigest(notifier, tracker=object())  # type: ignore[arg-type]


def test_runs_on_the_real_notifier_scheduler(tmp_path: Any) -> None:
    """With a real Notifier, a 1 s digest is delivered and rendered by the channel."""
    from alertcb.notifier import Notifier
    from alertcb.testing import RecordingChannel

    recorder = RecordingChannel()
    real = Notifier(channels=[recorder], run_name="t", run_dir=False, outbox=False, group_wait_s=0.0)
    try:
        tracker, clock = make_tracker(real)
        simulate(tracker, clock, epochs=2, planned=5, steps=10, spike_at=None)
        ProgressDigest(real, every=1, tracker=tracker)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(e.kind == "progress" for e in recorder.events):
            time.sleep(0.05)
    finally:
        real.close(5)
    [text] = [
        t for n, t in zip(recorder.notifications, recorder.texts, strict=True) if n.event.kind == "progress"
    ][:1]
    assert "progress: epoch 3/5 (40%)" in text


def test_a_stall_does_not_queue_digests(notifier: FakeNotifier) -> None:
    """While one digest is stuck (emit blocked ~3 intervals), no others run; none pile up afterwards."""
    tracker, clock = make_tracker(notifier)
    simulate(tracker, clock, epochs=1)
    calls: list[float] = []
    release = threading.Event()
    original = notifier.emit

    def slow_emit(event: Event) -> bool:
        calls.append(time.monotonic())
        if len(calls) == 1:
            release.wait(10)
        return original(event)

    notifier.emit = slow_emit  # type: ignore[method-assign]
    started = time.monotonic()
    digest = ProgressDigest(notifier, every=1, tracker=tracker)
    try:
        while not calls and time.monotonic() - started < 5:
            time.sleep(0.01)
        first = calls[0]
        time.sleep(max(0.0, first + 2.3 - time.monotonic()))  # the runs due at +1 s and +2 s are skipped
        release.set()
        time.sleep(max(0.0, first + 2.7 - time.monotonic()))
        assert 1 == len(calls), calls  # nothing ran in parallel, nothing queued up behind the stall
        time.sleep(max(0.0, first + 4.5 - time.monotonic()))
        gaps = [b - a for a, b in zip(calls, calls[1:], strict=False)]
        assert len(calls) <= 3 and all(gap > 0.5 for gap in gaps), gaps  # back on the interval, no burst
    finally:
        digest.cancel()
        release.set()
