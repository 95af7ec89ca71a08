"""Grouping: incidents, group wait, reminders, resolves."""

from __future__ import annotations

from alertcb import Event
from alertcb.clock import ManualClock
from alertcb.delivery.grouping import Grouper


def nan(status: str = "firing", severity: str = "critical") -> Event:
    return Event(kind="nonfinite", title="loss is NaN", severity=severity, status=status)


def test_critical_first_event_is_sent_at_once_and_repeats_are_folded() -> None:
    """The first critical goes out immediately; repeats are counted into the resolve."""
    g = Grouper(group_wait_s=5, repeat_interval_s=100)
    assert len(g.process(nan(), now=0)) == 1
    assert all(g.process(nan(), now=t) == [] for t in range(1, 50))
    (resolved,) = g.process(nan("resolved"), now=60)
    assert resolved.event.resolved and resolved.suppressed == 49


def test_warning_waits_for_its_group_then_goes_out_with_the_count() -> None:
    """A warning waits group_wait_s on the injected clock; repeats within the wait ride along."""
    clock = ManualClock()
    g = Grouper(group_wait_s=5, clock=clock)
    spike = Event(kind="spike", title="loss spike")
    assert g.process(spike) == []
    clock.advance(1)
    assert g.process(spike) == []
    assert g.next_due() == 5
    clock.advance(3)
    assert g.tick() == []
    clock.advance(1)
    (note,) = g.tick()
    assert note.suppressed == 1


def test_reminder_follows_the_injected_clock() -> None:
    """Without explicit times, the grouper reads its clock: a repeat one interval later reminds."""
    clock = ManualClock()
    g = Grouper(repeat_interval_s=10, clock=clock)
    assert len(g.process(nan())) == 1
    clock.advance(9.9)
    assert g.process(nan()) == []
    clock.advance(0.1)
    (reminder,) = g.process(nan())
    assert reminder.suppressed == 1


def test_reminder_after_repeat_interval() -> None:
    """A repeat after repeat_interval_s sends a reminder carrying the repeats since the last message."""
    g = Grouper(repeat_interval_s=10)
    g.process(nan(), now=0)
    for t in range(1, 10):
        g.process(nan(), now=t)
    (reminder,) = g.process(nan(), now=10)
    assert reminder.suppressed == 9


def test_resolve_takes_the_incidents_severity_and_unknown_resolves_are_dropped() -> None:
    """A resolve carries its incident's severity; a resolve for nothing announced sends nothing."""
    g = Grouper()
    assert g.process(nan("resolved"), now=0) == []
    g.process(nan(), now=0)
    (resolved,) = g.process(nan("resolved", severity="warning"), now=1)
    assert str(resolved.event.severity) == "critical"


def test_resolved_inside_the_group_wait_announces_and_resolves() -> None:
    """An incident that resolves before its group wait is still reported, then resolved."""
    g = Grouper(group_wait_s=5)
    spike = Event(kind="spike", title="loss spike")
    g.process(spike, now=0)
    first, second = g.process(Event(kind="spike", title="loss spike", status="resolved"), now=1)
    assert not first.event.resolved and second.event.resolved


def test_incidents_are_bounded() -> None:
    """At most max_incidents open incidents are remembered."""
    g = Grouper(max_incidents=100)
    for i in range(1000):
        g.process(Event(kind="custom", title=f"t{i}", severity="critical"), now=i)
    assert len(g.incidents) == 100
