"""SummaryTracker: status rules, what the summary holds, bad input, cost."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from alertcb.errors import ConfigError
from alertcb.events import Event, Severity
from alertcb.report.replay import summary_from_events
from alertcb.report.summary import Summary
from alertcb.report.tracker import SUMMARY_TITLE

from .helpers import RUN, START, Clock, FakeNotifier, make_tracker, simulate, summary_event


def _summaries(notifier: FakeNotifier) -> list[Event]:
    return [e for e in notifier.events if e.kind == "summary"]


def test_completed_run_summary_holds_what_matters() -> None:
    """A finished run gives one info summary with status, duration, best epoch and the epoch table."""
    notifier = FakeNotifier()
    tracker, clock = make_tracker(notifier)
    simulate(tracker, clock, epochs=12, steps=50)
    event = tracker.train_end()
    assert event is not None
    assert [event] == _summaries(notifier)
    d = event.details
    assert (event.kind, event.title, event.severity) == ("summary", SUMMARY_TITLE, Severity.INFO)
    assert "completed" == d["status"]
    assert {"name": "exp42", "host": "gpu-node-7", "worker": None, "job": None} == d["run"]
    assert START == d["start"]
    assert pytest.approx(12 * (50 * 0.02 + 0.5)) == d["duration_s"]
    assert (12, 12, 600, 50, 600) == (
        d["epochs_done"],
        d["epochs_planned"],
        d["steps_done"],
        d["steps_per_epoch"],
        d["steps_planned"],
    )
    val = [row["metrics"]["val_loss"] for row in d["epochs"]]
    best = min(range(12), key=lambda i: val[i])
    assert {"name": "val_loss", "requested": "val_loss", "mode": "min", "best_epoch": best} == {
        k: v for k, v in d["monitor"].items() if k != "best_value"
    }
    assert val[best] == d["monitor"]["best_value"]
    assert ["loss", "accuracy", "val_loss", "val_accuracy"] == d["columns"]  # learning_rate is not a metric
    assert {"initial": 0.001, "final": 0.0005} == d["lr"]
    assert set(d["final"]["val"]) == {"val_loss", "val_accuracy"}
    assert (
        f"completed 12/12 epochs in 18.0 s, best val_loss {_num(val[best])} at epoch {best + 1}"
        == event.message
    )
    assert event.epoch == 11 and event.step == 599


def _num(value: float) -> str:
    from alertcb.filters import fmt_number

    return fmt_number(value)


def test_alerts_are_counted_with_first_occurrence_and_markers() -> None:
    """Every alert the notifier emits is counted by kind; the first occurrence keeps step and epoch."""
    notifier = FakeNotifier()
    tracker, clock = make_tracker(notifier)
    simulate(tracker, clock, epochs=4, spike_at=130)
    notifier.emit(Event(kind="spike", title="loss spike", epoch=3, step=170))
    notifier.emit(Event(kind="plateau", title="val_loss plateau", epoch=3, step=199))
    notifier.emit(Event(kind="progress", title="training progress", severity="info"))  # not an alert
    event = tracker.train_end()
    assert event is not None
    alerts = event.details["alerts"]
    assert 3 == alerts["total"]
    assert {"spike": 2, "plateau": 1} == alerts["by_kind"]
    first = {a["kind"]: a for a in alerts["first"]}
    assert (2, 130, 2) == (first["spike"]["epoch"], first["spike"]["step"], first["spike"]["count"])
    assert [130, 170, 199] == [m["step"] for m in event.details["markers"]]
    assert event.details["delivery"]["destinations"]["wecom"]["delivered"] == 5


def test_train_end_is_idempotent() -> None:
    """A second train_end returns None and emits nothing."""
    notifier = FakeNotifier()
    tracker, clock = make_tracker(notifier)
    simulate(tracker, clock, epochs=2)
    assert tracker.train_end() is not None
    assert tracker.train_end("crashed") is None
    assert 1 == len(_summaries(notifier))


def test_crash_event_finishes_the_summary_as_crashed() -> None:
    """A crash alert during training emits a critical 'crashed' summary with the traceback tail."""
    notifier = FakeNotifier()
    tracker, clock = make_tracker(notifier)
    simulate(tracker, clock, epochs=3)
    trace = (
        "Traceback (most recent call last):\n"
        + "\n".join(f"  frame {i}" for i in range(5000))
        + "\nValueError: bad"
    )
    notifier.emit(
        Event(
            kind="crash",
            title="training crashed: ValueError",
            message="ValueError: bad",
            severity="critical",
            details={"exception": "ValueError", "traceback": trace},
        )
    )
    [event] = _summaries(notifier)
    assert ("crashed", Severity.CRITICAL) == (event.details["status"], event.severity)
    error = event.details["error"]
    assert "ValueError" == error["type"]
    assert error["traceback"].endswith("ValueError: bad")
    assert len(error["traceback"]) <= 6010
    assert tracker.train_end() is None  # the Keras hook may still call it


def test_keyboard_interrupt_and_sigterm_count_as_interrupted() -> None:
    """Ctrl-C (a crash event for KeyboardInterrupt) and SIGTERM (an interrupted event) give 'interrupted'."""
    for kind, details in (
        ("crash", {"exception": "KeyboardInterrupt"}),
        ("interrupted", {"signal": "SIGTERM"}),
    ):
        notifier = FakeNotifier()
        tracker, clock = make_tracker(notifier)
        simulate(tracker, clock, epochs=2)
        notifier.emit(Event(kind=kind, title="stop", details=details))
        [event] = _summaries(notifier)
        assert "interrupted" == event.details["status"]


def test_crash_before_training_starts_emits_nothing() -> None:
    """The listener only finishes a summary while training is active."""
    notifier = FakeNotifier()
    make_tracker(notifier)
    notifier.emit(Event(kind="crash", title="import failed"))
    assert [] == _summaries(notifier)


@pytest.mark.parametrize(
    ("status", "stopped_early", "divergence", "expected"),
    [
        ("completed", False, None, "completed"),
        ("completed", True, None, "stopped_early"),
        ("completed", False, "firing", "diverged"),
        ("completed", True, "firing", "diverged"),
        ("completed", False, "resolved", "completed"),
        ("interrupted", False, "firing", "interrupted"),
        ("crashed", True, "firing", "crashed"),
        ("diverged", False, None, "diverged"),
    ],
)
def test_status_reflects_the_worst(
    status: str, stopped_early: bool, divergence: str | None, expected: str
) -> None:
    """crashed > interrupted > diverged > stopped_early > completed."""
    notifier = FakeNotifier()
    tracker, clock = make_tracker(notifier)
    simulate(tracker, clock, epochs=3)
    if divergence:
        notifier.emit(Event(kind="divergence", title="loss diverging", severity="critical"))
    if divergence == "resolved":
        notifier.emit(Event(kind="divergence", title="loss diverging", status="resolved"))
    event = tracker.train_end(status, stopped_early=stopped_early)
    assert event is not None
    assert expected == event.details["status"]


def test_nan_final_loss_means_diverged() -> None:
    """A run whose last epoch loss is NaN is reported as diverged, with the reason."""
    event = summary_event("diverged")
    assert "diverged" == event.details["status"]
    assert "final loss is nan" in event.details["status_reason"]
    json.dumps(event.to_dict(), allow_nan=False)


def test_bad_values_never_raise() -> None:
    """None, NaN, strings, odd objects and missing hooks are skipped; the summary stays JSON-safe."""

    class Weird:
        def __float__(self) -> float:
            raise RuntimeError("no")

    notifier = FakeNotifier()
    tracker, _ = make_tracker(notifier)
    tracker.train_begin({"epochs": "ten", "steps": None, "callbacks": object()})
    for step, loss in ((None, None), ("x", "nan"), (-5, math.inf), (3, Weird()), (4, 1e308 * 10)):
        tracker.batch_end(step, loss)  # type: ignore[arg-type]
    logs: dict[str, Any] = {"loss": None, "val_loss": "abc", "acc": math.nan, "x": Weird(), "ok": 1}
    tracker.epoch_end(None, logs, lr="fast")  # type: ignore[arg-type]
    tracker.epoch_end(-3, None)  # type: ignore[arg-type]
    tracker.epoch_end(2, {"loss": float("inf")}, lr=math.nan)
    event = tracker.train_end(None)  # type: ignore[arg-type]
    assert event is not None
    text = json.dumps(event.to_dict(), allow_nan=False)
    assert "NaN" in text or "Infinity" in text
    assert [0, 1, 2] == [row["epoch"] for row in event.details["epochs"]]
    assert "diverged" == event.details["status"]  # the last loss is inf


def test_summary_without_train_begin_or_notifier_features() -> None:
    """A bare object with only emit() is enough; epoch_end without train_begin starts implicitly."""

    class OnlyEmit:
        def __init__(self) -> None:
            self.events: list[Event] = []

        def emit(self, event: Event) -> None:
            self.events.append(event)

    bare = OnlyEmit()
    tracker, _ = make_tracker(bare)
    tracker.epoch_end(0, {"loss": 1.0})
    event = tracker.train_end()
    assert event is not None and [event] == bare.events
    assert {} == event.details["delivery"] and "" == event.details["run"]["name"]


def test_batch_losses_are_bounded_and_keep_the_mean() -> None:
    """10,000 batches into keep_batch_losses=100 keep ≤ 100 buckets whose weighted mean is exact."""
    tracker, _ = make_tracker(keep_batch_losses=100)
    tracker.train_begin({"epochs": 1, "steps": 10_000})
    values = [float(i % 37) for i in range(10_000)]
    for i, v in enumerate(values):
        tracker.batch_end(i, v)
    tracker.epoch_end(0, {"loss": 1.0})
    event = tracker.train_end()
    assert event is not None
    series = event.details["batch_loss"]
    assert len(series["steps"]) <= 100
    assert series["steps"] == sorted(series["steps"]) and 0 == series["steps"][0]
    stride = series["stride"]
    assert stride & (stride - 1) == 0  # a power of two
    full = [v for v in series["values"][:-1]]
    assert pytest.approx(sum(values[: len(full) * stride]) / (len(full) * stride)) == sum(full) / len(full)


def test_keep_batch_losses_zero_keeps_none() -> None:
    """keep_batch_losses=0 stores no series."""
    tracker, _ = make_tracker(keep_batch_losses=0)
    tracker.train_begin({})
    for i in range(10):
        tracker.batch_end(i, 1.0)
    event = tracker.train_end()
    assert event is not None and [] == event.details["batch_loss"]["steps"]


def test_monitor_falls_back_to_loss_and_auto_mode_maximises_accuracy() -> None:
    """Without validation, val_loss falls back to loss; 'accuracy' is maximised in auto mode."""
    tracker, _ = make_tracker()
    tracker.train_begin({"epochs": 3})
    for epoch, loss in enumerate((0.9, 0.5, 0.7)):
        tracker.epoch_end(epoch, {"loss": loss})
    event = tracker.train_end()
    assert event is not None
    assert ("loss", 1, 0.5) == tuple(
        event.details["monitor"][k] for k in ("name", "best_epoch", "best_value")
    )

    tracker, _ = make_tracker(monitor="val_accuracy")
    tracker.train_begin({"epochs": 3})
    for epoch, acc in enumerate((0.5, 0.9, 0.7)):
        tracker.epoch_end(epoch, {"val_accuracy": acc})
    event = tracker.train_end()
    assert event is not None
    assert ("max", 1) == (event.details["monitor"]["mode"], event.details["monitor"]["best_epoch"])


def test_progress_snapshot_and_eta() -> None:
    """progress() reports epoch x/y and an ETA from the observed epoch time."""
    tracker, clock = make_tracker()
    simulate(tracker, clock, epochs=3, planned=10, steps=50, step_s=0.02)
    for i in range(25):  # half of epoch 4
        clock.advance(0.02)
        tracker.batch_end(150 + i, 0.5)
    p = tracker.progress()
    assert (True, 3, 3, 10, 175, 500) == (
        p["running"],
        p["epoch"],
        p["epochs_done"],
        p["epochs_planned"],
        p["steps_done"],
        p["steps_planned"],
    )
    assert pytest.approx(1.5) == p["epoch_time_s"]  # 50 x 0.02 s + 0.5 s validation
    assert pytest.approx((10 - 3 - 0.5) * 1.5) == p["eta_s"]
    assert pytest.approx(0.02, rel=0.2) == p["step_time_s"]
    assert {"spike": 1} == p["alerts_by_kind"]
    tracker.train_end()
    assert tracker.progress()["running"] is False


def test_second_fit_starts_a_fresh_summary() -> None:
    """train_begin after train_end resets, so a second fit() gets its own summary."""
    notifier = FakeNotifier()
    tracker, clock = make_tracker(notifier)
    simulate(tracker, clock, epochs=2)
    tracker.train_end()
    simulate(tracker, clock, epochs=3, spike_at=None)
    event = tracker.train_end()
    assert event is not None and 3 == event.details["epochs_done"] and 0 == event.details["alerts"]["total"]
    assert 2 == len(_summaries(notifier))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"monitor": ""}, "monitor"),
        ({"mode": "up"}, "mode"),
        ({"keep_batch_losses": -1}, "keep_batch_losses"),
        ({"keep_batch_losses": True}, "keep_batch_losses"),
    ],
)
def test_bad_configuration_names_the_field(kwargs: dict[str, Any], field: str) -> None:
    """Constructor mistakes raise ConfigError naming the field."""
    with pytest.raises(ConfigError, match=field):
        make_tracker(**kwargs)


def test_partial_summary_from_events() -> None:
    """A log without a summary becomes an 'incomplete' summary; a crash in it makes it 'crashed'."""
    event = summary_event("incomplete")
    d = event.details
    assert ("incomplete", 3, 12, 1) == (
        d["status"],
        d["epochs_done"],
        d["epochs_planned"],
        d["alerts"]["total"],
    )
    assert [2] == [row["epoch"] for row in d["epochs"]]
    assert pytest.approx(90.0) == d["duration_s"]
    crashed = summary_from_events(
        [Event(kind="crash", title="training crashed: OSError", run=RUN, time=START)]
    )
    assert "crashed" == crashed.details["status"]
    assert "incomplete" == summary_from_events([]).details["status"]


def test_summary_from_dict_accepts_anything() -> None:
    """Templates can rely on every field, whatever the details hold."""
    for details in (
        None,
        {},
        {"epochs": "x", "monitor": 3, "alerts": {"first": [1, {"kind": 2}]}},
        {"status": 5},
        {"delivery": {"destinations": {"x": "broken"}, "dropped": "many"}, "timeline": [3, {"kind": None}]},
    ):
        s = Summary.from_dict(details)
        assert isinstance(s.status, str) and isinstance(s.epochs, list) and s.monitor.name
        assert s.delivery.sent is None or isinstance(s.delivery.sent, int)
        assert isinstance(s.message, str)
    assert Summary.from_dict(Summary.from_dict({})) == Summary.from_dict({})
    assert "2" == Summary.from_dict({"alerts": {"first": [1, {"kind": 2}]}}).alerts_first[0].kind



def test_clock_helper_is_deterministic() -> None:
    """Two identical simulated runs give identical summaries (golden files depend on it)."""
    a, b = summary_event("completed"), summary_event("completed")
    assert a.to_dict()["details"] == b.to_dict()["details"]
    assert Clock().wall == START


def test_resumed_fit_counts_the_initial_epochs_as_done() -> None:
    """fit(initial_epoch=5, epochs=10) that runs epochs 5..9 reports 10/10 and status completed."""
    tracker, _ = make_tracker()
    tracker.train_begin({"epochs": 10, "steps": 5})
    for epoch in range(5, 10):
        tracker.epoch_end(epoch, {"loss": 1.0 / (epoch + 1)})
    event = tracker.train_end()
    assert event is not None
    assert (10, 10, "completed") == (
        event.details["epochs_done"],
        event.details["epochs_planned"],
        event.details["status"],
    )
    assert event.message.startswith("completed 10/10 epochs")
