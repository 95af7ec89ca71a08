"""LifecycleAlert on real ``model.fit()`` runs: the article's golden combination.

``ModelCheckpoint(save_best_only=True)`` + ``EarlyStopping(restore_best_weights=True,
patience=1)`` + ``ReduceLROnPlateau(patience=1, factor=0.5)`` on data made so that
``val_loss`` improves for five epochs and then gets worse: the validation targets are
half the training targets, the zero-initialised model grows towards the training ones.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from alertcb.events import Event
from alertcb.keras import default_callbacks
from alertcb.notifier import Notifier
from alertcb.registry import JsonlRegistry
from alertcb.report.plot import CurveData
from alertcb.testing import RecordingChannel, capture_events
from tests.keras.helpers import keras

W = np.array([[1.0], [-2.0], [0.5], [1.5]], "float32")


def golden_data() -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    xv = rng.normal(size=(32, 4)).astype("float32")
    return x, x @ W, xv, xv @ W * 0.5


def tiny(lr: float = 0.02, optimizer: Any = None) -> Any:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, kernel_initializer="zeros")])
    model.compile(optimizer=optimizer or keras.optimizers.SGD(lr), loss="mse")
    return model


class FileLog(keras.callbacks.Callback):
    """Placed after ModelCheckpoint: the (mtime, size) of its file at each epoch end."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path, self.states, self.writes = path, [], 0

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        state = (self.path.stat().st_mtime_ns, self.path.stat().st_size) if self.path.exists() else None
        if state is not None and (not self.states or state != self.states[-1]):
            self.writes += 1
        self.states.append(state)


def make_notifier(tmp_path: Path, recorder: RecordingChannel | None = None) -> Notifier:
    channels = [recorder or RecordingChannel(), JsonlRegistry()]
    return Notifier(channels=channels, run_name="golden", run_dir=tmp_path / "runs", outbox=False, group_wait_s=0)


def kinds(events: list[Event], kind: str) -> list[Event]:
    return [e for e in events if e.kind == kind]


def run_golden(tmp_path: Path, *, alertcb_first: bool, **defaults: Any) -> dict[str, Any]:
    x, y, xv, yv = golden_data()
    best = tmp_path / "ckpt" / "best.keras"
    recorder = RecordingChannel()
    notifier = make_notifier(tmp_path, recorder)
    user = [
        keras.callbacks.ModelCheckpoint(str(best), save_best_only=True),
        FileLog(best),
        keras.callbacks.EarlyStopping(patience=1, restore_best_weights=True),
        keras.callbacks.ReduceLROnPlateau(patience=1, factor=0.5),
    ]
    ours = default_callbacks(notifier, **defaults)
    model = tiny()
    with capture_events() as events:
        history = model.fit(x, y, validation_data=(xv, yv), epochs=20, batch_size=16, verbose=0, shuffle=False,
                            callbacks=ours + user if alertcb_first else user + ours)
        assert notifier.close(timeout_s=10) == 0
    return {"events": list(events), "history": history.history, "notifier": notifier, "filelog": user[1],
            "best": best, "recorder": recorder, "model": model, "engine": ours[0]}


