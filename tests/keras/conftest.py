"""Fixtures for the Keras integration tests (real tiny ``model.fit()`` runs).

The same tests run under Keras 3 and, in a subprocess with ``TF_USE_LEGACY_KERAS=1``,
under tf_keras (see test_tf_keras.py); tests marked ``core`` are the ones re-run there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from alertcb.events import Event
from alertcb.notifier import Notifier
from alertcb.testing import RecordingChannel, capture_events


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "core: core Keras case, also run under tf_keras")


@pytest.fixture
def notifier(tmp_path: Path) -> Iterator[Notifier]:
    n = Notifier(channels=[RecordingChannel()], run_name="t", run_dir=tmp_path, outbox=False)
    try:
        yield n
    finally:
        n.close(timeout_s=2)


@pytest.fixture
def events() -> Iterator[list[Event]]:
    with capture_events() as captured:
        yield captured


def firing(events: list[Event], kind: str | None = None) -> list[Event]:
    return [e for e in events if not e.resolved and (kind is None or e.kind == kind)]
