"""The `alert` templates of every channel render for every kind, status and shape of event."""

from __future__ import annotations

import pytest

from alertcb.events import KINDS, Event, RunInfo
from alertcb.notification import Notification
from alertcb.render import Renderer, template_name

PARTS = {
    "wecom": ["md.j2", "md2.j2", "txt.j2"],
    "slack": ["header.txt.j2", "mrkdwn.j2", "fallback.txt.j2"],
    "email": ["subject.txt.j2", "txt.j2", "html.j2"],
    "pagerduty": ["summary.txt.j2"],
    "alertmanager": ["summary.txt.j2", "description.txt.j2"],
    "webhook": ["txt.j2"],
}
ALERT_KINDS = sorted(KINDS - {"summary", "progress"})
RENDERER = Renderer(link_url="https://dash.example/run/42", run_dir="/runs/exp42")


def _notes(kind: str) -> list[Notification]:
    run = RunInfo(name="exp42", host="gpu-07", worker="worker:1", job="sweep")
    full = Event(
        kind=kind, title="loss is NaN", message="line one\nline two", severity="critical", run=run, epoch=2, step=1234,
        metrics={"loss": float("nan"), "val_loss": 0.5}, details={"median": 0.41, "traceback": "Traceback\n  File x\nValueError"},
    )
    bare = Event(kind=kind, title="bare", status="resolved", severity="info")
    other = Event(kind="spike", title="loss spike", run=run, step=7)
    return [Notification((full,)), Notification((bare,)), Notification((full, other), suppressed=48211, digest=True)]


@pytest.mark.parametrize("kind", ALERT_KINDS)
@pytest.mark.parametrize("channel_type", sorted(PARTS))
def test_every_part_renders(channel_type: str, kind: str) -> None:
    """StrictUndefined: every part renders, headline first, for full, bare and digest notifications."""
    for note in _notes(kind):
        for part in PARTS[channel_type]:
            text = RENDERER.render(template_name(channel_type, note, part), note)
            assert text.strip()
            if channel_type != "alertmanager" or part == "summary.txt.j2":
                head = text if part == "html.j2" else text.splitlines()[0]
                assert note.event.title in head


def test_headline_says_what_and_where() -> None:
    """'🔴 exp42 · loss is NaN at epoch 3, step 1,234' and the repeat count."""
    note = _notes("nonfinite")[2]
    text = RENDERER.render("webhook/alert.txt.j2", note)
    assert text.startswith("🔴 exp42 · loss is NaN at epoch 3, step 1,234 (+48,211 more)")
    assert "host gpu-07 · worker worker:1 · run dir /runs/exp42 · https://dash.example/run/42" in text
