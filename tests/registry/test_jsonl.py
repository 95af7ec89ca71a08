"""The embedded checkpoint registry: real files, a real Notifier and dispatcher."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from alertcb.channels.base import Outcome
from alertcb.errors import ConfigError
from alertcb.events import Event
from alertcb.notifier import Notifier
from alertcb.registry import CheckpointRecord, JsonlRegistry, Registry
from alertcb.testing import RecordingChannel, capture_events


def _checkpoint(path: Path | str, epoch: int, *, value: float = 0.5, best: bool = True, size: int | None = None) -> Event:
    return Event(
        kind="checkpoint",
        title=f"checkpoint written: {Path(path).name} (epoch {epoch + 1})",
        severity="info",
        epoch=epoch,
        step=epoch * 4 + 3,
        details={"path": str(path), "epoch": epoch, "monitor": "val_loss", "value": value, "is_best": best,
                 "size_bytes": size},
        fingerprint=f"ckpt-{path}-{epoch}",
    )


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_from_event_builds_the_record() -> None:
    record = CheckpointRecord.from_event(_checkpoint("/x/m.keras", 2, value=0.25, size=10).with_run(
        Notifier(channels=[], run_dir=False, outbox=False, run_name="r").run))
    assert (record.path, record.epoch, record.monitor, record.value, record.is_best) == ("/x/m.keras", 2, "val_loss", 0.25, True)
    assert (record.size_bytes, record.run, record.step) == (10, "r", 11)
    with pytest.raises(ValueError, match="checkpoint"):
        CheckpointRecord.from_event(Event(kind="spike", title="t"))


def test_embedded_default_writes_one_line_per_write_with_sha256(tmp_path: Path) -> None:
    """channels=None + a run dir: console and checkpoints.jsonl; the digest is the file's."""
    files = []
    for epoch in range(3):
        f = tmp_path / f"m{epoch}.weights.h5"
        f.write_bytes(bytes([epoch]) * (1000 + epoch))
        files.append(f)
    notifier = Notifier(run_name="r", run_dir=tmp_path / "runs", outbox=False, group_wait_s=0)
    assert [c.type for c in notifier.channels] == ["console", "checkpoints"]
    for epoch, f in enumerate(files):
        notifier.emit(_checkpoint(f, epoch, value=1.0 / (epoch + 1)))
    assert notifier.close(timeout_s=5) == 0
    lines = _lines(notifier.run_dir / "checkpoints.jsonl")  # type: ignore[operator]
    assert [ln["epoch"] for ln in lines] == [0, 1, 2]
    assert [ln["epoch_number"] for ln in lines] == [1, 2, 3]
    for line, f in zip(lines, files, strict=True):
        assert line["sha256"] == hashlib.sha256(f.read_bytes()).hexdigest()
        assert line["size_bytes"] == f.stat().st_size
        assert line["path"] == str(f) and line["run"] == "r" and line["missing"] is False
        assert line["monitor"] == "val_loss" and line["is_best"] is True
        assert line["time_iso"].endswith("Z") and isinstance(line["time"], float)
    stats = notifier.stats()["destinations"]["checkpoints"]
    assert stats["notifications_delivered"] == 3


def test_no_run_dir_no_registry() -> None:
    notifier = Notifier(run_name="r", run_dir=False, outbox=False)
    try:
        assert [c.type for c in notifier.channels] == ["console"]
    finally:
        notifier.close(timeout_s=2)


def test_vanished_path_is_a_line_and_an_alert_never_an_exception(tmp_path: Path) -> None:
    gone = tmp_path / "gone.keras"
    recorder = RecordingChannel(kinds=["registry_error"])
    registry = JsonlRegistry(tmp_path / "reg.jsonl")
    with capture_events() as events:
        notifier = Notifier(channels=[registry, recorder], run_name="r", run_dir=tmp_path, outbox=False, group_wait_s=0)
        notifier.emit(_checkpoint(gone, 4, size=123))
        assert notifier.close(timeout_s=5) == 0
    (line,) = _lines(tmp_path / "reg.jsonl")
    assert line["missing"] is True and line["sha256"] is None and line["size_bytes"] == 123
    errors = [e for e in events if e.kind == "registry_error"]
    assert len(errors) == 1 and errors[0].severity.name == "WARNING"
    assert "vanished" in errors[0].message and str(gone) in errors[0].message
    assert [e.kind for e in recorder.events] == ["registry_error"]
    assert notifier.stats()["destinations"]["checkpoints"]["notifications_delivered"] == 1


def test_non_chief_registers_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tf_config = {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 1}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
    f = tmp_path / "m.keras"
    f.write_bytes(b"x")
    notifier = Notifier(channels=[JsonlRegistry(tmp_path / "reg.jsonl")], run_name="r", run_dir=tmp_path, outbox=False)
    assert not notifier.worker_info.is_chief
    notifier.emit(_checkpoint(f, 0))
    assert notifier.close(timeout_s=5) == 0
    assert not (tmp_path / "reg.jsonl").exists()
    assert notifier.stats()["destinations"]["checkpoints"]["enqueued"] == 0


