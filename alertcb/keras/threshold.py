"""`ThresholdAlert`: rules such as "warn when val_loss > 10"."""

from __future__ import annotations

from typing import Any

from alertcb.detectors.threshold import ThresholdDetector
from alertcb.errors import ConfigError
from alertcb.keras._preset import Preset


def parts(notifier: Any, monitor: str = "val_loss", *, level: str = "epoch", **options: Any) -> dict[str, Any]:
    """`Monitor` arguments of one `ThresholdAlert`: ``options`` are `ThresholdDetector` arguments."""
    detector = ThresholdDetector(monitor, level=level, **options)
    if level == "batch" and monitor.startswith("val_"):
        raise ConfigError("level", f"{monitor!r} is only in epoch logs; use level='epoch'")
    return {"thresholds": [detector]}


class ThresholdAlert(Preset):
    """Alerts when ``monitor`` goes above ``above`` or below ``below``; resolves when back.

    A ``monitor`` missing from the logs (a typo such as ``val_los``) is reported once,
    as a warning on the ``alertcb`` logger, at the first epoch end that lacks it.

    Args:
        notifier: the `alertcb.Notifier`.
        monitor: the metric. Defaults to ``"val_loss"``.
        above: alert when the value is greater than this.
        below: alert when the value is less than this.
        level: ``"epoch"`` (epoch logs, default) or ``"batch"`` (batch logs: Keras reports
            the running mean of the epoch so far).
        patience: consecutive observations outside the bounds before alerting. Defaults to 1.
        severity: ``"info"``, ``"warning"`` (default) or ``"critical"``.
        verbose: 1 also logs alerts. Defaults to 0.

    Example:
        >>> ThresholdAlert(notifier, monitor="val_loss", above=10)  # doctest: +SKIP
    """

    def __init__(
        self,
        notifier: Any,
        monitor: str = "val_loss",
        *,
        above: float | None = None,
        below: float | None = None,
        level: str = "epoch",
        patience: int = 1,
        severity: str = "warning",
        verbose: int = 0,
    ) -> None:
        super().__init__(
            notifier,
            parts,
            monitor,
            above=above,
            below=below,
            level=level,
            patience=patience,
            severity=severity,
            verbose=verbose,
        )
        self.detector: ThresholdDetector = self.engine.thresholds[0]
        self.monitor = monitor
        self.level = level