@pytest.mark.core
@pytest.mark.parametrize("alertcb_first", [True, False], ids=["alertcb-first", "alertcb-last"])
def test_golden_combination(tmp_path: Path, alertcb_first: bool) -> None:
    out = run_golden(tmp_path, alertcb_first=alertcb_first)
    events, val = out["events"], out["history"]["val_loss"]
    best_epoch = int(np.argmin(val))
    assert best_epoch == 4 and len(val) == 6, val  # the data does what the docstring says

    # checkpoint: one event per real write (save_best_only wrote at epochs 0..4, not at 5)
    ckpts = kinds(events, "checkpoint")
    assert len(ckpts) == out["filelog"].writes == 5
    assert [e.epoch for e in ckpts] == [0, 1, 2, 3, 4]
    for e in ckpts:
        assert e.details["path"] == str(out["best"]) and e.details["is_best"] is True
        assert e.details["monitor"] == "val_loss" and e.details["value"] == pytest.approx(val[e.epoch])
        assert e.details["size_bytes"] > 0 and e.severity.name == "INFO"

    # lr_change: ReduceLROnPlateau halved the rate at the epoch val_loss got worse
    (lr,) = kinds(events, "lr_change")
    assert (lr.details["old"], lr.details["new"]) == pytest.approx((0.02, 0.01))
    assert lr.epoch == 5 and lr.details["source"] == "ReduceLROnPlateau"

    # early_stop: final facts (restore happened in EarlyStopping.on_train_end)
    (stop,) = kinds(events, "early_stop")
    d = stop.details
    assert (d["callback"], d["epoch"], d["monitor"], d["best_epoch"], d["restored"]) == (
        "EarlyStopping", 5, "val_loss", 4, True)
    assert d["value"] == pytest.approx(val[5]) and d["best_value"] == pytest.approx(val[4])
    assert stop.title == "EarlyStopping stopped training"
    assert "best" in stop.message and "weights restored from epoch 5" in stop.message

    # the summary comes after them and lists them in its timeline, in order
    kinds_in_order = [e.kind for e in events if e.kind in ("checkpoint", "lr_change", "early_stop", "summary")]
    assert kinds_in_order[-1] == "summary"
    (summary,) = kinds(events, "summary")
    timeline = summary.details["timeline"]
    assert [t["kind"] for t in timeline] == ["checkpoint"] * 5 + ["lr_change", "early_stop"]
    text = out["recorder"].texts[-1]
    assert "EarlyStopping stopped training at epoch 6" in text and "learning rate 0.02 → 0.01" in text
    assert "💾 checkpoint" in text
    # ... marks them on the loss curve
    marks = CurveData(summary.details).lifecycle
    assert sorted({k for _, k, _ in marks}) == ["checkpoint", "early_stop", "lr_change"]
    # ... and the HTML report has the checkpoints table
    html = (out["notifier"].run_dir / "report.html").read_text()
    assert 'id="checkpoints"' in html and "best.keras" in html

    # checkpoints.jsonl: one line per write; the last one hashes the file on disk now
    lines = [json.loads(t) for t in (out["notifier"].run_dir / "checkpoints.jsonl").read_text().splitlines()]
    assert [ln["epoch"] for ln in lines] == [0, 1, 2, 3, 4]
    assert lines[-1]["sha256"] == hashlib.sha256(out["best"].read_bytes()).hexdigest()
    assert all(ln["missing"] is False and len(ln["sha256"]) == 64 for ln in lines)
    assert out["notifier"].stats()["destinations"]["checkpoints"]["notifications_delivered"] == 5


@pytest.mark.core
def test_formatted_paths_and_weights_files(tmp_path: Path) -> None:
    """``{epoch:02d}`` paths, save_best_only off: one event per file, is_best tracked by value."""
    x, y, xv, yv = golden_data()
    notifier = make_notifier(tmp_path)
    pattern = str(tmp_path / "w-{epoch:02d}.weights.h5")
    (tmp_path / "w-01.weights.h5").write_bytes(b"stale")  # an older run's file: rewritten, so reported
    os.utime(tmp_path / "w-01.weights.h5", ns=(1_000_000_000, 1_000_000_000))
    (tmp_path / "w-99.weights.h5").write_bytes(b"old")  # never rewritten: never reported
    mc = keras.callbacks.ModelCheckpoint(pattern, save_weights_only=True)
    with capture_events() as events:
        tiny().fit(x, y, validation_data=(xv, yv), epochs=7, batch_size=16, verbose=0, shuffle=False,
                   callbacks=default_callbacks(notifier) + [mc])
        assert notifier.close(timeout_s=10) == 0
    ckpts = kinds(events, "checkpoint")
    assert [Path(e.details["path"]).name for e in ckpts] == [f"w-{i:02d}.weights.h5" for i in range(1, 8)]
    assert [e.details["is_best"] for e in ckpts] == [True] * 5 + [False, False]
    lines = (notifier.run_dir / "checkpoints.jsonl").read_text().splitlines()
    for line in map(json.loads, lines):
        assert line["sha256"] == hashlib.sha256(Path(line["path"]).read_bytes()).hexdigest()


