"""Epoch-level anomalies: a validation metric that jumps, and overfitting.

`ValAnomalyDetector` compares each epoch's value with the run's own epoch-to-epoch
history: the jump ``x - median(last 3)`` (in the bad direction) must exceed
``sensitivity`` x the run's typical epoch-to-epoch variation *and* ``min_change`` x the
magnitude of that median. The variation is the median absolute *second* difference
``|(x[i] - x[i-1]) - (x[i-1] - x[i-2])|`` of the last 20 normal epochs (the median
absolute change while fewer than 4 are known): a steady improvement of 0.3 per epoch is
a trend, not noise, and does not hide a jump; a noisy small validation set has large
second differences and stays quiet. A validation set whose labels are corrupted
(``val_loss`` 0.33 → 6.2) fires at the end of that very epoch. Values are
compared as plain differences, so negative and constant losses never raise nor alarm.

`OverfittingDetector` warns when, for ``patience`` epochs in a row, the training loss
improved while the validation metric stayed above its best by more than ``min_rise``
and ended higher than where the streak started.

Events keep 0-based ``epoch``; messages count epochs from 1.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping

import alertcb.detectors.defaults as D
from alertcb.detectors.base import Detector, check_name, fmt
from alertcb.detectors.defaults import human_epoch
from alertcb.detectors.plateau import MODES, infer_mode
from alertcb.errors import ConfigError
from alertcb.events import RESOLVED, Event, RunInfo, Severity
from alertcb.validate import check_number

_HISTORY = 20


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else 0.5 * (ordered[n // 2 - 1] + ordered[n // 2])


def _direction(monitor: str, mode: str) -> str:
    if mode not in MODES:
        raise ConfigError("mode", f"expected 'auto', 'min' or 'max', got {mode!r}")
    return infer_mode(monitor) if mode == "auto" else mode


class ValAnomalyDetector(Detector):
    """Alerts at the end of the epoch where ``monitor`` jumps abnormally (kind ``val_anomaly``).

    Args:
        monitor: an epoch metric. Defaults to ``"val_loss"``.
        mode: ``"auto"``, ``"min"`` or ``"max"`` (which direction is bad). Defaults to ``"auto"``.
        sensitivity: jump threshold in units of the typical epoch-to-epoch variation (median
            absolute second difference). Defaults to 6.
        min_change: the jump must also be this fraction of the recent level's magnitude. Defaults to 0.5.
        min_epochs: epochs of history before the first alert. Defaults to 3.
        severity: defaults to ``"warning"``.
        run: `RunInfo` put on events.

    Example:
        >>> d = ValAnomalyDetector()
        >>> [d.observe(e, v) is not None for e, v in enumerate([0.9, 0.5, 0.4, 0.35, 0.33, 6.2])]
        [False, False, False, False, False, True]
    """

    kind = "val_anomaly"

    def __init__(
        self,
        monitor: str = D.VAL_MONITOR,
        *,
        mode: str = "auto",
        sensitivity: float = D.VAL_SENSITIVITY,
        min_change: float = D.VAL_MIN_RATIO - 1.0,
        min_epochs: int = D.VAL_MIN_EPOCHS,
        severity: Severity | str = "warning",
        run: RunInfo | None = None,
    ) -> None:
        super().__init__(severity=severity, run=run)
        self.monitor = check_name("monitor", monitor)
        self.direction = _direction(self.monitor, mode)
        self.sensitivity = check_number("sensitivity", sensitivity, minimum=0, strict_minimum=True)
        self.min_change = check_number("min_change", min_change, minimum=0)
        self.min_epochs = check_number("min_epochs", min_epochs, minimum=2, integer=True)
        self.reset()

    def reset(self) -> None:
        """A new fit."""
        self._values: deque[float] = deque(maxlen=_HISTORY)
        self._open_since: int | None = None
        self._open_epochs = 0

    @property
    def active(self) -> bool:
        return self._open_since is not None

    def observe(
        self,
        epoch: int,
        value: float | None,
        *,
        step: int | None = None,
        metrics: Mapping[str, float] | None = None,
    ) -> Event | None:
        """Take one epoch's value; returns the alert, a resolved event, or None."""
        if value is None or not math.isfinite(value):
            return None
        sign = 1.0 if self.direction == "min" else -1.0
        values = self._values
        if len(values) < self.min_epochs:
            values.append(value)
            return None
        history = list(values)
        reference = _median(history[-3:])
        steps = [b - a for a, b in zip(history, history[1:], strict=False)]
        if len(steps) >= 3:
            scale = _median([abs(b - a) for a, b in zip(steps, steps[1:], strict=False)])
        else:
            scale = _median([abs(d) for d in steps]) if steps else 0.0
        scale = max(scale, 1e-3 * abs(reference), 1e-12)
        jump = sign * (value - reference)
        limit = max(self.sensitivity * scale, self.min_change * abs(reference))
        metrics = metrics if metrics is not None else {self.monitor: value}
        anomalous = jump > limit and jump > 0
        if self._open_since is not None:
            self._open_epochs += 1
            if anomalous and self._open_epochs < 3:
                return None
            since = self._open_since
            self._open_since = None
            if anomalous:  # three epochs at the new level: it is the level now, start over
                self.reset()
                values.append(value)
            return self.make_event(
                self._title(),
                f"{self.monitor} {fmt(value)} at epoch {human_epoch(epoch)} is back in its usual range "
                f"(around {fmt(reference)}; jumped at epoch {human_epoch(since)})"
                if not anomalous
                else f"{self.monitor} stayed at {fmt(value)} since epoch {human_epoch(since)}; treated as its "
                f"new level",
                status=RESOLVED,
                epoch=epoch,
                step=step,
                metrics=metrics,
                details={"value": value, "baseline": reference, "since_epoch": since},
            )
        if not anomalous:
            values.append(value)
            return None
        self._open_since = epoch
        self._open_epochs = 0
        worse = "rose" if sign > 0 else "fell"
        message = (
            f"{self.monitor} {worse} to {fmt(value)} at epoch {human_epoch(epoch)} from around "
            f"{fmt(reference)} (median of the previous 3 epochs): a change of {fmt(abs(value - reference))}, "
            f"{fmt(jump / scale)}x its typical epoch-to-epoch variation {fmt(scale)}"
        )
        return self.make_event(
            self._title(),
            message,
            epoch=epoch,
            step=step,
            metrics=metrics,
            details={
                "value": value,
                "baseline": reference,
                "change": value - reference,
                "typical_change": scale,
                "score": jump / scale,
                "monitor": self.monitor,
            },
        )

    def _title(self) -> str:
        return f"{self.monitor} jumped"


