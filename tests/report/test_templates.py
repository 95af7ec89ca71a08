"""Summary, progress and report templates: render everywhere, stay within limits, overridable."""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
from pathlib import Path

import jinja2
import pytest

from alertcb.events import KINDS, Event, RunInfo
from alertcb.notification import Notification
from alertcb.render import Renderer, packaged_templates_dir, template_name

from .helpers import RUN, STATUSES, alert_event, notification, summary_event

TEMPLATES = packaged_templates_dir()
CHANNEL_PARTS = {
    "console": ["txt.j2"],
    "wecom": ["md.j2", "txt.j2", "md2.j2"],
    "slack": ["header.txt.j2", "mrkdwn.j2", "fallback.txt.j2"],
    "email": ["subject.txt.j2", "txt.j2", "html.j2"],
    "webhook": ["txt.j2"],
}
OWN = [
    f"{ch}/{group}.{part}"
    for ch, parts in CHANNEL_PARTS.items()
    for group in ("summary", "progress")
    for part in parts
]
REPORTS = ["report/report.html.j2", "report/report.md.j2", "report/report.txt.j2"]
GOLDEN = Path(__file__).parent / "golden"


def test_every_channel_has_summary_and_progress_for_each_alert_part() -> None:
    """The summary/progress groups use exactly the alert group's part names, for every channel."""
    for channel, parts in CHANNEL_PARTS.items():
        alert_parts = sorted(p.name.removeprefix("alert.") for p in (TEMPLATES / channel).glob("alert.*"))
        assert sorted(parts) == alert_parts or not alert_parts, channel
        for group in ("summary", "progress"):
            for part in parts:
                assert (TEMPLATES / channel / f"{group}.{part}").is_file(), (channel, group, part)


@pytest.mark.parametrize("name", OWN + REPORTS)
@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("status", ["firing", "resolved"])
def test_every_template_renders_for_every_kind(renderer: Renderer, name: str, kind: str, status: str) -> None:
    """Under StrictUndefined, every template renders any event kind in both statuses."""
    event = alert_event(kind, status)
    if status == "resolved" and kind == "summary":
        event = Event.from_dict({**event.to_dict(), "status": "resolved"})
    text = renderer.render(name, notification(event))
    assert text.strip()
    assert "Undefined" not in text and not re.search(r"\bNone\b(?!,)", text)


@pytest.mark.parametrize("name", [n for n in OWN if "/summary." in n] + REPORTS)
@pytest.mark.parametrize("status", STATUSES)
def test_summary_templates_put_status_run_and_best_first(renderer: Renderer, name: str, status: str) -> None:
    """Each summary rendering starts with the status and run, and shows the duration and best metric early."""
    event = summary_event(status)
    text = renderer.render(name, notification(event))
    assert (
        not re.search(r"\bNone\b(?!,)", _visible(text)) and "Undefined" not in text
    )  # "(None, 64)" is a shape
    head = _visible(text)[:400]
    status_text = status.replace("_", " ")
    assert status_text in head and "exp42" in head, head
    best = event.details["monitor"]
    if "header" not in name:
        assert f"{best['best_epoch'] + 1}" in head
        assert re.search(r"\d+(\.\d+)? s|\d+m \d+s", head), head


def _visible(text: str) -> str:
    """Text without HTML tags/entities and with the <title>/<head> removed."""
    text = re.sub(r"(?s)<head>.*?</head>", "", text)
    text = re.sub(r"<[^>]+>", " ", text)
    return " ".join(text.replace("&#39;", "'").replace("&amp;", "&").split())


def _paragraphs(mrkdwn: str) -> list[str]:
    """Slack's rule (templates/README.md): blank lines split sections, ``` fences are kept whole."""
    out, current, fence = [], [], False
    for line in mrkdwn.split("\n"):
        if not fence and not line.strip():
            if current:
                out.append("\n".join(current))
            current = []
            continue
        current.append(line)
        fence ^= line.count("```") % 2 == 1
    if current:
        out.append("\n".join(current))
    return out


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@pytest.fixture(scope="module")
def huge_run() -> Notification:
    """1,000 epochs, a 200-frame traceback, a 150-character Chinese run name: the worst case."""
    run = RunInfo(name="实验" * 75, host="gpu-node-7", pid=1)
    event = summary_event("crashed", epochs=1500, frames=200, run=run)
    assert event.details["epochs_done"] == 1000
    return notification(event)


