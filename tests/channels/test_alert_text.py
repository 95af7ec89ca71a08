"""Alert text a paged engineer can act on: culprit frame first, explained numbers, no raw dicts,
each stack once, one "what to check" line, epoch/step on crashes — in every channel's format."""

from __future__ import annotations

import math
import re
import threading
import time
from typing import Any

import pytest

from alertcb.alerttext import CHECKS, alert_view, readable
from alertcb.detectors.hang import HangMonitor
from alertcb.events import KINDS, Event
from alertcb.notification import Notification
from alertcb.render import Renderer, template_name
from alertcb.stacks import collapse, library_of, parse_frames

from .alerts import (
    ALERTS,
    GENERATOR_THREAD,
    RUN,
    SITE,
    TRAIN,
    TRAINING_THREAD,
    crash,
    divergence,
    hang,
    nonfinite,
    note,
)

PARTS = {
    "console": ["txt.j2"],
    "wecom": ["md.j2", "md2.j2", "txt.j2"],
    "slack": ["mrkdwn.j2"],
    "email": ["txt.j2", "html.j2"],
    "pagerduty": ["summary.txt.j2"],
    "alertmanager": ["description.txt.j2"],
    "webhook": ["txt.j2"],
}
RENDERER = Renderer()


def renderings(n: Notification) -> dict[str, str]:
    return {f"{t}/{p}": RENDERER.render(template_name(t, n, p), n) for t, parts in PARTS.items() for p in parts}


# --- frames -------------------------------------------------------------------------------


def test_library_frames_are_told_from_user_code() -> None:
    """site-packages, the standard library and alertcb are libraries; the user's project is not."""
    assert "tensorflow" == library_of(f"{SITE}/tensorflow/python/eager/execute.py")
    assert "threading" == library_of("/usr/lib/python3.11/threading.py")
    assert "threading" == library_of(threading.__file__)
    assert "alertcb" == library_of(__import__("alertcb.notifier").notifier.__file__)
    assert library_of(TRAIN) is None and library_of(__file__) is None


def test_collapse_puts_the_innermost_frame_first_and_counts_library_frames() -> None:
    """A Keras training-thread stack becomes two lines: the library count, then the user's fit call."""
    lines = collapse(parse_frames(TRAINING_THREAD))
    fit = f"{TRAIN}:41 in <module>: model.fit(batches(), steps_per_epoch=500, epochs=10, callbacks=callbacks)"
    assert ["… 10 library frames (tensorflow, keras)", fit] == lines


def test_chained_traceback_uses_the_last_exception() -> None:
    """'During handling of the above exception' — the frames of the final traceback count."""
    text = 'Traceback:\n  File "a.py", line 1, in f\n    x()\nKeyError\n\nDuring handling of the above exception, another exception occurred:\n\nTraceback:\n  File "b.py", line 2, in g\n    y()\nValueError'
    assert ["b.py"] == [f["file"] for f in parse_frames(text)]


# --- hang ---------------------------------------------------------------------------------


def test_hang_culprit_is_the_users_sleep_in_the_generator_thread() -> None:
    """The innermost user frame closest to where a thread is blocked: the generator's time.sleep."""
    view = alert_view(hang())
    assert {"label": "stuck in", "text": f"{TRAIN}:23 in batches: time.sleep(3600)", "thread": "thread thread-139641718036160, the tf.data generator"} == view["culprit"]
    assert view["stacks"][0]["lines"][0].endswith("time.sleep(3600)")  # that thread's stack first
    assert "no progress for 41m 3s after step 2,317 (timeout 2m 0s)" == view["lead"]


@pytest.mark.parametrize("where", sorted(PARTS))
def test_hang_in_every_format_leads_with_the_frame_and_shows_each_stack_once(where: str) -> None:
    """Culprit before any stack, no raw traceback lines, each collapsed stack once, no dict repr."""
    for name, text in renderings(note(hang())).items():
        if not name.startswith(where):
            continue
        assert "time.sleep(3600)" in text, name
        if "pagerduty" not in name:
            assert text.index("time.sleep(3600)") < text.index("library frame"), name
            assert 1 == text.count("10 library frames (tensorflow, keras)"), name
        assert 'File "' not in text and "{'" not in text and "threads" not in text, name


