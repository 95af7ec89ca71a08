"""HangWatchdog: the alert arrives while a data generator is still asleep."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from alertcb.events import Event
from alertcb.keras import HangWatchdog
from tests.keras.helpers import mlp, regression

SLEEP_S = 3.0


def slow_batches(
    x: np.ndarray, y: np.ndarray, sleep_at: int, woke: list[float]
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yields batches of 16; sleeps SLEEP_S before batch ``sleep_at`` (a stuck input pipeline)."""
    for i in range(len(x) // 16):
        if i == sleep_at:
            time.sleep(SLEEP_S)
            woke.append(time.monotonic())
        yield x[i * 16 : (i + 1) * 16], y[i * 16 : (i + 1) * 16]


@pytest.mark.core
def test_alert_arrives_while_the_generator_sleeps(notifier: Any) -> None:
    """A generator sleeping past timeout_s: the hang alert arrives during the sleep, names the function, then resolves."""
    x, y = regression(640)
    woke: list[float] = []
    received: list[tuple[float, Event]] = []
    resolved = threading.Event()

    def listener(event: Event) -> None:
        if event.kind == "hang":
            received.append((time.monotonic(), event))
            if event.resolved:
                resolved.set()

    notifier.add_listener(listener)
    watchdog = HangWatchdog(notifier, timeout_s=0.5, interval_s=0.1)
    mlp().fit(slow_batches(x, y, 12, woke), steps_per_epoch=40, epochs=1, callbacks=[watchdog], verbose=0)
    assert resolved.wait(5)
    (fired_at, alert), (_, back) = received[:2]
    assert woke and fired_at < woke[0], "the alert must arrive while the generator is still asleep"
    assert ("training hung", "critical") == (alert.title, str(alert.severity))
    stacks = alert.details["stack"] + "".join(alert.details["threads"].values())
    assert "slow_batches" in stacks
    assert "slow_batches" in alert.message
    assert alert.details["timeout_s"] == 0.5
    assert back.resolved and back.fingerprint == alert.fingerprint


def test_no_alert_for_a_healthy_run_and_job_removed(notifier: Any, events: list[Event]) -> None:
    """A healthy fit raises no hang alert, and the scheduler job is removed at train end."""
    x, y = regression(320)
    watchdog = HangWatchdog(notifier, timeout_s=5.0, interval_s=0.1)
    mlp().fit(x, y, batch_size=16, epochs=2, callbacks=[watchdog], verbose=0, validation_split=0.2)
    assert [] == [e for e in events if e.kind == "hang"]
    assert [] == notifier.scheduler.get_jobs()