def test_wecom_summary_within_byte_limits(renderer: Renderer, huge_run: Notification) -> None:
    """WeCom markdown ≤ 4096 bytes and text ≤ 2048 bytes, headline and status first."""
    for part, limit in (("md.j2", 4096), ("md2.j2", 4096), ("txt.j2", 2048)):
        text = renderer.render(template_name("wecom", huge_run, part), huge_run)
        assert len(text.encode("utf-8")) <= limit, (part, len(text.encode()))
        first = text.splitlines()[0]
        assert "crashed" in first and "实验" in first
        assert "1000/1500" in text.replace(",", "")
    md = renderer.render("wecom/summary.md.j2", huge_run)
    assert "ValueError" in md and "…" not in md[-20:]  # the template fits by itself; the safety cut is unused
    assert "first, best, last of 1,000" in md


def test_slack_summary_within_block_limits(renderer: Renderer, huge_run: Notification) -> None:
    """Slack header ≤ 150, each section ≤ 3000 chars, well under 50 blocks, fences balanced."""
    header = renderer.render("slack/summary.header.txt.j2", huge_run)
    assert "\n" not in header and _utf16(header) <= 150
    fallback = renderer.render("slack/summary.fallback.txt.j2", huge_run)
    assert _utf16(fallback) <= 3000 and "crashed" in fallback
    body = renderer.render("slack/summary.mrkdwn.j2", huge_run)
    sections = _paragraphs(body)
    assert 2 <= len(sections) <= 12
    for section in sections:
        assert _utf16(section) <= 3000, section[:200]
        assert section.count("```") % 2 == 0
    assert "1,000/1,500 epochs" in sections[0] and "best" in sections[0]
    assert "ValueError" in sections[1]


