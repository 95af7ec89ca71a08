"""User rules such as "warn when val_loss > 10"."""

from __future__ import annotations

import math
from collections.abc import Mapping

from alertcb.detectors.base import Detector, check_name, fmt, fmt_step
from alertcb.detectors.defaults import human_epoch
from alertcb.errors import ConfigError
from alertcb.events import RESOLVED, Event, RunInfo, Severity
from alertcb.validate import check_number

LEVELS = ("batch", "epoch")


class ThresholdDetector(Detector):
    """Fires when ``monitor`` goes above ``above`` or below ``below``; resolves when back inside.

    Comparisons are strict (``value > above``, ``value < below``). NaN is neither above
    nor below (the non-finite detector reports it) and leaves the state unchanged.

    Args:
        monitor: the metric, e.g. ``"val_loss"``.
        above: fire when the value is greater than this.
        below: fire when the value is less than this.
        level: ``"epoch"`` (epoch-end logs, default) or ``"batch"`` (batch logs, which
            in Keras are the epoch's running means).
        patience: consecutive observations outside the bounds before firing. Defaults to 1.
        severity: defaults to ``"warning"``.
        run: `RunInfo` put on events.

    Example:
        >>> d = ThresholdDetector("val_loss", above=10)
        >>> d.observe(12.0, epoch=3).title
        'val_loss above 10'
    """

    kind = "threshold"

    def __init__(
        self,
        monitor: str,
        *,
        above: float | None = None,
        below: float | None = None,
        level: str = "epoch",
        patience: int = 1,
        severity: Severity | str = "warning",
        run: RunInfo | None = None,
    ) -> None:
        super().__init__(severity=severity, run=run)
        self.monitor = check_name("monitor", monitor)
        self.above = check_number("above", above, allow_none=True)
        self.below = check_number("below", below, allow_none=True)
        if self.above is None and self.below is None:
            raise ConfigError("above", "expected `above=` and/or `below=` to be set")
        if self.above is not None and self.below is not None and self.below >= self.above:
            raise ConfigError("below", f"expected below < above, got below={below!r}, above={above!r}")
        if level not in LEVELS:
            raise ConfigError("level", f"expected 'batch' or 'epoch', got {level!r}")
        self.level = level
        self.patience = check_number("patience", patience, minimum=1, integer=True)
        self._count = 0
        self._open: str | None = None
        self._since_step: int | None = None
        self._since_epoch: int | None = None

    def reset(self) -> None:
        self._count = 0
        self._open = None
        self._since_step = self._since_epoch = None

    def _title(self, side: str) -> str:
        bound = self.above if side == "above" else self.below
        return f"{self.monitor} {side} {fmt(bound)}"

    def observe(
        self,
        value: float | None,
        *,
        step: int | None = None,
        epoch: int | None = None,
        metrics: Mapping[str, float] | None = None,
    ) -> Event | None:
        """Check one value of the monitored metric."""
        if value is None or math.isnan(value):
            return None
        side: str | None = None
        if self.above is not None and value > self.above:
            side = "above"
        elif self.below is not None and value < self.below:
            side = "below"
        metrics = metrics if metrics is not None else {self.monitor: value}
        where = f"at step {fmt_step(step)}" if self.level == "batch" else f"at epoch {human_epoch(epoch)}"
        if side is not None:
            self._count += 1
            if self._open is None and self._count >= self.patience:
                self._open = side
                self._since_step, self._since_epoch = step, epoch
                bound = self.above if side == "above" else self.below
                message = f"{self.monitor} {fmt(value)} {where} is {side} the threshold {fmt(bound)}"
                if self.patience > 1:
                    message += f" ({self._count} times in a row)"
                return self.make_event(
                    self._title(side),
                    message,
                    epoch=epoch,
                    step=step,
                    metrics=metrics,
                    details={"value": value, "threshold": bound, "side": side, "monitor": self.monitor},
                )
            return None
        self._count = 0
        if self._open is not None:
            title = self._title(self._open)
            bound = self.above if self._open == "above" else self.below
            self._open = None
            return self.make_event(
                title,
                f"{self.monitor} {fmt(value)} {where} is back within the threshold {fmt(bound)}",
                status=RESOLVED,
                epoch=epoch,
                step=step,
                metrics=metrics,
                details={"value": value, "threshold": bound, "monitor": self.monitor},
            )
        return None
