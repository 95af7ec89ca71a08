"""The default set takes one lock per training batch, and counts steps once (issue 12)."""

from __future__ import annotations

import threading
from typing import Any

from alertcb.keras import AlertEngine, default_callbacks
from alertcb.notifier import Notifier
from tests.keras.helpers import fit, mlp, regression


class CountingLock:
    """An RLock that counts outermost acquisitions (re-entries would count too)."""

    def __init__(self) -> None:
        self._inner = threading.RLock()
        self.acquired = 0

    def __enter__(self) -> CountingLock:
        self._inner.acquire()
        self.acquired += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._inner.release()

    def acquire(self, *args: Any, **kwargs: Any) -> bool:
        self.acquired += 1
        return self._inner.acquire(*args, **kwargs)

    def release(self) -> None:
        self._inner.release()


def test_default_set_takes_one_lock_per_batch_and_counts_global_steps(notifier: Notifier) -> None:
    callbacks = default_callbacks(notifier, hang={"timeout_s": 600}, lifecycle=False)
    engine = next(c for c in callbacks if isinstance(c, AlertEngine))
    lock, own = CountingLock(), CountingLock()
    monitor = engine.engine
    monitor._lock = lock
    assert monitor.hang is not None and monitor.tracker is not None
    monitor.hang.share_lock(lock)
    monitor.tracker.share_lock(lock)
    engine._lock = own  # type: ignore[assignment]
    per_batch: list[int] = []
    steps: list[int] = []
    hook = engine.on_train_batch_end

    def counted(batch: int, logs: Any = None) -> None:
        before = lock.acquired + own.acquired
        hook(batch, logs)
        per_batch.append(lock.acquired + own.acquired - before)
        steps.append(monitor._last_step)

    engine.on_train_batch_end = counted  # type: ignore[method-assign]
    x, y = regression(n=160)
    fit(mlp(), x, y, callbacks, epochs=3, batch_size=16)
    assert per_batch == [1] * 30
    assert steps == list(range(30))  # global steps across epochs, counted by the engine
    assert notifier.last_position == (2, 29)
