"""How the named callbacks are presets of `AlertEngine`: each contributes `Monitor` arguments."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from alertcb.detectors.monitor import Monitor
from alertcb.keras._base import check_notifier
from alertcb.keras.engine import AlertEngine

#: Every detector off: a preset turns on only its own.
NOTHING: dict[str, Any] = {
    "nonfinite": False,
    "spike": False,
    "divergence": False,
    "val_anomaly": False,
    "overfitting": False,
    "summary": False,
}


def merge(parts: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Combine presets' `Monitor` arguments (thresholds are concatenated)."""
    merged: dict[str, Any] = dict(NOTHING)
    thresholds: list[Any] = []
    for part in parts:
        for key, value in part.items():
            if key == "thresholds":
                thresholds.extend(value)
            else:
                merged[key] = value
    merged["thresholds"] = thresholds
    return merged


class Preset(AlertEngine):
    """An `AlertEngine` with one detector enabled (the named callbacks subclass this)."""

    def __init__(
        self, notifier: Any, make: Callable[..., Mapping[str, Any]], *args: Any, verbose: int = 0, **options: Any
    ) -> None:
        check_notifier(notifier)
        kwargs = merge([make(notifier, *args, **options)])
        check_weights = bool(kwargs.pop("check_weights", True))
        engine = Monitor(notifier, running_mean=True, autostart=False, **kwargs)
        super().__init__(notifier, engine=engine, check_weights=check_weights, verbose=verbose)
