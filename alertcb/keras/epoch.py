"""`ValAnomalyAlert` and `OverfittingAlert`: epoch-level anomalies of validation metrics."""

from __future__ import annotations

from typing import Any

import alertcb.detectors.defaults as D
from alertcb.detectors.epoch import OverfittingDetector, ValAnomalyDetector
from alertcb.keras._preset import Preset


def val_anomaly_parts(notifier: Any, monitor: str = D.VAL_MONITOR, **options: Any) -> dict[str, Any]:
    """`Monitor` arguments of `ValAnomalyAlert`: ``options`` are `ValAnomalyDetector` arguments."""
    return {"val_anomaly": ValAnomalyDetector(monitor, **options)}


def overfitting_parts(notifier: Any, monitor: str = D.VAL_MONITOR, **options: Any) -> dict[str, Any]:
    """`Monitor` arguments of `OverfittingAlert`: ``options`` are `OverfittingDetector` arguments."""
    return {"overfitting": OverfittingDetector(monitor, **options)}


class ValAnomalyAlert(Preset):
    """Alerts at the end of the epoch where a validation metric jumps abnormally (kind ``val_anomaly``).

    The jump is judged against the run's own epoch-to-epoch history (see
    `alertcb.detectors.ValAnomalyDetector`); on by default in `default_callbacks`.

    Args:
        notifier: the `alertcb.Notifier`.
        monitor: the epoch metric. Defaults to ``"val_loss"``.
        **options: `ValAnomalyDetector` arguments (``sensitivity``, ``min_change``, ``mode``...).

    Example:
        >>> ValAnomalyAlert(notifier, "val_accuracy")  # doctest: +SKIP
    """

    def __init__(self, notifier: Any, monitor: str = D.VAL_MONITOR, *, verbose: int = 0, **options: Any) -> None:
        super().__init__(notifier, val_anomaly_parts, monitor, verbose=verbose, **options)
        self.detector: ValAnomalyDetector = self.engine.val_anomaly


class OverfittingAlert(Preset):
    """Warns when the validation metric keeps worsening while training loss improves, for k epochs.

    Args:
        notifier: the `alertcb.Notifier`.
        monitor: the validation metric. Defaults to ``"val_loss"``.
        **options: `OverfittingDetector` arguments (``patience`` = k, ``min_rise``...).

    Example:
        >>> OverfittingAlert(notifier, patience=5)  # doctest: +SKIP
    """

    def __init__(self, notifier: Any, monitor: str = D.VAL_MONITOR, *, verbose: int = 0, **options: Any) -> None:
        super().__init__(notifier, overfitting_parts, monitor, verbose=verbose, **options)
        self.detector: OverfittingDetector = self.engine.overfitting
