"""`Lane` on its own: pump, coalesce, settle, expire, stats — on a `ManualClock`, no sleeping."""

from __future__ import annotations

import threading
from typing import ClassVar

from alertcb import Event
from alertcb.channels.base import Channel, Outcome, SendContext, classify_http
from alertcb.clock import ManualClock
from alertcb.delivery.lane import LANE_MAX_QUEUE, Lane
from alertcb.delivery.policy import DIGEST_MAX_EVENTS, Delivery, DeliveryPolicy, fold
from alertcb.notification import Attachment, Notification


class Recorder(Channel):
    """Delivers (or answers the scripted outcomes first) and records what it got."""

    type: ClassVar[str] = "recorder"

    def __init__(self, outcomes: list[Outcome] | None = None, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.outcomes = list(outcomes or [])
        self.got: list[Notification] = []

    def send(self, notification: Notification, ctx: SendContext) -> Outcome:
        outcome = self.outcomes.pop(0) if self.outcomes else Outcome.delivered()
        if outcome.verdict == "delivered":
            self.got.append(notification)
        return outcome


class Pager(Recorder):
    type: ClassVar[str] = "pager"
    coalesce: ClassVar[bool] = False


class Harness:
    """A lane plus the dispatcher's part: settle what the sender reports."""

    def __init__(self, channel: Channel, **policy: float) -> None:
        self.clock = ManualClock()
        self.results: list[tuple[Delivery | None, Outcome | None, int | None]] = []
        self.done = threading.Event()
        self.settled: list[tuple[list[int], str, str]] = []
        self.lane = Lane(channel, DeliveryPolicy(**policy), self.clock, self._report)

    def _report(self, lane: Lane, d: Delivery | None, o: Outcome | None, named: int | None) -> None:
        self.results.append((d, o, named))
        if d is None:
            self.done.set()

    def round(self) -> None:
        """One pump; wait for its batch and settle it (as the dispatcher loop does)."""
        self.done.clear()
        self.lane.pump(self.clock.monotonic(), lambda: SendContext(None, lambda *a, **k: "", 1.0))
        if not self.lane.in_flight:
            return
        assert self.done.wait(10)
        for d, o, named in self.results:
            if d is not None and o is not None:
                s = self.lane.settle(d, o, named, self.clock.monotonic())
                if s:
                    self.settled.append(s)
        self.results.clear()
        self.lane.batch_done()

    def drain(self, step_s: float = 1.0, rounds: int = 10_000) -> None:
        for _ in range(rounds):
            if not self.lane.queue:
                return
            self.round()
            self.settled.extend(self.lane.expire(self.clock.monotonic()))
            self.clock.advance(step_s)


def incident(i: int, **kw: object) -> Notification:
    return Notification(events=(Event(kind="custom", title=f"incident {i}", severity="critical", **kw),))  # type: ignore[arg-type]


def check_accounting(lane: Lane) -> None:
    s = lane.stats()
    assert s["enqueued"] == s["notifications_delivered"] + sum(s["failed"].values()) + s["pending"]
    assert s["coalesced"] <= s["enqueued"]


def test_a_healthy_unlimited_destination_is_never_coalesced() -> None:
    """330 queued on a healthy, unlimited destination: 330 messages, no digest (issue 13 #1)."""
    channel = Recorder()
    h = Harness(channel)
    for i in range(330):
        h.lane.enqueue(incident(i), i + 1, h.clock.monotonic())
    h.drain()
    assert len(channel.got) == 330 and not any(n.digest for n in channel.got)
    s = h.lane.stats()
    assert (s["delivered"], s["incidents_named"], s["coalesced"], s["pending"]) == (330, 330, 0, 0)
    check_accounting(h.lane)


def test_a_paging_destination_is_never_coalesced_even_rate_limited_and_failing() -> None:
    """coalesce = False: every incident goes out on its own, whatever the pressure (issue 13 #2)."""
    channel = Pager([Outcome.retry("HTTP 503")] * 5, rate_limit_per_min=60)
    h = Harness(channel, retry_base_s=0.5, retry_max_s=1.0)
    for i in range(LANE_MAX_QUEUE + 30):
        h.lane.enqueue(incident(i), 0, h.clock.monotonic())
    h.drain()
    assert sorted(n.event.title for n in channel.got) == sorted(f"incident {i}" for i in range(LANE_MAX_QUEUE + 30))
    assert h.lane.stats()["coalesced"] == 0
    check_accounting(h.lane)


def test_rate_limited_digest_keeps_every_incident_and_never_folds_reports() -> None:
    """Under a rate limit the waiting incidents fold into one digest carrying all of them;
    a summary, a notification with attachments and a recovered one stay on their own."""
    channel = Recorder(rate_limit_per_min=1)
    h = Harness(channel)
    now = h.clock.monotonic()
    for i in range(50):
        h.lane.enqueue(incident(i), i + 1, now)
    summary = Notification(events=(Event(kind="summary", title="training summary"),))
    pictured = Notification(events=(Event(kind="custom", title="with picture"),), attachments=(Attachment("a.png", "image/png", b"x"),))
    h.lane.enqueue(summary, 100, now)
    h.lane.enqueue(pictured, 101, now)
    h.lane.enqueue(incident(999), 102, now, recovered=True)
    h.drain(step_s=60)
    digests = [n for n in channel.got if n.digest]
    folded = {e.title for n in digests for e in n.events}
    alone = {n.event.title for n in channel.got if not n.digest}
    assert folded | alone >= {f"incident {i}" for i in range(50)}
    assert {"training summary", "with picture", "incident 999"} <= alone
    assert all(n.unnamed == 0 for n in digests)
    s = h.lane.stats()
    assert s["coalesced"] <= s["enqueued"] == 53 and s["recovered"] == 1
    assert s["incidents_named"] + s["incidents_summarized"] == 53
    assert {i for ids, state, _ in h.settled if state == "delivered" for i in ids} == {*range(1, 51), 100, 101, 102}
    check_accounting(h.lane)


def test_fold_beyond_the_memory_bound_counts_exactly_what_it_does_not_carry() -> None:
    """A digest never carries more than DIGEST_MAX_EVENTS events; the rest are counted exactly."""
    ds = [Delivery(incident(i), [i], 0.0, 10.0) for i in range(DIGEST_MAX_EVENTS + 37)]
    digest = fold(ds, 0.0)
    assert len(digest.notification.events) == DIGEST_MAX_EVENTS
    assert digest.notification.unnamed == 37 and digest.notification.incidents == DIGEST_MAX_EVENTS + 37
    again = fold([digest, Delivery(incident(-1), [-1], 0.0, 10.0)], 0.0)
    assert again.notification.incidents == DIGEST_MAX_EVENTS + 38 and again.merged == DIGEST_MAX_EVENTS + 38


def test_retry_after_is_capped() -> None:
    """Retry-After: 86400 or an HTTP date in 2099 blocks at most max_retry_after_s (issue 13 #5)."""
    for header in ("86400", "Wed, 01 Jan 2099 00:00:00 GMT"):
        outcome = classify_http(429, {"retry-after": header})
        assert outcome.retry_after_s is not None and outcome.retry_after_s >= 86400
        channel = Recorder([outcome])
        h = Harness(channel, max_retry_after_s=30)
        h.lane.enqueue(incident(0), 1, 0.0)
        h.round()
        assert h.lane.blocked_until == 30
        h.clock.advance(29)
        h.round()
        assert channel.got == []
        h.clock.advance(1)
        h.round()
        assert len(channel.got) == 1


def test_deadline_is_enforced_while_blocked_by_retry_after() -> None:
    """A notification blocked by Retry-After past its deadline is given up, counted failed(deadline)."""
    channel = Recorder([Outcome.retry("HTTP 429", retry_after_s=600)])
    h = Harness(channel, deadline_s=10)
    h.lane.enqueue(incident(0), 7, 0.0)
    h.lane.enqueue(incident(1), 8, 0.0)
    h.round()
    assert h.lane.next_due(h.clock.monotonic()) == 10  # the deadline wakes the dispatcher
    h.clock.advance(10)
    h.settled.extend(h.lane.expire(h.clock.monotonic()))
    s = h.lane.stats()
    assert s["failed"] == {"deadline": 2} and s["pending"] == 0 and channel.got == []
    assert sorted(i for ids, state, _ in h.settled if state == "failed" for i in ids) == [7, 8]
    check_accounting(h.lane)


def test_a_failing_destination_gets_the_backlog_as_one_digest_once_it_answers() -> None:
    """While a destination fails, new incidents wait; when it answers, one digest carries them all."""
    channel = Recorder([Outcome.retry("HTTP 503")] * 3)
    h = Harness(channel, retry_base_s=1, retry_max_s=1)
    for i in range(40):
        h.lane.enqueue(incident(i), 0, h.clock.monotonic())
        if i == 0:
            h.round()  # the first attempt fails: the destination is failing
    h.drain(step_s=1)
    assert len(channel.got) <= 3
    assert sum(n.incidents for n in channel.got) == 40
    check_accounting(h.lane)


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

OUTCOMES = st.sampled_from(
    [Outcome.delivered(), Outcome.retry("HTTP 503"), Outcome.retry("HTTP 429", retry_after_s=5.0), Outcome.permanent("HTTP 400")]
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    script=st.lists(OUTCOMES, max_size=30),
    bursts=st.lists(st.integers(min_value=0, max_value=60), min_size=1, max_size=6),
    rate=st.sampled_from([None, 6.0, 60.0]),
    coalesce=st.booleans(),
)
def test_accounting_holds_and_no_incident_is_lost(script: list[Outcome], bursts: list[int], rate: float | None, coalesce: bool) -> None:
    """Whatever the outcomes and bursts: enqueued == notifications_delivered + failed + pending at
    every step, coalesced <= enqueued, and every delivered or failed incident is accounted for
    (named + summarized == incidents in delivered notifications)."""
    channel = (Recorder if coalesce else Pager)(script, rate_limit_per_min=rate)
    h = Harness(channel, deadline_s=120, retry_base_s=1, retry_max_s=4, max_retry_after_s=10)
    n = 0
    for burst in bursts:
        for _ in range(burst):
            h.lane.enqueue(incident(n), n + 1, h.clock.monotonic())
            n += 1
        for _ in range(5):
            h.round()
            h.settled.extend(h.lane.expire(h.clock.monotonic()))
            check_accounting(h.lane)
            h.clock.advance(3)
    h.drain(step_s=3)
    s = h.lane.stats()
    check_accounting(h.lane)
    assert s["pending"] == 0
    delivered_incidents = sum(note.incidents for note in channel.got)
    assert s["incidents_named"] + s["incidents_summarized"] == delivered_incidents
    rows = [i for ids, _, _ in h.settled for i in ids]
    assert sorted(rows) == list(range(1, n + 1))  # every row settled exactly once
    if not coalesce:
        assert s["coalesced"] == 0 and not any(note.digest for note in channel.got)


def test_recovered_rows_are_folded_only_when_the_budget_cannot_send_them_before_their_deadline() -> None:
    """Recovered rows go one by one while the rate limit allows it before their deadline; a backlog
    too large for that is folded among themselves (flagged late, never with fresh ones), so no
    row runs out of time: none failed, every incident named or counted."""
    for rows, rate, expect_digest in ((30, 6.0, False), (300, 6.0, True)):
        channel = Recorder(rate_limit_per_min=rate)
        h = Harness(channel, deadline_s=900)
        now = h.clock.monotonic()
        for i in range(rows):
            late = Notification(events=incident(i).events, late_by_s=3 * 3600.0, recovered=True)
            h.lane.enqueue(late, i + 1, now, recovered=True)
        h.lane.enqueue(incident(10_000), 10_000, now)  # a fresh one
        h.drain(step_s=10)
        s = h.lane.stats()
        assert s["failed"] == {} and s["pending"] == 0
        assert s["incidents_named"] + s["incidents_summarized"] == rows + 1
        digests = [n for n in channel.got if n.digest]
        assert bool(digests) is expect_digest
        assert all(n.recovered and n.late_text.startswith("delayed 3 h") for n in digests)
        assert all("incident 10000" not in {e.title for e in n.events} for n in digests)
        check_accounting(h.lane)