def test_hang_without_stack_details_still_finds_the_frame_in_the_message() -> None:
    """Robust to a detector that only puts the stacks in the message."""
    event = hang()
    bare = Event(kind="hang", title=event.title, message=event.message, severity="critical", details={"phase": "validation"})
    view = alert_view(bare)
    assert view["culprit"]["text"].endswith("time.sleep(3600)")
    assert ("phase", "validation") in view["facts"]
    assert 2 == len(view["stacks"])


def test_hang_threads_as_a_list_of_dicts() -> None:
    """Another shape a detector may use: [{"name", "stack"}]."""
    event = Event(kind="hang", title="training hung", details={"stack": TRAINING_THREAD, "threads": [{"name": "loader", "stack": GENERATOR_THREAD}]})
    assert alert_view(event)["culprit"]["text"].endswith("time.sleep(3600)")


def _user_wait(ready: threading.Event, stop: threading.Event) -> None:
    ready.set()
    while not stop.is_set():
        time.sleep(0.01)  # the line the alert must point at


def test_real_thread_stack_from_the_hang_monitor() -> None:
    """A real stuck thread, seen by HangMonitor.check (fake clock): the alert points at its sleep line."""
    clock = [100.0]
    monitor = HangMonitor(timeout_s=5.0, clock=lambda: clock[0])
    ready, stop = threading.Event(), threading.Event()

    def train() -> None:
        monitor.start()
        monitor.beat(0)
        _user_wait(ready, stop)

    worker = threading.Thread(target=train, name="trainer")
    worker.start()
    try:
        assert ready.wait(10)
        clock[0] += 60
        event = monitor.check()
    finally:
        stop.set()
        worker.join(10)
    assert event is not None
    view = alert_view(event)
    assert view["culprit"]["text"].endswith("time.sleep(0.01)  # the line the alert must point at")
    assert "_user_wait" in view["culprit"]["text"]
    assert any("threading" in line for line in view["stacks"][0]["lines"])  # Thread.run etc., collapsed


# --- spike, divergence, nonfinite -----------------------------------------------------------


def test_spike_shows_one_explained_number_against_its_baseline_and_the_lr() -> None:
    """The batch's own loss, what it is compared with, the threshold and the learning rate; no running mean."""
    event = Event(
        kind="spike", title="loss spike", message="loss 7,656 at step 12 is ...", step=12,
        metrics={"loss": 3.1, "accuracy": 0.5},
        details={"value": 7656.0, "median": 2.08, "ratio": 3680.8, "threshold": 5.1, "typical_high": 2.6, "score": 40.0, "persisted": False, "window": 20, "lr": 0.01},
    )
    view = alert_view(event)
    assert [
        ("batch loss", "7,656 (the batch's own loss, de-averaged from Keras' running mean) = 3,681× the baseline 2.08 (median of the last 20 batches)"),
        ("alert threshold", "5.1 (one batch above it)"),
        ("learning rate", "0.01"),
    ] == view["facts"]
    assert ([("accuracy", "0.5")], "epoch running means") == (view["metrics"], view["metrics_label"])
    assert "" == view["lead"]


def test_divergence_with_lr_in_every_format() -> None:
    """Keras' running mean (7,656) and the raw last value (1.555) are not shown; level vs baseline and lr are."""
    for name, text in renderings(note(divergence())).items():
        assert "14.21" in text and "2.08" in text, name
        if "pagerduty" not in name:
            assert "0.5" in text and "learning rate" in text, name
        assert "7,656" not in text and "1.555" not in text, name


def test_divergence_without_lr_or_level_falls_back_to_the_message() -> None:
    """Missing keys: the detector's own sentence and readable details."""
    view = alert_view(Event(kind="divergence", title="loss diverging", message="level up", details={"ratio": 7.0}))
    assert ("level up", [("ratio", "7")]) == (view["lead"], view["facts"])


