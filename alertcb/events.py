"""The event model: what a detector says happened.

An `Event` is immutable and cheap to build. Detectors keep `title` stable for one
kind of trouble ("loss is NaN") and put numbers in `message`, so the default
`fingerprint` (run, kind, title) groups repeats of one incident together.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import math
import os
import socket
import time
from collections.abc import Mapping
from typing import Any

from alertcb.redact import scrub_known

#: Public (re-exported by ``alertcb``); the helpers below are shared inside alertcb.
__all__ = ["Event", "RunInfo", "Severity"]

SCHEMA_VERSION = "alertcb.event/1"

KINDS = frozenset(
    {
        "nonfinite",
        "spike",
        "divergence",
        "plateau",
        "threshold",
        "hang",
        "crash",
        "interrupted",
        "val_anomaly",
        "overfitting",
        "early_stop",
        "lr_change",
        "checkpoint",
        "registry_error",
        "started",
        "stalled",
        "summary",
        "progress",
        "custom",
        "test",
    }
)

#: Lifecycle reports (severity info): the digest and the summary, never a page by default.
LIFECYCLE_KINDS = frozenset({"early_stop", "lr_change", "checkpoint", "started"})

FIRING = "firing"
RESOLVED = "resolved"
STATUSES = (FIRING, RESOLVED)


class Severity(enum.IntEnum):
    """How urgent an event is: ``info`` < ``warning`` < ``critical``."""

    INFO = 10
    WARNING = 20
    CRITICAL = 30

    @classmethod
    def parse(cls, value: Severity | str) -> Severity:
        """Return the severity named by ``value`` (case-insensitive).

        Raises:
            ValueError: ``value`` names no severity.
        """
        if isinstance(value, Severity):
            return value
        if isinstance(value, str):
            try:
                return cls[value.strip().upper()]
            except KeyError:
                pass
        raise ValueError(f"expected one of 'info', 'warning', 'critical', got {value!r}")

    def __str__(self) -> str:
        return self.name.lower()


@dataclasses.dataclass(frozen=True, slots=True)
class RunInfo:
    """Where an event comes from.

    Args:
        name: the run's name, e.g. ``"exp42"``.
        host: host name of the process.
        pid: process id.
        worker: worker identity in distributed training, e.g. ``"worker:1"``, or None.
        job: an optional job name shared by several runs (Alertmanager routing label).
        labels: extra user labels, copied to Alertmanager and webhooks.
    """

    name: str
    host: str = dataclasses.field(default_factory=socket.gethostname)
    pid: int = dataclasses.field(default_factory=os.getpid)
    worker: str | None = None
    job: str | None = None
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        setattr_ = object.__setattr__
        for attr in ("name", "host", "worker", "job"):
            value = getattr(self, attr)
            if value is not None:
                setattr_(self, attr, valid_text(value))
        setattr_(self, "labels", {valid_text(k): valid_text(v) for k, v in (self.labels or {}).items()})

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "host": self.host,
            "pid": self.pid,
            "worker": self.worker,
            "job": self.job,
            "labels": dict(self.labels),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunInfo:
        return cls(
            name=str(data.get("name", "")),
            host=str(data.get("host", "")),
            pid=int(data.get("pid", 0)),
            worker=data.get("worker"),
            job=data.get("job"),
            labels=dict(data.get("labels") or {}),
        )


def to_float(value: Any) -> float | None:
    """Convert a metric value to a Python float, or None when it is not a number.

    Accepts Python numbers, numpy scalars, 0-d arrays and tensors (anything with
    ``__float__``); bools, strings and None give None. Never raises.
    """
    if value is None or isinstance(value, (bool, str, bytes)):
        return None
    if type(value) is float:
        return value
    try:
        return float(value)
    except Exception:  # noqa: BLE001 - a metric we cannot read is skipped, never fatal
        return None


def clean_metrics(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    """Keep the numeric entries of ``metrics`` as plain floats (NaN and Inf kept)."""
    if not metrics:
        return {}
    out: dict[str, float] = {}
    for key, value in metrics.items():
        number = to_float(value)
        if number is not None:
            out[valid_text(key)] = number
    return out


def _fingerprint(run: RunInfo | None, kind: str, title: str) -> str:
    raw = f"{run.name if run else ''}\x1f{kind}\x1f{title}".encode("utf-8", "surrogatepass")
    return hashlib.sha1(raw, usedforsecurity=False).hexdigest()[:16]


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """Something a detector (or the user) wants people to know.

    Args:
        kind: one of `KINDS`, e.g. ``"nonfinite"``.
        title: short and stable for one kind of trouble, e.g. ``"loss is NaN"``.
        message: the human explanation with the numbers.
        severity: `Severity` or its name. Defaults to ``"warning"``.
        status: ``"firing"`` (default) or ``"resolved"``.
        run: the `RunInfo`; filled in by the `Notifier` when None.
        epoch: 0-based epoch, or None.
        step: 0-based global batch index since training began, or None.
        metrics: metric values at that moment; non-numeric values are dropped.
        details: extra evidence for templates (median, threshold, stack, ...).
        time: Unix time of the observation. Defaults to now.
        fingerprint: grouping key. Defaults to a hash of run name, kind and title.

    Example:
        >>> Event(kind="nonfinite", title="loss is NaN", severity="critical", step=3).severity
        <Severity.CRITICAL: 30>
    """

    kind: str
    title: str
    message: str = ""
    severity: Severity = Severity.WARNING
    status: str = FIRING
    run: RunInfo | None = None
    epoch: int | None = None
    step: int | None = None
    metrics: Mapping[str, float] = dataclasses.field(default_factory=dict)
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    time: float = dataclasses.field(default_factory=time.time)
    fingerprint: str = ""

    def __post_init__(self) -> None:
        setattr_ = object.__setattr__
        if self.kind not in KINDS:
            raise ValueError(f"Event.kind: expected one of {sorted(KINDS)}, got {self.kind!r}")
        if self.status not in STATUSES:
            raise ValueError(f"Event.status: expected 'firing' or 'resolved', got {self.status!r}")
        if not isinstance(self.severity, Severity):
            setattr_(self, "severity", Severity.parse(self.severity))
        setattr_(self, "title", valid_text(self.title))
        setattr_(self, "message", valid_text(self.message))
        setattr_(self, "metrics", clean_metrics(self.metrics))
        setattr_(self, "details", utf8_safe(dict(self.details or {})))
        if self.fingerprint:
            setattr_(self, "fingerprint", valid_text(self.fingerprint))
        else:
            setattr_(self, "fingerprint", _fingerprint(self.run, self.kind, self.title))

    @property
    def resolved(self) -> bool:
        return self.status == RESOLVED

    def with_run(self, run: RunInfo) -> Event:
        """Return a copy attributed to ``run`` (fingerprint recomputed if defaulted)."""
        default_fp = _fingerprint(self.run, self.kind, self.title)
        fingerprint = "" if self.fingerprint == default_fp else self.fingerprint
        return dataclasses.replace(self, run=run, fingerprint=fingerprint)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (schema ``alertcb.event/1``, documented in docs/schema.md)."""
        return {
            "schema": SCHEMA_VERSION,
            "kind": self.kind,
            "severity": str(self.severity),
            "status": self.status,
            "title": self.title,
            "message": self.message,
            "run": self.run.to_dict() if self.run else None,
            "epoch": self.epoch,
            "step": self.step,
            "metrics": {k: json_number(v) for k, v in self.metrics.items()},
            "details": {str(k): json_safe(v) for k, v in self.details.items()},
            "time": self.time,
            "fingerprint": self.fingerprint,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        metrics = {k: parse_number(v) for k, v in (data.get("metrics") or {}).items()}
        run = data.get("run")
        return cls(
            kind=data["kind"],
            title=data["title"],
            message=data.get("message", ""),
            severity=Severity.parse(data.get("severity", "warning")),
            status=data.get("status", FIRING),
            run=RunInfo.from_dict(run) if run else None,
            epoch=data.get("epoch"),
            step=data.get("step"),
            metrics={k: v for k, v in metrics.items() if v is not None},
            details=dict(data.get("details") or {}),
            time=float(data.get("time", 0.0)),
            fingerprint=data.get("fingerprint", ""),
        )


def valid_text(value: Any) -> str:
    """``str(value)`` made safe to store and send: lone surrogates (invalid in UTF-8) become
    U+FFFD, and every registered secret (`alertcb.redact.register`) is masked."""
    text = value if type(value) is str else str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Round-trip through UTF-16 keeps valid surrogate pairs and replaces lone ones.
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return scrub_known(text)


_PLAIN = frozenset({int, float, bool, type(None)})


def utf8_safe(value: Any) -> Any:
    """``value`` with every string in it (mapping keys included, recursively) made valid UTF-8.

    Numbers, None and other objects are kept as they are; tuples stay tuples.
    """
    if type(value) is str:
        return valid_text(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, Mapping):
        return {(valid_text(k) if isinstance(k, str) else k): utf8_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if _PLAIN.issuperset(map(type, value)):  # histories of numbers: nothing to clean
            return value if type(value) is tuple else list(value)
        cleaned = [utf8_safe(v) for v in value]
        return tuple(cleaned) if isinstance(value, tuple) else cleaned
    if isinstance(value, str):  # a str subclass
        return valid_text(value)
    return value


def json_number(value: float) -> float | str:
    """JSON has no NaN/Inf: encode them as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def parse_number(value: Any) -> float | None:
    """A JSON metric value back to a float (``"NaN"``, ``"Infinity"`` included), or None."""
    if isinstance(value, str):
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(value)
    return to_float(value)


def json_safe(value: Any) -> Any:
    """Make ``value`` JSON-serialisable without losing its meaning (never raises)."""
    if isinstance(value, str):
        return valid_text(value)
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return json_number(value)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    number = to_float(value)
    if number is not None:
        return json_number(number)
    return str(value)
