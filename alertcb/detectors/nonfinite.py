"""Non-finite values: NaN/Inf in the loss or any metric, and NaN weights behind a finite loss."""

from __future__ import annotations

import math
from collections.abc import Mapping

from alertcb.detectors.base import Detector, fmt, fmt_step
from alertcb.detectors.defaults import human_epoch
from alertcb.errors import NonFiniteError as NonFiniteError  # re-exported
from alertcb.events import RESOLVED, Event, RunInfo, Severity

WEIGHTS_TITLE = "model weights are not finite"


def _describe(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "Inf" if value > 0 else "-Inf"


class _Incident:
    __slots__ = ("title", "since_step")

    def __init__(self, title: str, since_step: int | None) -> None:
        self.title = title
        self.since_step = since_step


class NonFiniteDetector(Detector):
    """Fires the first time the loss or any metric is NaN or Inf; resolves when all are finite.

    Training metrics (batch logs and their epoch means) and validation metrics
    (``val_*``) are two separate incidents, so a NaN ``val_loss`` at one epoch end does
    not flap against finite training batches. The title names the first non-finite
    value, preferring ``loss`` (``"loss is NaN"``, ``"val_loss is Inf"``).

    Silent NaN: `check_weights` takes the result of one on-device reduction ("all
    trainable weights finite?") and fires ``"model weights are not finite"`` even
    while the reported loss looks healthy.

    Args:
        monitor: the metric named first in titles. Defaults to ``"loss"``.
        severity: defaults to ``"critical"``.
        run: `RunInfo` put on events.

    Example:
        >>> d = NonFiniteDetector()
        >>> d.observe(0, {"loss": 0.5}) is None
        True
        >>> d.observe(1, {"loss": float("nan")}).title
        'loss is NaN'
    """

    kind = "nonfinite"

    def __init__(
        self, *, monitor: str = "loss", severity: Severity | str = "critical", run: RunInfo | None = None
    ) -> None:
        super().__init__(severity=severity, run=run)
        self.monitor = monitor
        self._incidents: dict[str, _Incident] = {}
        self._weights: _Incident | None = None

    def reset(self) -> None:
        """Forget open incidents (a new training run)."""
        self._incidents.clear()
        self._weights = None

    @property
    def active(self) -> bool:
        """Whether a non-finite incident is open."""
        return bool(self._incidents) or self._weights is not None

    def is_open(self, scope: str) -> bool:
        """Whether the ``"train"``, ``"val"`` or ``"weights"`` incident is open."""
        if scope == "weights":
            return self._weights is not None
        return scope in self._incidents

    def observe(
        self,
        step: int | None,
        metrics: Mapping[str, float],
        *,
        epoch: int | None = None,
        scope: str | None = None,
    ) -> Event | None:
        """Check one batch's (or epoch's) metrics.

        Args:
            step: 0-based global batch index.
            metrics: name -> float (already converted; None values skipped by callers).
            epoch: 0-based epoch.
            scope: ``"train"`` or ``"val"`` to check only that group; None checks both
                (``val_*`` names belong to ``"val"``).

        Returns:
            A firing event when a new incident starts, a resolved event when an open
            incident's values are all finite again, else None.
        """
        if not self._incidents:
            isfinite = math.isfinite
            for value in metrics.values():
                if not isfinite(value):
                    break
            else:
                return None  # the hot path: everything finite, nothing open
        bad: dict[str, dict[str, float]] = {"train": {}, "val": {}}
        seen = {"train": False, "val": False}
        for name, value in metrics.items():
            group = "val" if name.startswith("val_") else "train"
            if scope is not None and group != scope:
                continue
            seen[group] = True
            if not math.isfinite(value):
                bad[group][name] = value
        result: Event | None = None
        for group in ("train", "val"):
            if not seen[group]:
                continue
            event = self._update(group, bad[group], step, epoch, metrics)
            if event is not None and (result is None or not event.resolved):
                result = event
        return result

    def _update(
        self,
        group: str,
        bad: dict[str, float],
        step: int | None,
        epoch: int | None,
        metrics: Mapping[str, float],
    ) -> Event | None:
        incident = self._incidents.get(group)
        if bad and incident is None:
            primary_name = "val_" + self.monitor if group == "val" else self.monitor
            name = primary_name if primary_name in bad else next(iter(bad))
            value = bad[name]
            title = f"{name} is {_describe(value)}"
            self._incidents[group] = _Incident(title, step)
            others = [f"{k} {_describe(v)}" for k, v in bad.items() if k != name]
            where = f"at step {fmt_step(step)}" if step is not None else f"at the end of epoch {human_epoch(epoch)}"
            message = f"{name} became {_describe(value)} {where}" + (
                f" (also {', '.join(others)})" if others else ""
            )
            details = {"metric": name, "value": value, "nonfinite": dict(bad)}
            return self.make_event(title, message, epoch=epoch, step=step, metrics=metrics, details=details)
        if not bad and incident is not None:
            del self._incidents[group]
            since = incident.since_step
            span = f" since step {fmt_step(since)}" if since is not None else ""
            message = f"all values finite again at step {fmt_step(step)} (non-finite{span})"
            return self.make_event(
                incident.title,
                message,
                status=RESOLVED,
                epoch=epoch,
                step=step,
                metrics=metrics,
                details={"since_step": since},
            )
        return None

    def check_weights(
        self,
        step: int | None,
        all_finite: bool,
        *,
        epoch: int | None = None,
        metrics: Mapping[str, float] | None = None,
    ) -> Event | None:
        """Take the result of one "are all trainable weights finite?" reduction.

        Returns:
            A firing event the first time weights are not finite, a resolved event
            when they are finite again (weights restored), else None.
        """
        metrics = metrics or {}
        if not all_finite and self._weights is None:
            self._weights = _Incident(WEIGHTS_TITLE, step)
            loss = metrics.get(self.monitor)
            tail = (
                f" while {self.monitor} {fmt(loss)} still looks finite"
                if loss is not None and math.isfinite(loss)
                else ""
            )
            message = f"model weights contain NaN or Inf at step {fmt_step(step)}{tail}"
            return self.make_event(
                WEIGHTS_TITLE,
                message,
                epoch=epoch,
                step=step,
                metrics=metrics,
                details={"weights_finite": False, "silent": bool(tail)},
            )
        if all_finite and self._weights is not None:
            since = self._weights.since_step
            self._weights = None
            return self.make_event(
                WEIGHTS_TITLE,
                f"model weights are finite again at step {fmt_step(step)} (not finite since step {fmt_step(since)})",
                status=RESOLVED,
                epoch=epoch,
                step=step,
                metrics=metrics,
                details={"weights_finite": True, "since_step": since},
            )
        return None