def test_nonfinite_details_are_readable_lines_in_every_format() -> None:
    """`nonfinite: {'loss': nan}` becomes 'non-finite: loss = NaN, accuracy = NaN'."""
    for name, text in renderings(note(nonfinite())).items():
        assert "{" not in text.replace("{{", "") or name.endswith("html.j2"), name
        assert "nan}" not in text and "'loss'" not in text, name
        if "pagerduty" not in name:
            assert "loss = NaN, accuracy = NaN" in text, name


@pytest.mark.parametrize(
    ("value", "key", "text"),
    [
        ({"loss": math.nan, "acc": 0.5}, "", "loss = NaN, acc = 0.5"),
        ([1, 2.5, None], "", "1, 2.5, —"),
        (True, "", "yes"),
        (75.0, "idle_s", "1m 15s"),
        ({"a": {"b": 1}}, "", "a = b = 1"),
        ("two\x00 words", "", "two words"),
    ],
)
def test_readable_values(value: Any, key: str, text: str) -> None:
    """Dicts, lists, booleans, durations and control characters read as text."""
    assert text == readable(value, key)


# --- what to check --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(KINDS - {"summary", "progress"}))
def test_every_alert_kind_ends_with_its_check_line_in_every_format(kind: str) -> None:
    """The same CHECKS line closes each format (before the host line); a resolve has none."""
    firing = Event(kind=kind, title="something", message="m", severity="warning", run=RUN)
    for name, text in renderings(Notification((firing,))).items():
        check = CHECKS.get(kind, "the message above and the run's logs")
        assert check in text.replace("\\", "").replace("&#39;", "'"), name
        if "pagerduty" not in name:
            after = text[text.index("check"):]
            assert "something" not in after and "library" not in after, name
    resolved = Event(kind=kind, title="something", status="resolved", run=RUN)
    for name, text in renderings(Notification((resolved,))).items():
        assert "What to check" not in text and "Check:" not in text, name


def test_checks_cover_the_kinds_the_issue_names() -> None:
    """nonfinite: data and lr; hang: frame, input pipeline, collective; divergence: lr; interrupted: scheduler."""
    assert "NaN/Inf" in CHECKS["nonfinite"] and "learning rate" in CHECKS["nonfinite"]
    assert all(w in CHECKS["hang"] for w in ("frame", "input pipeline", "all-reduce"))
    assert "learning rate" in CHECKS["divergence"] and "data of that batch" in CHECKS["spike"]
    assert "validation data" in CHECKS["val_anomaly"] and "scheduler" in CHECKS["interrupted"]
    assert {"plateau", "overfitting", "crash"} <= set(CHECKS)


# --- crash ----------------------------------------------------------------------------------


def test_crash_points_at_the_raising_user_frame() -> None:
    """'Raised in' the user's augment(), not Keras' error handler; epoch and step in the headline."""
    texts = renderings(note(crash()))
    for name, text in texts.items():
        assert "train.py:30 in augment" in text, name
    assert "training crashed: ValueError at epoch 4, step 1,790" in texts["console/txt.j2"]
    assert re.search(r"Raised in: \S+train\.py:30 in augment", texts["console/txt.j2"])


def test_epoch_details_are_shown_one_based_like_the_headline() -> None:
    """`best_epoch: 4` (0-based, as events count) reads 'best epoch: 5', like 'at epoch 5' in headlines."""
    view = alert_view(Event(kind="plateau", title="val_loss plateau", epoch=9, details={"best_epoch": 4, "patience": 5}))
    assert [("best epoch", "5"), ("patience", "5")] == view["facts"]


def test_resolved_hang_says_it_once() -> None:
    """The resume message carries the stalled time; it is not repeated as a detail, and there is no check line."""
    event = Event(kind="hang", title="training hung", status="resolved", message="training resumed after 41m 3s", details={"stalled_s": 2463.0, "phase": "train"})
    view = alert_view(event)
    assert ("training resumed after 41m 3s", [], "") == (view["lead"], view["facts"], view["check"])