@pytest.mark.core
def test_smooth_schedule_reports_steps_of_the_factor_not_every_epoch(tmp_path: Path) -> None:
    x, y, xv, yv = golden_data()
    schedule = keras.optimizers.schedules.CosineDecay(0.02, decay_steps=4 * 20, alpha=0.1)
    notifier = make_notifier(tmp_path)
    with capture_events() as events:
        tiny(optimizer=keras.optimizers.SGD(schedule)).fit(
            x, y, epochs=20, batch_size=16, verbose=0, shuffle=False, callbacks=default_callbacks(notifier))
        notifier.close(timeout_s=10)
    changes = kinds(events, "lr_change")
    assert 3 <= len(changes) <= 6  # 10x over the run = log(10)/log(1.5) ≈ 5.7 steps of 1.5x
    for prev, cur in zip(changes, changes[1:], strict=False):
        assert cur.details["old"] == prev.details["new"]  # compared with the last event, not the last epoch
    for e in changes:
        assert e.details["old"] / e.details["new"] >= 1.5 - 1e-9
        assert e.details["source"].startswith("schedule (")


def test_digest_lists_lifecycle_events_since_the_last_one(tmp_path: Path) -> None:
    """``progress={"every": "1h"}``: each digest carries the lifecycle events since the previous."""
    x, y, xv, yv = golden_data()
    notifier = make_notifier(tmp_path)
    callbacks = default_callbacks(notifier, progress={"every": "1h"})
    digests: list[Event] = []

    class Tick(keras.callbacks.Callback):  # the interval, made short: a digest after epoch 3 and at the end
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            if epoch == 3:
                digests.append(callbacks[0].progress.emit_now())

        def on_train_end(self, logs: Any = None) -> None:
            digests.append(callbacks[0].progress.emit_now())

    user = [keras.callbacks.ModelCheckpoint(str(tmp_path / "b.keras"), save_best_only=True),
            keras.callbacks.ReduceLROnPlateau(patience=1, factor=0.5)]
    tiny().fit(x, y, validation_data=(xv, yv), epochs=6, batch_size=16, verbose=0, shuffle=False,
               callbacks=callbacks + user + [Tick()])
    notifier.close(timeout_s=10)
    first = [(e["kind"], e["epoch"]) for e in digests[0].details["lifecycle_since"]]
    second = [(e["kind"], e["epoch"]) for e in digests[1].details["lifecycle_since"]]
    assert first == [("checkpoint", 0), ("checkpoint", 1), ("checkpoint", 2)]
    assert second == [("checkpoint", 3), ("checkpoint", 4), ("lr_change", 5)]
    assert "learning rate" in digests[1].message


def test_started_event_is_opt_in(tmp_path: Path) -> None:
    from alertcb.keras.lifecycle import LifecycleAlert

    x, y, _, _ = golden_data()
    notifier = make_notifier(tmp_path)
    with capture_events() as events:
        tiny().fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=default_callbacks(notifier))
        tiny().fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[LifecycleAlert(notifier, started=True)])
        notifier.close(timeout_s=5)
    (started,) = kinds(events, "started")
    d = started.details
    assert (d["run"], d["epochs"], d["steps"], d["parameters"], d["optimizer"]) == ("golden", 2, 4, 5, "SGD")
    assert d["learning_rate"] == pytest.approx(0.02) and d["channels"] == ["recording", "checkpoints"]
    assert d["host"] and "2 epochs × 4 steps" in started.message and "5 parameters" in started.message


def test_without_a_callback_list_it_falls_back_to_model_state(tmp_path: Path) -> None:
    """A custom loop calling the hooks itself: stop_training and the optimizer's rate are watched."""
    from alertcb.keras.lifecycle import LifecycleAlert

    notifier = make_notifier(tmp_path)
    model = tiny()
    cb = LifecycleAlert(notifier)
    cb.set_model(model)
    cb.set_params({"epochs": 10, "steps": 4})
    with capture_events() as events:
        cb.on_train_begin()
        for epoch in range(3):
            cb.on_epoch_begin(epoch)
            if epoch == 1:
                model.optimizer.learning_rate.assign(0.002)
            cb.on_epoch_end(epoch, {"loss": 1.0})
        model.stop_training = True
        cb.on_train_end()
        notifier.close(timeout_s=5)
    (lr,) = kinds(events, "lr_change")
    assert lr.epoch == 1 and lr.details["new"] == pytest.approx(0.002)
    (stop,) = kinds(events, "early_stop")
    assert stop.epoch == 2 and stop.details["restored"] is None