def test_slack_payload_from_the_channel_builder(renderer: Renderer, huge_run: Notification) -> None:
    """The Slack channel's own block builder accepts the summary without cutting anything."""
    slack = pytest.importorskip("alertcb.channels.slack")
    payload = slack.build_payload(
        renderer.render("slack/summary.header.txt.j2", huge_run),
        renderer.render("slack/summary.mrkdwn.j2", huge_run),
        renderer.render("slack/summary.fallback.txt.j2", huge_run),
    )
    assert len(payload["blocks"]) <= 50
    texts = [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section"]
    assert all(_utf16(t) <= 3000 and not t.endswith("…") for t in texts)


def test_progress_messages_are_short(renderer: Renderer) -> None:
    """Progress digests are a few lines on every channel."""
    note = notification(alert_event("progress"))
    for name in [n for n in OWN if "/progress." in n]:
        text = renderer.render(name, note)
        assert len(text.encode()) < 2048, name
        assert "4/12" in text or "epoch 4" in text.lower(), name
    console = renderer.render("console/progress.txt.j2", note)
    assert "ETA 6m 5s" in console and "spike ×1" in console


def test_html_escapes_user_text(renderer: Renderer) -> None:
    """Run names and metric names are escaped in every HTML template."""
    run = RunInfo(name='<script>alert("x")</script>', host="h<zz>", pid=1)
    summary = summary_event("crashed", run=run)
    progress = Event.from_dict({**alert_event("progress").to_dict(), "run": run.to_dict()})
    for name in ("email/summary.html.j2", "report/report.html.j2", "email/progress.html.j2"):
        html = renderer.render(name, notification(progress if "progress" in name else summary))
        assert "<script>" not in html and "<zz>" not in html, name
        assert "&lt;script&gt;" in html


def test_email_html_is_mail_safe_and_uses_cid(renderer: Renderer) -> None:
    """The summary mail HTML has no script or SVG and shows the picture via cid:loss-curve only when attached."""
    event = summary_event("completed")
    with_png = renderer.render("email/summary.html.j2", notification(event))
    without = renderer.render("email/summary.html.j2", notification(event, attach=False))
    assert 'src="cid:loss-curve"' in with_png
    assert "cid:" not in without
    for html in (with_png, without):
        lowered = html.lower()
        assert "<script" not in lowered and "<svg" not in lowered and "<style" not in lowered


def test_email_message_is_multipart_with_inline_png(renderer: Renderer) -> None:
    """Built by the email channel, the summary is text + HTML alternatives with the PNG related by cid."""
    channels = pytest.importorskip("alertcb.channels.email")
    from alertcb.channels.base import SendContext

    channel = channels.Email(
        host="127.0.0.1", sender="ml@example.com", to=["team@example.com"], security="none"
    )
    msg = channel.build_message(
        notification(summary_event("completed")), SendContext(None, renderer.render, 5.0)
    )
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    types = [part.get_content_type() for part in parsed.walk()]
    assert "text/plain" in types and "text/html" in types and "image/png" in types
    html = parsed.get_body(preferencelist=("html",)).get_content()
    png = next(p for p in parsed.walk() if p.get_content_type() == "image/png")
    assert "<loss-curve>" == png["Content-ID"] and 'src="cid:loss-curve"' in html
    assert "completed" in parsed["Subject"] and "exp42" in parsed["Subject"]


def test_user_template_overrides_one_template(tmp_path: Path) -> None:
    """A file in template_dir replaces that template only; the others still come from the package."""
    (tmp_path / "console").mkdir()
    (tmp_path / "console" / "summary.txt.j2").write_text(
        "CUSTOM {{ (details | summary_view).status }} {{ run_name }}\n", encoding="utf-8"
    )
    override = Renderer(template_dir=tmp_path)
    note = notification(summary_event("completed"))
    assert "CUSTOM completed exp42" == override.render("console/summary.txt.j2", note)
    assert override.render("webhook/summary.txt.j2", note).startswith("✅ exp42")


def test_a_broken_override_fails_loudly(tmp_path: Path) -> None:
    """StrictUndefined: an override using an unknown variable raises instead of sending a blank."""
    (tmp_path / "console").mkdir()
    (tmp_path / "console" / "summary.txt.j2").write_text("{{ no_such_thing }}", encoding="utf-8")
    with pytest.raises(jinja2.UndefinedError):
        Renderer(template_dir=tmp_path).render("console/summary.txt.j2", notification(summary_event()))


# ---------------------------------------------------------------------- golden files

GOLDEN_CASES = {
    "console.summary.txt": ("console/summary.txt.j2", "completed"),
    "console.progress.txt": ("console/progress.txt.j2", "progress"),
    "wecom.summary.md": ("wecom/summary.md.j2", "crashed"),
    "wecom.summary.txt": ("wecom/summary.txt.j2", "crashed"),
    "wecom.summary.md2": ("wecom/summary.md2.j2", "completed"),
    "wecom.progress.md": ("wecom/progress.md.j2", "progress"),
    "slack.summary.header.txt": ("slack/summary.header.txt.j2", "diverged"),
    "slack.summary.mrkdwn": ("slack/summary.mrkdwn.j2", "diverged"),
    "slack.summary.fallback.txt": ("slack/summary.fallback.txt.j2", "diverged"),
    "slack.progress.mrkdwn": ("slack/progress.mrkdwn.j2", "progress"),
    "email.summary.subject.txt": ("email/summary.subject.txt.j2", "stopped_early"),
    "email.summary.txt": ("email/summary.txt.j2", "stopped_early"),
    "email.summary.html": ("email/summary.html.j2", "stopped_early"),
    "email.progress.html": ("email/progress.html.j2", "progress"),
    "webhook.summary.txt": ("webhook/summary.txt.j2", "interrupted"),
    "report.html": ("report/report.html.j2", "completed"),
    "report.md": ("report/report.md.j2", "incomplete"),
    "report.txt": ("report/report.txt.j2", "crashed"),
}


@pytest.mark.parametrize("golden", sorted(GOLDEN_CASES))
def test_golden(renderer: Renderer, golden: str) -> None:
    """Renderings match tests/report/golden/ (regenerate with UPDATE_GOLDEN=1 and review the diff)."""
    name, case = GOLDEN_CASES[golden]
    event = alert_event("progress") if case == "progress" else summary_event(case)
    extra = {"image_src": "loss_curve.png"} if name.startswith("report/") else {}
    text = renderer.render(name, notification(event), **extra) + "\n"
    path = GOLDEN / golden
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"missing golden file {path}; run with UPDATE_GOLDEN=1"
    assert path.read_text(encoding="utf-8") == text


def test_golden_data_is_json_round_trip_stable(renderer: Renderer) -> None:
    """A summary re-read from events.jsonl renders exactly like the in-memory one."""
    event = summary_event("crashed")
    reread = Event.from_dict(json.loads(json.dumps(event.to_dict(), allow_nan=False)))
    for name in ("report/report.txt.j2", "wecom/summary.md.j2", "slack/summary.mrkdwn.j2"):
        assert renderer.render(name, notification(event)) == renderer.render(name, notification(reread))


def test_run_fixture_is_the_documented_one() -> None:
    """Golden files use the fixed run identity."""
    assert ("exp42", "gpu-node-7") == (RUN.name, RUN.host)


def test_docs_list_every_view_key() -> None:
    """docs/reports.md documents every field and property templates can use from Summary and Progress."""
    import dataclasses

    from alertcb.report.progress import Progress
    from alertcb.report.summary import Summary

    text = (Path(__file__).resolve().parents[2] / "docs" / "reports.md").read_text(encoding="utf-8")
    keys: set[str] = set()
    for cls in (Summary, Progress):
        keys |= {f.name for f in dataclasses.fields(cls)}
        keys |= {name for name, value in vars(cls).items() if isinstance(value, property)}
    missing = sorted(k for k in keys if f"`{k}`" not in text)
    assert not missing
