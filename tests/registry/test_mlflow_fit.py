"""End to end: a real `model.fit()` with `ModelCheckpoint(save_best_only=True)` into a real MLflow server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from alertcb.notifier import Notifier
from alertcb.registry.mlflow import MlflowRegistry
from tests.keras.helpers import keras, mlp, regression
from tests.registry.conftest import Gate, MlflowServer
from tests.registry.mlflow_helpers import make_notifier, sha256_of, unique, wait_for


def lifecycle_callback(notifier: Notifier, folder: Path) -> Any:
    """alertcb's lifecycle callback when it is there; else a minimal stand-in that emits a
    ``checkpoint`` event for each file ModelCheckpoint really wrote (it runs after it)."""
    try:
        from alertcb.keras.lifecycle import LifecycleAlert
    except ImportError:
        pass
    else:
        return LifecycleAlert(notifier)

    class CheckpointSeen(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seen: set[str] = set()

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            for path in sorted(folder.glob("*.keras")):
                if path.name in self.seen:
                    continue
                self.seen.add(path.name)
                value = float((logs or {})["val_loss"])
                notifier.emit(notifier.event(
                    "checkpoint", f"checkpoint written at epoch {epoch + 1}: {path.name}", str(path),
                    severity="info", epoch=epoch,
                    details={"path": str(path), "epoch": epoch, "monitor": "val_loss", "value": value,
                             "is_best": True, "size_bytes": path.stat().st_size},
                ))

    return CheckpointSeen()


def test_fit_with_save_best_only_registers_each_real_write(
    gate: Gate, mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    """Server down during fit: fit finishes, then one version per file really written, `best` on the last."""
    model_name = unique("fit")
    folder = tmp_path / "ckpt"
    folder.mkdir()
    registry = MlflowRegistry(tracking_uri=gate.url, model_name=model_name, timeout_s=5)
    notifier = make_notifier(tmp_path, [registry])
    x, y = regression(n=96)
    rng = np.random.default_rng(1)
    x_val, y_val = x[:32] + rng.normal(size=x[:32].shape).astype("float32"), y[:32]
    model = mlp(lr=0.05)
    checkpoint = keras.callbacks.ModelCheckpoint(
        str(folder / "model-{epoch:02d}.keras"), monitor="val_loss", save_best_only=True
    )
    history = model.fit(x, y, validation_data=(x_val, y_val), epochs=6, batch_size=32, verbose=0,
                        callbacks=[checkpoint, lifecycle_callback(notifier, folder)])
    assert len(history.history["loss"]) == 6  # fit ran to the end with the registry down
    written = sorted(folder.glob("*.keras"))
    assert 1 <= len(written) <= 6
    gate.open()
    assert wait_for(lambda: len(mlflow_server.client().search_model_versions(f"name = '{model_name}'"))
                    == len(written))
    assert notifier.close() == 0
    versions = sorted(mlflow_server.client().search_model_versions(f"name = '{model_name}'"),
                      key=lambda v: int(v.version))
    assert [v.tags["alertcb.sha256"] for v in versions] == [sha256_of(p) for p in written]
    assert [os.path.basename(v.tags["alertcb.path"]) for v in versions] == [p.name for p in written]
    best = mlflow_server.client().get_model_version_by_alias(model_name, "best")
    assert best.version == versions[-1].version
