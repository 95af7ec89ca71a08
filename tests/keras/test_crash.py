"""A crash inside fit under notifier.watch(): a crash alert with the traceback, and a crashed summary."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import alertcb.keras
from alertcb import Notifier
from alertcb.testing import RecordingChannel
from tests.keras.helpers import mlp


class CorruptRecord(Exception):
    """What a data pipeline raises on a bad record."""


def batches(x: np.ndarray, y: np.ndarray, fail_at: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for i in range(10_000):
        if i == fail_at:
            raise CorruptRecord(f"record {i} is corrupt")
        j = (i * 16) % (len(x) - 16)
        yield x[j : j + 16], y[j : j + 16]


@pytest.mark.core
def test_crash_in_fit_is_reported_then_reraised(tmp_path: Path) -> None:
    """The exception propagates unchanged; a crash alert (type, message, traceback) and a
    'crashed' summary are delivered, in that order."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = x.sum(axis=1, keepdims=True).astype("float32")
    rec = RecordingChannel()
    notifier = Notifier([rec], run_name="crashy", run_dir=tmp_path, group_wait_s=0)
    model = mlp()
    callbacks: list[Any] = alertcb.keras.default_callbacks(notifier, hang=False)
    with pytest.raises(Exception) as info, notifier.watch():
        model.fit(batches(x, y, fail_at=25), steps_per_epoch=10, epochs=5, callbacks=callbacks, verbose=0)
    assert "record 25 is corrupt" in str(info.value)
    notifier.close()
    kinds = [e.kind for e in rec.events]
    assert kinds.index("crash") < kinds.index("summary")
    crash = next(e for e in rec.events if e.kind == "crash")
    assert "record 25 is corrupt" in crash.message
    assert "batches" in crash.details["traceback"]  # the frame that raised is in the trimmed traceback
    summary = next(e for e in rec.events if e.kind == "summary")
    assert summary.details["status"] == "crashed"
    assert (tmp_path / "crashy" / "report.html").exists()
