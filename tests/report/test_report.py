"""build_report, render_report and `alertcb report`, with fakes and with a real Notifier."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import pytest

from alertcb.events import Event
from alertcb.notification import Attachment
from alertcb.render import Renderer
from alertcb.report.artifacts import PLOT_CONTENT_ID, build_report, load_summary, read_events, render_report
from alertcb.report.command import add_report_parser, report_command

from .helpers import RUN, START, alert_event, make_tracker, simulate, summary_event

PNG = b"\x89PNG\r\n\x1a\n"


def write_log(folder: Path, events: list[Event], *, garbage: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(e.to_dict(), allow_nan=False) for e in events]
    if garbage:
        lines.insert(1, "{not json")
        lines.insert(2, json.dumps({"kind": "nope", "title": "x"}))
    (folder / "events.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "run.json").write_text(json.dumps({"run": RUN.to_dict(), "started": START}), encoding="utf-8")
    return folder


def test_build_report_writes_files_and_returns_the_inline_png(tmp_path: Path) -> None:
    """report.html (self-contained) and loss_curve.png land in the run dir; the PNG comes back with cid."""
    renderer = Renderer()
    [attachment] = build_report(summary_event("completed"), renderer, tmp_path / "run")
    assert isinstance(attachment, Attachment)
    assert ("loss_curve.png", "image/png", PLOT_CONTENT_ID) == (
        attachment.filename,
        attachment.content_type,
        attachment.content_id,
    )
    assert attachment.data.startswith(PNG)
    assert attachment.data == (tmp_path / "run" / "loss_curve.png").read_bytes()
    html = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert 'src="data:image/png;base64,' in html and "0.2426" in html
    assert not list((tmp_path / "run").glob(".*.tmp"))


def test_build_report_ignores_other_kinds(tmp_path: Path) -> None:
    """Only summaries get a report."""
    assert () == build_report(alert_event("nonfinite"), Renderer(), tmp_path)
    assert [] == list(tmp_path.iterdir())


def test_build_report_without_a_run_dir_still_returns_the_picture() -> None:
    """run_dir=None writes nothing but channels still get the PNG."""
    [attachment] = build_report(summary_event("crashed"), Renderer(), None)
    assert attachment.data.startswith(PNG)


def test_build_report_survives_an_unwritable_run_dir(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A file where the folder should be: a warning, no exception, the attachment still returned."""
    blocker = tmp_path / "run"
    blocker.write_text("not a folder")
    [attachment] = build_report(summary_event("completed"), Renderer(), blocker)
    assert attachment.data.startswith(PNG)
    assert any("cannot write the report" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("fmt", ["html", "markdown", "text"])
def test_render_report_uses_the_last_summary(tmp_path: Path, fmt: str) -> None:
    """The last summary line wins; bad lines are skipped; key numbers are in every format."""
    first = summary_event("crashed")
    last = summary_event("completed")
    folder = write_log(
        tmp_path / "exp42", [alert_event("spike"), first, alert_event("hang"), last], garbage=True
    )
    text = render_report(folder, fmt)
    assert "completed" in text and "0.2426" in text and "12/12" in text
    assert "crashed" not in text.split("\n")[0]
    if fmt == "html":
        assert text.lstrip().startswith("<!DOCTYPE html>") and "data:image/png;base64," in text
    if fmt == "markdown":
        assert text.startswith("# ✅ exp42")


def test_render_report_reuses_the_saved_picture(tmp_path: Path) -> None:
    """With loss_curve.png present (written at the end of training), HTML embeds exactly that file."""
    import base64

    folder = write_log(tmp_path / "exp42", [summary_event("completed")])
    (folder / "loss_curve.png").write_bytes(PNG + b"saved")
    html = render_report(folder, "html")
    assert base64.b64encode(PNG + b"saved").decode() in html
    assert "](loss_curve.png)" in render_report(folder, "markdown")


def test_partial_summary_when_training_died(tmp_path: Path) -> None:
    """No summary in the log: a partial one, 'crashed' when a crash is logged, else 'incomplete'."""
    folder = write_log(tmp_path / "a", [alert_event("spike"), alert_event("progress")])
    event = load_summary(folder)
    assert ("incomplete", "exp42", START) == (
        event.details["status"],
        event.details["run"]["name"],
        event.details["start"],
    )
    assert "training incomplete" in render_report(folder, "text")
    folder = write_log(tmp_path / "b", [alert_event("spike"), alert_event("crash")])
    text = render_report(folder, "text")
    assert "training crashed" in text and "RuntimeError" in text


def test_render_report_errors(tmp_path: Path) -> None:
    """No events.jsonl raises FileNotFoundError; an unknown format raises ValueError."""
    with pytest.raises(FileNotFoundError):
        render_report(tmp_path, "text")
    write_log(tmp_path, [])
    with pytest.raises(ValueError, match="fmt"):
        render_report(tmp_path, "pdf")
    assert [] == read_events(tmp_path)


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="alertcb")
    add_report_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["report", *argv])


