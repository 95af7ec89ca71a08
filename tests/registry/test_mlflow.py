"""MlflowRegistry against a real MLflow server: versions, tags, alias, outages, refusals."""

from __future__ import annotations

import time
from pathlib import Path

from alertcb.registry.base import CheckpointRecord
from alertcb.registry.mlflow import MlflowRegistry
from alertcb.testing import RecordingChannel
from tests.conftest_services import SilentTcp
from tests.conftest_services import silent_tcp as silent_tcp  # fixture
from tests.registry.conftest import Gate, MlflowServer
from tests.registry.mlflow_helpers import (
    checkpoint_event,
    make_notifier,
    sha256_of,
    unique,
    wait_for,
    write_checkpoint,
)


def versions_of(server: MlflowServer, model: str) -> list:
    found = server.client().search_model_versions(f"name = '{model}'")
    return sorted(found, key=lambda v: int(v.version))


def test_each_checkpoint_write_becomes_a_version_with_tags_and_the_best_alias(
    mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    """Three writes -> three versions (tags, description, runs:/ source holding the file); `best` on the last best."""
    model = unique("mnist")
    registry = MlflowRegistry(tracking_uri=mlflow_server.url, model_name=model)
    files = [write_checkpoint(tmp_path, f"ckpt-{e:02d}.keras", size=1000 + e) for e in range(3)]
    notifier = make_notifier(tmp_path, [registry])
    for epoch, (path, value, best) in enumerate(zip(files, [0.9, 0.95, 0.4], [True, False, True], strict=True)):
        assert notifier.emit(checkpoint_event(path, epoch, value=value, is_best=best))
    assert notifier.close() == 0
    assert notifier.stats()["destinations"]["mlflow"]["notifications_delivered"] == 3

    versions = versions_of(mlflow_server, model)
    assert [v.tags["alertcb.epoch"] for v in versions] == ["1", "2", "3"]
    assert [v.tags["alertcb.epoch0"] for v in versions] == ["0", "1", "2"]
    assert [v.tags["alertcb.is_best"] for v in versions] == ["true", "false", "true"]
    assert [float(v.tags["alertcb.value"]) for v in versions] == [0.9, 0.95, 0.4]
    assert {v.tags["alertcb.monitor"] for v in versions} == {"val_loss"}
    assert [v.tags["alertcb.sha256"] for v in versions] == [sha256_of(p) for p in files]
    assert {v.tags["alertcb.run"] for v in versions} == {notifier.run.name}
    assert "epoch 3" in versions[2].description and "val_loss = 0.4" in versions[2].description
    client = mlflow_server.client()
    assert client.get_model_version_by_alias(model, "best").version == versions[2].version
    for version, path in zip(versions, files, strict=True):
        assert version.source.startswith(f"runs:/{version.run_id}/")
        local = client.download_artifacts(version.run_id, version.source.split("/", 2)[2], str(tmp_path / "dl"))
        assert Path(local).read_bytes() == path.read_bytes()


def test_a_retry_after_a_lost_answer_creates_no_second_version(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    """The server creates the version but the answer is lost: the retry finds it by its key."""
    model = unique("lost")
    registry = MlflowRegistry(tracking_uri=mlflow_server.url, model_name=model)
    calls = registry._client()
    real = calls.client.create_model_version
    lost: list[str] = []

    def create_then_lose_the_answer(*args: object, **kwargs: object) -> object:
        version = real(*args, **kwargs)
        if not lost:
            lost.append(str(version.version))
            raise ConnectionError("Connection aborted: RemoteDisconnected('Remote end closed connection')")
        return version

    calls.client.create_model_version = create_then_lose_the_answer
    notifier = make_notifier(tmp_path, [registry])
    notifier.emit(checkpoint_event(write_checkpoint(tmp_path, "a.keras"), 0))
    assert notifier.close() == 0
    stats = notifier.stats()["destinations"]["mlflow"]
    assert stats["retried"] >= 1 and stats["notifications_delivered"] == 1
    assert [v.version for v in versions_of(mlflow_server, model)] == lost == ["1"]
    assert mlflow_server.client().get_model_version_by_alias(model, "best").version == "1"


def test_server_down_then_up_registers_everything_without_blocking_emit(
    gate: Gate, mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    """Server down: emit returns at once, ONE registry_error alert; once up, every version appears."""
    model = unique("outage")
    alerts = RecordingChannel(name="team", kinds=["registry_error"])
    registry = MlflowRegistry(tracking_uri=gate.url, model_name=model, timeout_s=5)
    notifier = make_notifier(tmp_path, [registry, alerts])
    files = [write_checkpoint(tmp_path, f"e{e}.keras") for e in range(3)]
    for epoch, path in enumerate(files):
        assert notifier.emit(checkpoint_event(path, epoch, value=1.0 - epoch / 10))
    assert wait_for(lambda: notifier.stats()["destinations"]["mlflow"]["retried"] >= 3)
    assert wait_for(lambda: alerts.events)
    assert versions_of(mlflow_server, model) == []
    gate.open()
    assert wait_for(lambda: len(versions_of(mlflow_server, model)) == 3)
    assert notifier.close() == 0
    (error,) = [e for e in alerts.events if e.kind == "registry_error"]
    assert error.severity.name == "WARNING" and "unreachable" in error.message
    assert "Connection refused" in error.details["reason"]
    assert mlflow_server.client().get_model_version_by_alias(model, "best").tags["alertcb.epoch"] == "3"


def test_registrations_wait_in_the_outbox_for_the_next_process(
    gate: Gate, mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    """A run that ends while the registry is down leaves its registrations in the outbox; the next run sends them."""
    model = unique("outbox")
    outbox = tmp_path / "outbox.sqlite3"
    first = make_notifier(tmp_path, [MlflowRegistry(tracking_uri=gate.url, model_name=model)], outbox=outbox)
    first.emit(checkpoint_event(write_checkpoint(tmp_path, "only.keras"), 4))
    assert wait_for(lambda: first.stats()["destinations"]["mlflow"]["retried"] >= 1)
    assert first.close(timeout_s=0.5) == 1
    gate.open()
    second = make_notifier(tmp_path, [MlflowRegistry(tracking_uri=gate.url, model_name=model)], outbox=outbox)
    assert wait_for(lambda: len(versions_of(mlflow_server, model)) == 1)
    assert second.close() == 0
    assert second.stats()["destinations"]["mlflow"]["recovered"] == 1
    assert versions_of(mlflow_server, model)[0].tags["alertcb.epoch"] == "5"


def test_a_refused_model_name_is_a_registry_error_alert(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    """The server refuses the name (HTTP 400): permanent, and an alert with MLflow's reason at another channel."""
    alerts = RecordingChannel(name="team")
    registry = MlflowRegistry(tracking_uri=mlflow_server.url, model_name="team/model")
    notifier = make_notifier(tmp_path, [registry, alerts])
    notifier.emit(checkpoint_event(write_checkpoint(tmp_path, "x.keras"), 0))
    assert notifier.close() == 0
    stats = notifier.stats()["destinations"]["mlflow"]
    assert stats["failed"] == {"permanent": 1} and stats["retried"] == 0
    (error,) = [e for e in alerts.events if e.kind == "registry_error"]
    assert "HTTP 400" in error.message and "Invalid model name" in error.message


def test_a_vanished_checkpoint_is_reported_not_raised(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    """The file is gone before registration: a registry_error naming the path, no version."""
    model = unique("gone")
    alerts = RecordingChannel(name="team", kinds=["registry_error"])
    notifier = make_notifier(tmp_path, [MlflowRegistry(tracking_uri=mlflow_server.url, model_name=model), alerts])
    path = write_checkpoint(tmp_path, "gone.keras")
    event = checkpoint_event(path, 1)
    path.unlink()
    notifier.emit(event)
    assert notifier.close() == 0
    (error,) = alerts.events
    assert "vanished" in error.message and str(path) in error.message
    assert versions_of(mlflow_server, model) == []


def test_an_older_best_delivered_late_does_not_take_the_alias_back(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    """Best of epoch 5 registered, then (after retries) the best of epoch 2: `best` stays on epoch 5."""
    model = unique("late")
    registry = MlflowRegistry(tracking_uri=mlflow_server.url, model_name=model, alias="champion")
    now = time.time()
    later = CheckpointRecord(str(write_checkpoint(tmp_path, "e5.keras")), 4, "val_loss", 0.2, True, 2048, "r", 49, now)
    older = CheckpointRecord(str(write_checkpoint(tmp_path, "e2.keras")), 1, "val_loss", 0.5, True, 2048, "r", 19, now)
    assert registry.register(later).verdict == "delivered"
    assert registry.register(older).verdict == "delivered"
    alias = mlflow_server.client().get_model_version_by_alias(model, "champion")
    assert alias.tags["alertcb.epoch"] == "5"
    assert len(versions_of(mlflow_server, model)) == 2


def test_an_overwritten_checkpoint_is_not_registered_under_an_old_epoch(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    """`best.keras` rewritten by a later epoch before the earlier write was registered: refused, said why."""
    registry = MlflowRegistry(tracking_uri=mlflow_server.url, model_name=unique("overwritten"))
    path = write_checkpoint(tmp_path, "best.keras", size=100)
    record = CheckpointRecord(str(path), 0, None, None, True, 100, "r", None, time.time() - 60)
    outcome = registry.register(record)
    assert outcome.verdict == "permanent" and "overwritten by a later write" in outcome.reason


def test_a_hung_server_costs_one_bounded_attempt(silent_tcp: SilentTcp, tmp_path: Path) -> None:
    """A server that accepts and never answers: the attempt ends within its budget as a retry."""
    port = silent_tcp.port
    registry = MlflowRegistry(tracking_uri=f"http://127.0.0.1:{port}", model_name="m", timeout_s=1)
    record = CheckpointRecord(str(write_checkpoint(tmp_path, "h.keras")), 0, None, None, True, None, "r", None,
                              time.time())
    outcome = registry.register(record)
    assert outcome.verdict == "retry"
    assert "timed out" in outcome.reason or "too slow" in outcome.reason


def test_a_non_chief_worker_registers_nothing(tmp_path: Path) -> None:
    """worker:1 of a multi-worker job: the registry takes no checkpoint (the chief registers)."""
    registry = MlflowRegistry(tracking_uri="http://127.0.0.1:9", model_name="m")
    notifier = make_notifier(tmp_path, [registry], worker="worker:1")
    assert not registry.accepts(checkpoint_event(write_checkpoint(tmp_path, "w.keras"), 0))
    notifier.emit(checkpoint_event(write_checkpoint(tmp_path, "w.keras"), 0))
    assert notifier.close() == 0
    assert notifier.stats()["destinations"]["mlflow"]["enqueued"] == 0