def test_a_failing_registry_alerts_with_the_redacted_reason(tmp_path: Path) -> None:
    class Down(Registry):
        type = "down"

        def register(self, record: CheckpointRecord) -> Outcome:
            return Outcome.permanent("HTTP 403 from https://reg.example/api?token=s3cr3t-value")

    f = tmp_path / "m.keras"
    f.write_bytes(b"x")
    with capture_events() as events:
        notifier = Notifier(channels=[Down()], run_name="r", run_dir=False, outbox=False, group_wait_s=0)
        notifier.emit(_checkpoint(f, 0))
        notifier.close(timeout_s=5)
    (error,) = [e for e in events if e.kind == "registry_error"]
    assert "HTTP 403" in error.message and "s3cr3t-value" not in error.message
    assert notifier.stats()["destinations"]["down"]["failed"]


def test_retry_of_a_written_line_is_not_written_twice(tmp_path: Path) -> None:
    f = tmp_path / "m.keras"
    f.write_bytes(b"abc")
    record = CheckpointRecord(str(f), 0, "val_loss", 0.1, True, 3, "r", 3, 1000.0)
    assert JsonlRegistry(tmp_path / "reg.jsonl").register(record).verdict == "delivered"
    assert JsonlRegistry(tmp_path / "reg.jsonl").register(record).verdict == "delivered"  # a recovered row
    assert len(_lines(tmp_path / "reg.jsonl")) == 1


def test_savedmodel_folder_is_hashed_as_a_tree(tmp_path: Path) -> None:
    folder = tmp_path / "saved"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"pb")
    (folder / "variables" / "variables.index").write_bytes(b"ix")
    record = CheckpointRecord(str(folder), 1, None, None, False, None, None, None, 5.0)
    JsonlRegistry(tmp_path / "reg.jsonl").register(record)
    (line,) = _lines(tmp_path / "reg.jsonl")
    assert line["size_bytes"] == 4 and len(line["sha256"]) == 64 and line["missing"] is False


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"path": ""}, "path"), ({"path": 3}, "path"), ({"chief_only": "yes"}, "chief_only"), ({"kinds": ["nope"]}, "kinds")],
)
def test_bad_input_is_a_config_error_naming_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        JsonlRegistry(**kwargs)
    assert info.value.field == field


def test_config_type_checkpoints_binds_to_the_run_dir(tmp_path: Path) -> None:
    config = tmp_path / "alertcb.toml"
    config.write_text('[alertcb]\nrun_name = "cfg"\noutbox = false\n\n[channels.ckpts]\ntype = "checkpoints"\n')
    notifier = Notifier.from_config(config, run_dir=tmp_path / "runs")
    try:
        (registry,) = notifier.channels
        assert isinstance(registry, JsonlRegistry) and registry.name == "ckpts"
        assert registry.path == tmp_path / "runs" / "cfg" / "checkpoints.jsonl"
    finally:
        notifier.close(timeout_s=2)
    bad = tmp_path / "bad.toml"
    bad.write_text('[channels.ckpts]\ntype = "checkpoints"\npath = 3\n')
    from alertcb.config import load_config

    with pytest.raises(ConfigError, match="channels.ckpts.path"):
        load_config(bad)


def test_a_file_overwritten_before_registration_is_flagged(tmp_path: Path) -> None:
    """A fixed path rewritten between the write and its registration: hashed as it is now, and said so."""
    f = tmp_path / "best.keras"
    f.write_bytes(b"v1")
    seen = f.stat().st_mtime_ns
    event = _checkpoint(f, 0)
    event = Event(**{**{k: getattr(event, k) for k in ("kind", "title", "severity", "epoch", "step", "fingerprint")},
                     "details": {**event.details, "mtime_ns": seen}})
    f.write_bytes(b"v2-longer")
    import os

    os.utime(f, ns=(seen + 10**9, seen + 10**9))
    notifier = Notifier(channels=[JsonlRegistry(tmp_path / "reg.jsonl")], run_name="r", run_dir=False, outbox=False,
                        group_wait_s=0)
    notifier.emit(event)
    assert notifier.close(timeout_s=5) == 0
    (line,) = _lines(tmp_path / "reg.jsonl")
    assert line["changed_since_write"] is True and line["sha256"] == hashlib.sha256(b"v2-longer").hexdigest()


def test_tf_checkpoint_prefix_is_hashed_with_its_files(tmp_path: Path) -> None:
    prefix = tmp_path / "ckpt"
    (tmp_path / "ckpt.index").write_bytes(b"ix")
    (tmp_path / "ckpt.data-00000-of-00001").write_bytes(b"data")
    record = CheckpointRecord(str(prefix), 0, None, None, False, None, None, None, 1.0)
    JsonlRegistry(tmp_path / "reg.jsonl").register(record)
    (line,) = _lines(tmp_path / "reg.jsonl")
    assert line["missing"] is False and line["size_bytes"] == 6 and line["changed_since_write"] is False