def test_cli_prints_and_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`alertcb report DIR` prints text; --format/--output write the chosen format to a file."""
    folder = write_log(tmp_path / "exp42", [summary_event("completed")])
    args = _args(str(folder))
    assert args.func is report_command
    assert 0 == report_command(args)
    assert "✅ exp42 · training completed" in capsys.readouterr().out
    out_file = tmp_path / "r.html"
    assert 0 == report_command(_args(str(folder), "--format", "html", "-o", str(out_file)))
    assert "<!DOCTYPE html>" in out_file.read_text(encoding="utf-8")
    assert 2 == report_command(_args(str(tmp_path / "missing")))
    assert "no events.jsonl" in capsys.readouterr().err


def test_cli_template_dir_override(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--template-dir replaces the report template."""
    folder = write_log(tmp_path / "exp42", [summary_event("completed")])
    (tmp_path / "tpl" / "report").mkdir(parents=True)
    (tmp_path / "tpl" / "report" / "report.txt.j2").write_text("MINE {{ (details | summary_view).status }}")
    assert 0 == report_command(_args(str(folder), "--template-dir", str(tmp_path / "tpl")))
    assert "MINE completed" == capsys.readouterr().out.strip()


def test_cli_is_wired_into_alertcb_main(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`alertcb report DIR --format markdown` through the real entry point."""
    from alertcb.cli import main

    folder = write_log(tmp_path / "exp42", [summary_event("stopped_early")])
    assert 0 == main(["report", str(folder), "--format", "markdown"])
    assert "# 🟠 exp42 · training stopped early" in capsys.readouterr().out


def test_cli_send_delivers_the_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--send emits the stored summary through the configured channels, with the picture attached."""
    from alertcb.notifier import Notifier
    from alertcb.testing import RecordingChannel

    recorder = RecordingChannel()
    made: dict[str, Any] = {}

    def fake_from_env(**overrides: Any) -> Notifier:
        made.update(overrides)
        kwargs = {
            k: v for k, v in overrides.items() if k in ("run_name", "run_dir", "outbox", "group_wait_s")
        }
        return Notifier(channels=[recorder], **kwargs)

    monkeypatch.setattr(Notifier, "from_env", staticmethod(fake_from_env))
    folder = write_log(tmp_path / "exp42", [summary_event("completed")])
    assert 0 == report_command(_args(str(folder), "--send", "--timeout", "20"))
    assert ("exp42", False) == (made["run_name"], made["run_dir"])
    [note] = recorder.notifications
    assert "summary" == note.event.kind and [PLOT_CONTENT_ID] == [a.content_id for a in note.attachments]


def test_real_notifier_end_to_end(tmp_path: Path) -> None:
    """Tracker + real Notifier: the summary is delivered with the PNG and report.html lands in the run dir."""
    from alertcb.notifier import Notifier
    from alertcb.testing import RecordingChannel

    recorder = RecordingChannel()
    notifier = Notifier(channels=[recorder], run_name="t", run_dir=tmp_path, group_wait_s=0.0, outbox=False)
    try:
        tracker, clock = make_tracker(notifier)
        simulate(tracker, clock, epochs=4, steps=20, spike_at=30)
        event = tracker.train_end()
        assert event is not None
        assert 0 == notifier.flush(20)
    finally:
        notifier.close(5)
    summaries = [n for n in recorder.notifications if n.event.kind == "summary"]
    [note] = summaries
    assert "loss-curve" == note.attachments[0].content_id
    assert "training completed" in recorder.texts[recorder.notifications.index(note)]
    run_dir = tmp_path / "t"
    assert (run_dir / "report.html").is_file() and (run_dir / "loss_curve.png").is_file()
    assert "t" == event.details["run"]["name"] and str(run_dir) == event.details["run_dir"]
    assert 1 == event.details["delivery"]["emitted"]  # the spike alert went through the same notifier
    assert {"spike": 1} == event.details["alerts"]["by_kind"]
    assert any(e.kind == "spike" for e in recorder.events)
    assert "4/4 epochs in 3.6 s" in render_report(run_dir, "text")


def test_crash_under_watch_sends_a_crashed_summary(tmp_path: Path) -> None:
    """An exception under notifier.watch() ends the summary as 'crashed' without any Keras hook."""
    from alertcb.notifier import Notifier
    from alertcb.testing import RecordingChannel

    recorder = RecordingChannel()
    notifier = Notifier(channels=[recorder], run_name="t", run_dir=tmp_path, group_wait_s=0.0, outbox=False)
    try:
        tracker, clock = make_tracker(notifier)
        with pytest.raises(ZeroDivisionError), notifier.watch():
            simulate(tracker, clock, epochs=2, steps=10, spike_at=None)
            tracker.batch_end(20, math.nan)
            _ = 1 / 0
        assert 0 == notifier.flush(20)
    finally:
        notifier.close(5)
    [summary] = [e for e in recorder.events if e.kind == "summary"]
    assert "crashed" == summary.details["status"] and "ZeroDivisionError" == summary.details["error"]["type"]
    assert "ZeroDivisionError" in summary.message
