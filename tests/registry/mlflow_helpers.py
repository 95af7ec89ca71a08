"""Checkpoint events and notifiers for the registry tests."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from pathlib import Path
from typing import Any

from alertcb import Notifier
from alertcb.channels.base import Channel
from alertcb.events import Event


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def write_checkpoint(folder: Path, name: str, size: int = 2048) -> Path:
    path = folder / name
    path.write_bytes(os.urandom(size))
    return path


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def checkpoint_event(path: Path, epoch: int, *, value: float | None = 0.5, is_best: bool = True,
                     monitor: str | None = "val_loss", step: int | None = None) -> Event:
    """A ``checkpoint`` event as the Keras lifecycle callback emits it (0-based epoch)."""
    return Event(
        kind="checkpoint",
        title=f"checkpoint written at epoch {epoch + 1}: {path.name}",
        message=f"{path} ({path.stat().st_size} bytes)",
        severity="info",
        epoch=epoch,
        step=step if step is not None else (epoch + 1) * 10 - 1,
        details={"path": str(path), "epoch": epoch, "monitor": monitor, "value": value, "is_best": is_best,
                 "size_bytes": path.stat().st_size},
        time=time.time(),
    )


def make_notifier(tmp_path: Path, channels: list[Channel], **options: Any) -> Notifier:
    """A Notifier with explicit channels, a tmp run dir and fast retries (grouping off)."""
    defaults: dict[str, Any] = dict(
        run_name=unique("run"), run_dir=tmp_path / "runs", console=False, group_wait_s=0,
        retry_base_s=0.1, retry_max_s=0.4, flush_timeout_s=90, attempt_timeout_s=10,
    )
    defaults.update(options)
    notifier = Notifier(channels, **defaults)
    for channel in channels:  # the Notifier binds registries itself once issue 15's base is merged
        bind = getattr(channel, "bind", None)
        if callable(bind) and getattr(channel, "_emit", None) is None:
            bind(notifier.emit)
    return notifier


def wait_for(predicate: Any, timeout_s: float = 90.0, interval_s: float = 0.2) -> Any:
    """Poll ``predicate`` until it returns something truthy (a hang guard, not a timing claim)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval_s)
