"""Real `model.fit()` runs: crash and SIGTERM alerts carry epoch and step; a hang alert in WeCom and
Slack leads with the user's stuck line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import alertcb
from alertcb.channels import Slack, WeCom
from alertcb.keras import HangWatchdog, NonFiniteAlert
from alertcb.testing import RecordingChannel
from tests.conftest_services import WECOM_KEY, SlackStandIn, WeComStandIn

keras = pytest.importorskip("keras")
ROOT = Path(__file__).resolve().parents[2]
STEPS = 5


def _model() -> Any:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    return model


def _data() -> tuple[Any, Any]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(STEPS * 8, 4)).astype("float32"), rng.normal(size=(STEPS * 8, 1)).astype("float32")


class FailAt(keras.callbacks.Callback):  # type: ignore[misc]
    """Raises in the user's code at (epoch, batch)."""

    def __init__(self, epoch: int, batch: int) -> None:
        super().__init__()
        self.at, self.epoch = (epoch, batch), -1

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        if (self.epoch, batch) == self.at:
            raise RuntimeError("data loader lost its shard")


def test_crash_alert_carries_epoch_and_step(tmp_path: Path) -> None:
    """watch() reports the position alertcb's callbacks last saw: epoch 2 (1-based), step 8."""
    rec = RecordingChannel()
    notifier = alertcb.Notifier([rec], run_name="exp42", run_dir=False, outbox=False, group_wait_s=0)
    x, y = _data()
    with pytest.raises(RuntimeError), notifier.watch():
        _model().fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[NonFiniteAlert(notifier), FailAt(1, 3)])
    notifier.close()
    (event,) = [e for e in rec.events if e.kind == "crash"]
    assert (1, STEPS + 3) == (event.epoch, event.step)
    assert "training crashed: RuntimeError at epoch 2, step 8" in rec.texts[-1]
    assert "Raised in: " in rec.texts[-1] and "test_alert_position.py" in rec.texts[-1]


def test_crash_outside_fit_has_no_position() -> None:
    """Before any batch there is nothing to report: no epoch, no step."""
    rec = RecordingChannel()
    notifier = alertcb.Notifier([rec], run_dir=False, outbox=False, group_wait_s=0)
    with pytest.raises(KeyError), notifier.watch():
        raise KeyError("config")
    notifier.close()
    assert [(None, None)] == [(e.epoch, e.step) for e in rec.events if e.kind == "crash"]


SIGTERM_SCRIPT = """
import json, os, signal, sys
import numpy as np
import keras
import alertcb
from alertcb.channels.base import Channel, Outcome
from alertcb.keras import NonFiniteAlert

class FileChannel(Channel):
    type = "file"
    def send(self, n, ctx):
        with open(sys.argv[1], "a") as f:
            for e in n.events:
                f.write(json.dumps({**e.to_dict(), "text": ctx.render("wecom/alert.txt.j2", n)}) + "\\n")
        return Outcome.delivered()

class Preempt(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == (2, 1):
            os.kill(os.getpid(), signal.SIGTERM)

n = alertcb.Notifier([FileChannel()], run_name="exp42", run_dir=False, outbox=False, handle_sigterm=True, flush_timeout_s=10)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
model.compile("sgd", "mse")
rng = np.random.default_rng(0)
x, y = rng.normal(size=(40, 4)).astype("float32"), rng.normal(size=(40, 1)).astype("float32")
model.fit(x, y, batch_size=8, epochs=5, verbose=0, callbacks=[NonFiniteAlert(n), Preempt()])
"""


@pytest.mark.slow
def test_sigterm_alert_carries_epoch_and_step(tmp_path: Path) -> None:
    """A SIGTERM during epoch 3 (0-based 2), batch 1: the interrupted alert says epoch 3, step 11."""
    script, out = tmp_path / "train.py", tmp_path / "out.jsonl"
    script.write_text(textwrap.dedent(SIGTERM_SCRIPT))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, str(script), str(out)], capture_output=True, text=True, env=env, timeout=240, check=False)
    assert -signal.SIGTERM == proc.returncode, proc.stderr[-2000:]
    (event,) = [e for e in map(json.loads, out.read_text().splitlines()) if e["kind"] == "interrupted"]
    assert (2, 2 * STEPS + 1) == (event["epoch"], event["step"])
    assert "training interrupted (SIGTERM) at epoch 3, step 11" in event["text"]
    assert "What to check: preemption" in event["text"]


def _stalling_batches() -> Any:
    rng = np.random.default_rng(0)
    for i in range(10_000):
        if i == 7:
            time.sleep(4)  # the stuck read the alert must point at
        yield rng.normal(size=(8, 4)).astype("float32"), rng.normal(size=(8, 1)).astype("float32")


@pytest.mark.slow
def test_hang_alert_in_wecom_and_slack_leads_with_the_users_stuck_line(wecom_server: WeComStandIn, slack_server: SlackStandIn) -> None:
    """A real stalled generator: both chats name the user's time.sleep line before any stack, collapsed."""
    channels = [WeCom(key=WECOM_KEY, webhook_url=wecom_server.url), Slack(webhook_url=slack_server.url)]
    notifier = alertcb.Notifier(channels, run_name="exp42", run_dir=False, outbox=False, group_wait_s=0, console=False)
    watchdog = HangWatchdog(notifier, timeout_s=1.0, interval_s=0.25)
    _model().fit(_stalling_batches(), steps_per_epoch=STEPS, epochs=2, verbose=0, callbacks=[watchdog])
    notifier.close(20)
    wecom = [p["markdown"]["content"] for p in wecom_server.accepted if "training hung" in p["markdown"]["content"]]
    slack = ["\n".join(b["text"]["text"] for b in p["blocks"][1:]) for p in slack_server.accepted if "training hung" in p["text"]]
    firing = [t for t in wecom + slack if "resolved" not in t]
    assert 2 == len(firing), wecom + slack
    for text in firing:
        stuck = text.index("Stuck in")
        assert "test_alert_position.py" in text[stuck : stuck + 300] and "time.sleep(4)" in text[stuck : stuck + 300]
        assert stuck < text.index("library frame")
        assert 'File "' not in text and "{'" not in text
        assert "What to check" in text
