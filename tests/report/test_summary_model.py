"""The typed Summary: to_dict/from_dict round trip, summaries of older runs, timeline, checkpoints,
the delivery line, lifecycle events in digests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from alertcb.errors import ConfigError
from alertcb.events import Event, json_safe
from alertcb.render import Renderer
from alertcb.report.artifacts import read_events, render_report
from alertcb.report.digest import ProgressDigest
from alertcb.report.progress import Progress
from alertcb.report.summary import READABLE_SCHEMAS, SUMMARY_SCHEMA, Summary

from .helpers import (
    STATUSES,
    FakeNotifier,
    golden_combination_summary,
    make_tracker,
    notification,
    summary_event,
)

DATA = Path(__file__).resolve().parent / "data"
GOLDEN = Path(__file__).resolve().parent / "golden"


def _json(value: object) -> str:
    return json.dumps(json_safe(value), sort_keys=True, allow_nan=False)


@pytest.mark.parametrize("status", STATUSES)
def test_round_trip(status: str) -> None:
    """from_dict(details).to_dict() gives the details back, byte for byte once JSON-encoded,
    including after a trip through events.jsonl."""
    event = summary_event(status)
    summary = Summary.from_dict(event.details)
    assert _json(event.details) == _json(summary.to_dict())
    reread = Event.from_dict(json.loads(json.dumps(event.to_dict(), allow_nan=False)))
    assert _json(Summary.from_dict(reread.details).to_dict()) == _json(event.details)
    assert SUMMARY_SCHEMA == event.details["schema"]


def test_round_trip_with_lifecycle() -> None:
    event = golden_combination_summary()
    summary = Summary.from_dict(event.details)
    assert Summary.from_dict(summary.to_dict()) == summary
    assert ["checkpoint", "checkpoint", "lr_change", "checkpoint", "early_stop"] == [
        e.kind for e in summary.timeline
    ]
    assert [1, 3, 6] == [c.number for c in summary.checkpoints]


@pytest.mark.parametrize("name", ["events-v1.jsonl", "events-v1-diverged.jsonl"])
def test_version_1_summaries_render_as_before(name: str, tmp_path: Path) -> None:
    """events.jsonl written by the previous version (schema alertcb.report.tracker/1, made by the
    old tracker from the same simulated run) renders exactly like the new summary of that run."""
    shutil.copy(DATA / name, tmp_path / "events.jsonl")
    [old] = [e for e in read_events(tmp_path) if e.kind == "summary"]
    assert "alertcb.report.tracker/1" == old.details["schema"] and old.details["schema"] in READABLE_SCHEMAS
    new = summary_event("crashed" if "diverged" not in name else "diverged")
    renderer = Renderer(run_dir="/runs/exp42", link_url="https://dash.example/runs/exp42")
    for template in ("report/report.txt.j2", "report/report.md.j2", "wecom/summary.md.j2", "slack/summary.mrkdwn.j2"):
        assert renderer.render(template, notification(new)) == renderer.render(template, notification(old))
    for fmt in ("text", "markdown", "html"):
        text = render_report(tmp_path, fmt)
        assert "exp42" in text and "training" in text
    assert Summary.from_dict(old.details).message == old.message


def test_epochs_are_counted_from_one_in_every_text() -> None:
    """best_epoch is 0-based in the data and 1-based in the text (Keras: "best epoch: 6")."""
    event = golden_combination_summary()
    assert 5 == event.details["monitor"]["best_epoch"]
    text = Renderer().render("report/report.txt.j2", notification(event), max_rows=100, max_cols=8)
    assert "best val_loss 0.7 at epoch 6" in text
    assert "EarlyStopping stopped training at epoch 9: val_loss 0.75, best epoch 6 (0.7), weights restored from epoch 6" in text
    assert "learning rate 0.001 → 5.000e-04 at epoch 5 (ReduceLROnPlateau)" in text
    assert "epoch 6: ckpt/epoch06.keras · val_loss 0.7 · 1.2 MB · best · sha256 abababababab" in text
    assert "stopped early" in text  # an early_stop event makes the run stopped_early
    assert "plateau ×1" in text and "(epoch 7, step 69)" in text  # drawn/listed at the step it fired


def test_lifecycle_golden(renderer: Renderer) -> None:
    """The golden combination's report.txt (regenerate with UPDATE_GOLDEN=1 and review by eye)."""
    import os

    text = renderer.render("report/report.txt.j2", notification(golden_combination_summary())) + "\n"
    path = GOLDEN / "report.lifecycle.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text


@pytest.mark.parametrize(
    "template", ["wecom/summary.md.j2", "slack/summary.mrkdwn.j2", "console/summary.txt.j2", "report/report.md.j2"]
)
def test_timeline_in_channel_summaries(renderer: Renderer, template: str) -> None:
    text = renderer.render(template, notification(golden_combination_summary()), max_rows=20, max_cols=6)
    assert "EarlyStopping stopped training at epoch 9" in text
    assert "learning rate 0.001" in text