def _huge() -> Notification:
    """Everything at once, in 3-byte characters: long message, 60 details, 8 threads, a digest of 300."""
    threads = {f"worker-{i}": GENERATOR_THREAD.replace("batches", "读取数据" * 20) for i in range(8)}
    head = Event(
        kind="hang", title="训练卡住" * 100, message="没有进展" * 3000, severity="critical", run=RUN, step=5,
        metrics={f"指标{i}": i / 7 for i in range(200)},
        details={"stack": TRAINING_THREAD * 5, "threads": threads, **{f"细节{i}": "值" * 400 for i in range(60)}, "traceback": "帧\n" * 5000},
    )
    others = tuple(Event(kind="spike", title="尖峰" * 80, severity="warning", run=RUN) for _ in range(300))
    return Notification((head, *others), suppressed=10**9)  # one alert (digests have their own templates)


@pytest.mark.parametrize("msgtype", ["markdown", "markdown_v2", "text"])
def test_wecom_keeps_the_check_line_within_the_byte_limit(msgtype: str) -> None:
    """However much evidence, the WeCom message stays within its limit and still ends with the check line."""
    from alertcb.channels import WeCom
    from alertcb.channels.base import SendContext

    channel = WeCom(key="k-0000", msgtype=msgtype, mention_all_on_critical=msgtype == "text")  # type: ignore[arg-type]
    payload = channel.build_payload(_huge(), SendContext(None, RENDERER.render, 1.0))
    content = payload[payload["msgtype"]]["content"]
    assert len(content.encode("utf-8")) <= (2048 if msgtype == "text" else 4096)
    assert CHECKS["hang"].split(" (")[0] in content.replace("\\", ""), content[-600:]
    assert content.count("```") % 2 == 0


def test_slack_keeps_the_check_line_within_the_block_limit() -> None:
    """The same notification in Slack: ≤ 50 blocks and the check line is one of them."""
    from alertcb.channels import Slack
    from alertcb.channels.base import SendContext

    payload = Slack(webhook_url="https://hooks.slack.com/services/T0/B0/xxxxxxxx").build_payload(_huge(), SendContext(None, RENDERER.render, 1.0))
    assert len(payload["blocks"]) <= 50
    assert any(b["text"]["text"].startswith("*What to check:*") for b in payload["blocks"])


@pytest.mark.parametrize("kind", ["hang", "divergence", "nonfinite", "crash", "interrupted", "plateau", "val_anomaly"])
def test_chat_channels_carry_the_culprit_and_the_check_line(kind: str) -> None:
    """DingTalk, Feishu, Teams, Discord, Telegram (the shared chat body): same evidence, same check line."""
    import json

    from alertcb.channels import DingTalk, Discord, Feishu, Teams, Telegram
    from alertcb.channels.base import SendContext

    event = ALERTS[kind]() if kind in ALERTS else Event(kind=kind, title="x", message="m", severity="warning", run=RUN)
    ctx = SendContext(None, RENDERER.render, 1.0)
    for channel in (
        DingTalk(access_token="t0000000"),
        Feishu(webhook_url="https://open.feishu.cn/open-apis/bot/v2/hook/x0000000"),
        Teams(webhook_url="https://example.webhook.office.com/workflows/x?sig=s0000000"),
        Discord(webhook_url="https://discord.com/api/webhooks/1/x0000000"),
        Telegram(bot_token="123456789:GoldenTokenGoldenToken00", chat_id=1),
    ):
        text = json.dumps(channel.build_payload(note(event), ctx), ensure_ascii=False)
        plain = re.sub(r"&#(\d+);", lambda m: chr(int(m.group(1))), text).replace("\\\\", "")
        assert CHECKS[kind].split(" (")[0] in plain, (channel.type, kind)
        if kind in ("hang", "crash"):
            assert ("time.sleep(3600)" if kind == "hang" else "in augment") in plain, channel.type
        assert "{'" not in plain, channel.type
