"""The checkpoint registry interface: a destination that records checkpoint writes.

A `Registry` IS a `alertcb.channels.base.Channel`: the dispatcher gives it retries,
the delivery deadline, outbox durability and stats, and calls it on its own threads,
never on the training thread. It accepts only ``checkpoint`` events (never
``registry_error``, so its own failure alerts cannot loop back), is never coalesced
into digests, and registers nothing on a non-chief worker of a multi-worker job.

Subclasses implement `Registry.register` for one `CheckpointRecord` and return an
`Outcome`; a failure becomes a ``registry_error`` alert (severity warning, reason
redacted) through the emit function the `alertcb.Notifier` hands over with `bind`.

Example:
    >>> class Printer(Registry):
    ...     type = "printer"
    ...     def register(self, record):
    ...         print(record.path, record.epoch)
    ...         return Outcome.delivered()
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from alertcb import distributed
from alertcb.channels.base import Channel, Outcome, SendContext
from alertcb.errors import ConfigError
from alertcb.events import Event, Severity, to_float
from alertcb.notification import Notification
from alertcb.redact import scrub

__all__ = ["CheckpointRecord", "Registry"]

logger = logging.getLogger("alertcb")

_BAD = {"retry": 1, "permanent": 2}


def _opt_int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    number = to_float(value)
    return int(number) if number is not None and math.isfinite(number) else None


@dataclasses.dataclass(frozen=True)
class CheckpointRecord:
    """One checkpoint that was really written, as a registry receives it.

    Args:
        path: the file (or SavedModel folder) written.
        epoch: 0-based epoch of the write.
        monitor: the monitored metric's name, or None.
        value: its value at that epoch, or None.
        is_best: whether it is the best checkpoint so far.
        size_bytes: its size when it was seen written, or None.
        run: the run's name, or None.
        step: 0-based global batch of the write, or None.
        time: Unix time the write was seen.
    """

    path: str
    epoch: int
    monitor: str | None
    value: float | None
    is_best: bool
    size_bytes: int | None
    run: str | None
    step: int | None
    time: float

    @classmethod
    def from_event(cls, event: Event) -> CheckpointRecord:
        """Build the record from a ``checkpoint`` event (its ``details`` and fields).

        Raises:
            ValueError: ``event`` is not a ``checkpoint`` event or names no path.
        """
        if event.kind != "checkpoint":
            raise ValueError(f"expected a 'checkpoint' event, got kind {event.kind!r}")
        d = event.details
        path = d.get("path")
        if not isinstance(path, str) or not path:
            raise ValueError("checkpoint event has no details['path']")
        epoch = event.epoch if event.epoch is not None else _opt_int(d.get("epoch"))
        monitor = d.get("monitor")
        size = d.get("size_bytes", d.get("size"))
        return cls(
            path=path,
            epoch=epoch if epoch is not None else 0,
            monitor=str(monitor) if monitor else None,
            value=to_float(d.get("value")),
            is_best=d.get("is_best") is True,
            size_bytes=_opt_int(size),
            run=event.run.name if event.run is not None else None,
            step=event.step,
            time=float(event.time),
        )


class Registry(Channel):
    """Base class of checkpoint registries (``checkpoints.jsonl``, MLflow, ...).

    Args:
        name: destination name for stats and the outbox. Defaults to the type.
        kinds: event kinds to take. Defaults to ``["checkpoint"]`` (``registry_error``
            is always refused).
        chief_only: register only on the chief worker (see `alertcb.distributed`).
            Defaults to True.

    Subclasses implement `register`. Example: see the module docstring.
    """

    type = "registry"
    #: One model version per write: never folded into a digest.
    coalesce = False

    def __init__(
        self,
        *,
        name: str | None = None,
        kinds: Sequence[str] | None = None,
        chief_only: bool = True,
        min_severity: Severity | str = "info",
        rate_limit_per_min: float | None = None,
    ) -> None:
        super().__init__(
            name=name,
            min_severity=min_severity,
            kinds=["checkpoint"] if kinds is None else kinds,
            rate_limit_per_min=rate_limit_per_min,
        )
        if not isinstance(chief_only, bool):
            raise ConfigError("chief_only", f"expected true or false, got {chief_only!r}")
        self.chief_only = chief_only
        self._is_chief = distributed.detect_worker().is_chief
        self._emit: Callable[[Event], Any] | None = None

    # ------------------------------------------------------------------ wiring
    def bind(self, emit: Callable[[Event], Any]) -> None:
        """Take the notifier's ``emit`` (called once), for `report_error` alerts.

        When ``emit`` belongs to an `alertcb.Notifier`, its worker identity decides
        whether this process is the chief.
        """
        self._emit = emit
        info = getattr(getattr(emit, "__self__", None), "worker_info", None)
        is_chief = getattr(info, "is_chief", None)
        if isinstance(is_chief, bool):
            self._is_chief = is_chief

    def accepts(self, event: Event) -> bool:
        """Checkpoint events only, never ``registry_error`` or ``test``; nothing on a non-chief."""
        if event.kind in ("registry_error", "test"):
            return False
        if self.chief_only and not self._is_chief:
            return False
        return super().accepts(event)

    # ------------------------------------------------------------------ delivery
    def send(self, notification: Notification, ctx: SendContext) -> Outcome:
        """Register every checkpoint event of ``notification``; the worst outcome wins."""
        worst = Outcome.delivered()
        for event in notification.events:
            if event.kind != "checkpoint" or event.resolved:
                continue
            try:
                record = CheckpointRecord.from_event(event)
            except ValueError as exc:
                self.report_error(str(exc), None)
                outcome = Outcome.permanent(str(exc))
            else:
                outcome = self._register(record)
            if _BAD.get(outcome.verdict, 0) > _BAD.get(worst.verdict, 0):
                worst = outcome
        return worst

    def _register(self, record: CheckpointRecord) -> Outcome:
        try:
            outcome = self.register(record)
        except Exception as exc:  # noqa: BLE001 - a registry bug is an alert, never a crash
            outcome = Outcome.retry(f"{type(exc).__name__}: {exc}")
        if outcome.verdict != "delivered":
            self.report_error(outcome.reason or outcome.verdict, record)
        return outcome

    def register(self, record: CheckpointRecord) -> Outcome:
        """Record one checkpoint write; return `Outcome.delivered()` once it is stored.

        Return `Outcome.retry` for transient failures (server down: the dispatcher retries
        until the deadline, the outbox keeps it across restarts) and `Outcome.permanent`
        for refusals. Must be idempotent: a retry may repeat a record already stored.
        """
        raise NotImplementedError

    # ------------------------------------------------------------------ alerts
    def report_error(self, reason: str, record: CheckpointRecord | None) -> None:
        """Emit a ``registry_error`` alert (warning) with the redacted ``reason``; never raises."""
        text = scrub(str(reason))[:1000]
        details: dict[str, Any] = {"registry": self.name, "registry_type": self.type, "reason": text}
        message = f"{self.type} registry {self.name!r}: {text}"
        epoch = None
        if record is not None:
            details.update(path=record.path, epoch=record.epoch)
            message += f" (checkpoint {record.path}, epoch {record.epoch + 1})"
            epoch = record.epoch
        logger.warning("alertcb: %s", message)
        if self._emit is None:
            return
        try:
            self._emit(
                Event(
                    kind="registry_error",
                    title=f"checkpoint registry {self.name} failed",
                    message=message,
                    severity=Severity.WARNING,
                    epoch=epoch,
                    details=details,
                    time=time.time(),
                )
            )
        except Exception:  # an alert about an alert must not break delivery
            logger.debug("alertcb: registry_error alert not emitted", exc_info=True)

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["chief_only"] = self.chief_only
        return out