class OverfittingDetector(Detector):
    """Warns when validation keeps worsening while training loss keeps improving (kind ``overfitting``).

    Args:
        monitor: the validation metric. Defaults to ``"val_loss"``.
        train_monitor: the training loss. Defaults to ``"loss"``.
        mode: direction of ``monitor``: ``"auto"``, ``"min"`` or ``"max"``. Defaults to ``"auto"``.
        patience: epochs in a row (k). Defaults to 4.
        min_rise: validation must be worse than its best by this fraction. Defaults to 0.05.
        severity: defaults to ``"warning"``.
        run: `RunInfo` put on events.

    Example:
        >>> d = OverfittingDetector(patience=3)
        >>> logs = [(1.0, 1.0), (0.8, 0.9), (0.6, 1.0), (0.5, 1.1), (0.4, 1.2)]
        >>> [d.observe(e, {"loss": a, "val_loss": b}) is not None for e, (a, b) in enumerate(logs)]
        [False, False, False, False, True]
    """

    kind = "overfitting"

    def __init__(
        self,
        monitor: str = D.VAL_MONITOR,
        *,
        train_monitor: str = "loss",
        mode: str = "auto",
        patience: int = D.OVERFIT_PATIENCE,
        min_rise: float = D.OVERFIT_MIN_RISE,
        severity: Severity | str = "warning",
        run: RunInfo | None = None,
    ) -> None:
        super().__init__(severity=severity, run=run)
        self.monitor = check_name("monitor", monitor)
        self.train_monitor = check_name("train_monitor", train_monitor)
        self.direction = _direction(self.monitor, mode)
        self.patience = check_number("patience", patience, minimum=1, integer=True)
        self.min_rise = check_number("min_rise", min_rise, minimum=0)
        self.reset()

    def reset(self) -> None:
        """A new fit."""
        self._best: float | None = None
        self._best_epoch = 0
        self._train: float | None = None
        self._streak = 0
        self._streak_start: float | None = None
        self.alerted = False

    def observe(self, epoch: int, metrics: Mapping[str, float], *, step: int | None = None) -> Event | None:
        """Take one epoch's logs (``loss`` and ``val_*``)."""
        val, train = metrics.get(self.monitor), metrics.get(self.train_monitor)
        if val is None or train is None or not (math.isfinite(val) and math.isfinite(train)):
            return None
        sign = 1.0 if self.direction == "min" else -1.0
        previous_train, self._train = self._train, train
        best = self._best
        if best is None or sign * (val - best) < 0:
            self._best, self._best_epoch = val, epoch
            self._streak, self._streak_start = 0, None
            if self.alerted:
                self.alerted = False
                return self.make_event(
                    self._title(),
                    f"{self.monitor} improved to {fmt(val)} at epoch {human_epoch(epoch)}",
                    status=RESOLVED,
                    epoch=epoch,
                    step=step,
                    metrics=metrics,
                    details={"value": val, "best": val, "best_epoch": epoch},
                )
            return None
        improving = previous_train is not None and train < previous_train
        worse = sign * (val - best) > self.min_rise * max(abs(best), 1e-12)
        if not (improving and worse):
            self._streak, self._streak_start = 0, None
            return None
        if self._streak == 0:
            self._streak_start = val
        self._streak += 1
        start = self._streak_start if self._streak_start is not None else val
        if self._streak < self.patience or self.alerted or sign * (val - start) <= 0 and self._streak > 1:
            return None
        self.alerted = True
        return self.make_event(
            self._title(),
            f"{self.monitor} has worsened for {self._streak} epochs while {self.train_monitor} kept "
            f"improving: {fmt(val)} at epoch {human_epoch(epoch)} vs its best {fmt(best)} at epoch "
            f"{human_epoch(self._best_epoch)} ({self.train_monitor} {fmt(train)})",
            epoch=epoch,
            step=step,
            metrics=metrics,
            details={
                "value": val,
                "baseline": best,
                "best": best,
                "best_epoch": self._best_epoch,
                "train_loss": train,
                "epochs": self._streak,
                "patience": self.patience,
            },
        )

    def _title(self) -> str:
        return f"{self.monitor} overfitting"