def test_delivery_line_only_when_something_went_wrong(renderer: Renderer) -> None:
    """All delivered: no delivery line; a failure, a drop or a pending message: the line is back."""
    clean = {"emitted": 3, "processed": 3, "dropped": {"queue_full": 0}, "pending": 0,
             "destinations": {"wecom": {"delivered": 3, "failed": {}, "pending": 0}}}
    cases = [(clean, False), (dict(clean, pending=2), True), (dict(clean, dropped={"queue_full": 1}), True),
             (dict(clean, destinations={"x": {"delivered": 1, "failed": {"permanent": 1}}}), True)]
    for stats, shown in cases:
        notifier = FakeNotifier()
        notifier.stats = lambda stats=stats: stats  # type: ignore[method-assign]
        tracker, _ = make_tracker(notifier)
        tracker.train_begin({"epochs": 1})
        tracker.epoch_end(0, {"loss": 0.5})
        event = tracker.train_end()
        assert event is not None
        assert shown == Summary.from_dict(event.details).delivery.trouble
        for template in ("report/report.txt.j2", "wecom/summary.md.j2", "slack/summary.mrkdwn.j2",
                         "console/summary.txt.j2", "report/report.html.j2"):
            text = renderer.render(template, notification(event), max_rows=5, max_cols=5).lower()
            assert shown == ("dropped" in text), (template, stats)


def test_digest_carries_lifecycle_events_since_the_last_one() -> None:
    notifier = FakeNotifier()
    tracker, clock = make_tracker(notifier)
    digest = ProgressDigest(notifier, tracker=tracker, every_s=60, start=False)
    assert 60 == digest.interval_s
    tracker.train_begin({"epochs": 5, "steps": 2})
    tracker.batch_end(0, 1.0)
    notifier.emit(Event(kind="lr_change", title="lr", severity="info", epoch=0, step=0,
                        details={"old": 0.01, "new": 0.001, "callback": "ReduceLROnPlateau"}))
    first = digest.build_event()
    assert first is not None
    [entry] = Progress.from_dict(first.details).lifecycle
    assert "learning rate 0.01 → 0.001 at epoch 1 (ReduceLROnPlateau)" == entry.text
    assert "learning rate 0.01" in first.message
    text = Renderer().render("console/progress.txt.j2", notification(first))
    assert "📉 learning rate 0.01 → 0.001" in text
    second = digest.build_event()
    assert second is not None and [] == Progress.from_dict(second.details).lifecycle
    assert 0 == tracker.progress()["alerts_total"]  # lifecycle events are not alerts


def test_digest_without_tracker_collects_lifecycle_itself() -> None:
    notifier = FakeNotifier()
    digest = ProgressDigest(notifier, every_s=3600.0, start=False)
    notifier.emit(Event(kind="checkpoint", title="ckpt", severity="info", epoch=2,
                        details={"path": "a.keras", "epoch": 2, "is_best": True}))
    event = digest.build_event()
    assert event is not None
    [entry] = Progress.from_dict(event.details).lifecycle
    assert "checkpoint a.keras at epoch 3: new best" == entry.text


@pytest.mark.parametrize("kwargs", [{"every_s": "60"}, {"every_s": 0.5}, {"every_s": True}, {"every": "1h", "every_s": 60}])
def test_every_s_is_checked(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="every_s"):
        ProgressDigest(FakeNotifier(), start=False, **kwargs)  # type: ignore[arg-type]


def test_a_log_without_summary_keeps_its_lifecycle_events(tmp_path: Path) -> None:
    """`alertcb report` on a run that died: the timeline and checkpoints come from the log."""
    from alertcb.report.replay import summary_from_events

    events = [
        Event(kind="checkpoint", title="ckpt", severity="info", epoch=1, step=19, time=10.0,
              details={"path": "best.keras", "epoch": 1, "monitor": "val_loss", "value": 0.5, "is_best": True}),
        Event(kind="lr_change", title="lr", severity="info", epoch=2, step=29, time=11.0,
              details={"old": 0.1, "new": 0.01}),
        Event(kind="crash", title="training crashed: OSError", severity="critical", epoch=3, step=31, time=12.0),
    ]
    (tmp_path / "events.jsonl").write_text(
        "".join(json.dumps(e.to_dict(), allow_nan=False) + "\n" for e in events), encoding="utf-8"
    )
    summary = Summary.from_dict(summary_from_events(read_events(tmp_path)).details)
    assert "crashed" == summary.status and 1 == summary.alerts_total
    assert ["checkpoint", "lr_change"] == [e.kind for e in summary.timeline]
    assert ["best.keras"] == [c.path for c in summary.checkpoints]
    text = render_report(tmp_path, "text")
    assert "checkpoint best.keras at epoch 2: val_loss 0.5, new best" in text
    assert "learning rate 0.1 → 0.01 at epoch 3" in text