def test_vanished_checkpoint_is_reported_not_raised(tmp_path: Path) -> None:
    x, y, xv, yv = golden_data()
    path = tmp_path / "gone.keras"
    # group_wait_s: the registry gets the event a while after it was emitted; the file is
    # deleted as soon as it is announced, on the training thread, so it is gone by then.
    notifier = Notifier(channels=[RecordingChannel(), JsonlRegistry()], run_name="v", run_dir=tmp_path,
                        outbox=False, group_wait_s=0.5)
    notifier.add_listener(lambda e: path.unlink() if e.kind == "checkpoint" else None)
    cbs = [keras.callbacks.ModelCheckpoint(str(path)), *default_callbacks(notifier)]
    with capture_events() as events:
        tiny().fit(x, y, validation_data=(xv, yv), epochs=1, batch_size=16, verbose=0, callbacks=cbs)
        assert notifier.close(timeout_s=5) == 0
    assert not path.exists()
    assert [e.epoch for e in kinds(events, "checkpoint")] == [0]
    (line,) = [json.loads(t) for t in (notifier.run_dir / "checkpoints.jsonl").read_text().splitlines()]
    assert line["missing"] is True and line["sha256"] is None
    (error,) = kinds(events, "registry_error")
    assert "vanished" in error.message


def test_non_chief_worker_registers_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tf_config = {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 1}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
    notifier = make_notifier(tmp_path)
    x, y, xv, yv = golden_data()
    mc = keras.callbacks.ModelCheckpoint(str(tmp_path / "b.keras"), save_best_only=True)
    tiny().fit(x, y, validation_data=(xv, yv), epochs=3, batch_size=16, verbose=0,
               callbacks=default_callbacks(notifier) + [mc])
    assert notifier.close(timeout_s=5) == 0
    assert (tmp_path / "b.keras").exists()
    assert not list((tmp_path / "runs").rglob("checkpoints.jsonl"))
    assert notifier.stats()["destinations"]["checkpoints"]["enqueued"] == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"lr_change_factor": 1}, "lr_change_factor"), ({"lr_change_factor": "2"}, "lr_change_factor"),
     ({"lr_change_factor": True}, "lr_change_factor"), ({"started": "yes"}, "started"),
     ({"checkpoints": 1}, "checkpoints")],
)
def test_bad_input_is_a_config_error_naming_the_field(tmp_path: Path, kwargs: dict[str, Any], field: str) -> None:
    from alertcb.errors import ConfigError
    from alertcb.keras.lifecycle import LifecycleAlert

    notifier = Notifier(channels=[], run_dir=False, outbox=False)
    try:
        with pytest.raises(ConfigError) as info:
            LifecycleAlert(notifier, **kwargs)
        assert info.value.field == field
        with pytest.raises(ConfigError) as info:
            LifecycleAlert(None)
        assert info.value.field == "notifier"
    finally:
        notifier.close(timeout_s=1)


@pytest.mark.core
def test_tf_keras_savedmodel_and_tf_format_weights(tmp_path: Path) -> None:
    """tf_keras also writes SavedModel folders and TF-format weight prefixes: one event per write."""
    from tests.keras.helpers import FLAVOUR

    if FLAVOUR != "tf_keras":
        pytest.skip("Keras 3's ModelCheckpoint accepts only .keras / .weights.h5 paths (tested above)")
    x, y, xv, yv = golden_data()
    notifier = make_notifier(tmp_path)
    saved = keras.callbacks.ModelCheckpoint(str(tmp_path / "sm-{epoch:02d}"), save_best_only=True)
    prefix = keras.callbacks.ModelCheckpoint(str(tmp_path / "w" / "ckpt"), save_weights_only=True)
    with capture_events() as events:
        tiny().fit(x, y, validation_data=(xv, yv), epochs=3, batch_size=16, verbose=0, shuffle=False,
                   callbacks=default_callbacks(notifier) + [saved, prefix])
        assert notifier.close(timeout_s=20) == 0
    paths = [Path(e.details["path"]).name for e in kinds(events, "checkpoint")]
    assert sorted(paths) == sorted(["sm-01", "sm-02", "sm-03"] + ["ckpt"] * 3)
    lines = [json.loads(t) for t in (notifier.run_dir / "checkpoints.jsonl").read_text().splitlines()]
    assert len(lines) == 6 and all(ln["missing"] is False and ln["size_bytes"] > 0 for ln in lines)
