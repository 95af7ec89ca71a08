"""The event model: immutable, JSON round-trip, bad metric values never raise."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from alertcb import Event, Notifier, RunInfo, Severity
from alertcb.events import KINDS, to_float
from alertcb.testing import RecordingChannel


def test_event_is_immutable_and_validated() -> None:
    """Events are frozen; a bad kind/status/severity is a clear ValueError naming the field."""
    event = Event(kind="spike", title="loss spike")
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.title = "x"  # type: ignore[misc]
    with pytest.raises(ValueError, match="Event.kind"):
        Event(kind="oops", title="x")
    with pytest.raises(ValueError, match="Event.status"):
        Event(kind="spike", title="x", status="done")
    with pytest.raises(ValueError, match="'info', 'warning', 'critical'"):
        Event(kind="spike", title="x", severity="loud")


def test_severity_orders_and_parses() -> None:
    """info < warning < critical; names parse case-insensitively."""
    assert Severity.INFO < Severity.WARNING < Severity.CRITICAL
    assert Severity.parse(" Critical ") is Severity.CRITICAL
    assert str(Severity.WARNING) == "warning"


def test_fingerprint_is_stable_and_groups_by_run_kind_title() -> None:
    """Same run, kind and title share a fingerprint regardless of numbers in the message."""
    run = RunInfo(name="exp42", host="h", pid=1)
    a = Event(kind="nonfinite", title="loss is NaN", message="step 1", run=run)
    b = Event(kind="nonfinite", title="loss is NaN", message="step 2", run=run)
    c = Event(kind="nonfinite", title="val_loss is NaN", run=run)
    assert a.fingerprint == b.fingerprint != c.fingerprint
    assert a.with_run(RunInfo(name="other")).fingerprint != a.fingerprint
    assert Event(kind="custom", title="x", fingerprint="mine").with_run(run).fingerprint == "mine"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None), ("0.5", None), (b"1", None), (True, None), ([1.0], None), (object(), None),
        (1, 1.0), (0.25, 0.25), (-0.0, -0.0), (1e308 * 10, math.inf), (np.float32(0.5), 0.5),
        (np.int64(3), 3.0), (np.array(2.5), 2.5), (Decimal("1.5"), 1.5),
    ],
)
def test_to_float_accepts_numbers_and_rejects_the_rest(value: object, expected: float | None) -> None:
    """Metric values: numbers, numpy scalars and 0-d arrays become floats; anything else None."""
    result = to_float(value)
    assert result == expected or (result is not None and expected is not None and math.isnan(result))


def test_bad_metrics_are_dropped_not_raised_and_nan_survives_json() -> None:
    """Non-numeric metrics are dropped; NaN/Inf survive a JSON round trip as strings."""
    event = Event(kind="nonfinite", title="loss is NaN",
                  metrics={"loss": math.nan, "acc": np.float64(0.5), "lr": "1e-3", "x": None, "inf": math.inf})
    assert set(event.metrics) == {"loss", "acc", "inf"}
    text = json.dumps(event.to_dict(), allow_nan=False)
    back = Event.from_dict(json.loads(text))
    assert math.isnan(back.metrics["loss"]) and back.metrics["inf"] == math.inf and back.metrics["acc"] == 0.5
    assert back.fingerprint == event.fingerprint


def test_every_kind_renders_with_hostile_text(tmp_path: Path) -> None:
    """Control characters, markup, every Unicode plane and a 100 KB message are accepted and rendered."""
    hostile = "<script>alert(1)</script> *bold* _x_ `code` &amp; \x00\x07\x1b[31m " + "".join(
        chr(cp) for cp in (0x41, 0x7F, 0x4E2D, 0x1F600, 0x2A6D6, 0x10FFFD)
    ) + " \ud800 " + "x" * 100_000
    rec = RecordingChannel()
    notifier = Notifier([rec], run_name="<script>", run_dir=tmp_path, group_wait_s=0)
    for kind in sorted(KINDS):
        notifier.emit(Event(kind=kind, title=hostile[:80], message=hostile, severity="critical",
                            details={"traceback": hostile}))
    assert notifier.flush(10) == 0
    notifier.close()
    assert len(rec.notifications) == len(KINDS)
    for text in rec.texts:
        assert "\x00" not in text and "\x1b" not in text
        text.encode("utf-8")  # valid UTF-8: lone surrogates were replaced
    assert (tmp_path / "script" / "events.jsonl").exists()  # a safe folder name


@pytest.mark.parametrize(
    "fields",
    [
        {"details": {"why": "bad \ud800 value"}},
        {"details": {"bad\udfff key": 1.0}},
        {"details": {"nested": [{"k\ud800": ("x\ud800", 2)}]}},
        {"metrics": {"loss\ud800": 1.5}},
        {"title": "t\ud800", "message": "m\udc00"},
        {"run": RunInfo(name="r\ud800", worker="w\ud800", job="j\ud800", labels={"l\ud800": "v\ud800"})},
    ],
    ids=["detail-value", "detail-key", "nested", "metric-name", "title-message", "run-labels"],
)
def test_lone_surrogates_are_replaced_at_construction(fields: dict[str, Any]) -> None:
    """Issue 13 #3: every string entering an Event is valid UTF-8, so any encoder downstream works."""
    event = Event(kind="custom", **{"title": "t", **fields})
    json.dumps(event.to_dict()).encode("utf-8")
    json.dumps(event.to_dict(), ensure_ascii=False).encode("utf-8")
    strings: list[str] = []

    def collect(value: Any) -> None:
        if isinstance(value, str):
            strings.append(value)
        elif isinstance(value, Mapping):
            for k, v in value.items():
                collect(k)
                collect(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                collect(v)

    collect([event.title, event.message, dict(event.metrics), dict(event.details), event.fingerprint])
    if event.run is not None:
        collect([event.run.name, event.run.worker, event.run.job, dict(event.run.labels)])
    for text in strings:
        text.encode("utf-8")  # raises on a lone surrogate
    assert any("\ufffd" in s for s in strings)
    assert Event.from_dict(json.loads(json.dumps(event.to_dict()))).to_dict() == event.to_dict()


def test_valid_surrogate_pairs_and_structure_are_kept() -> None:
    """Emoji (valid pairs) survive; tuples stay tuples; numbers are untouched."""
    event = Event(kind="custom", title="🔥", details={"t": (1, 2.5, None), "e": "ok 🔥"})
    assert ("🔥", (1, 2.5, None), "ok 🔥") == (event.title, event.details["t"], event.details["e"])
