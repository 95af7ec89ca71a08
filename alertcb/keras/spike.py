"""`LossSpikeAlert` and `DivergenceAlert`: both read the per-batch loss recovered from Keras' running means."""

from __future__ import annotations

from typing import Any

import alertcb.detectors.defaults as D
from alertcb.detectors.divergence import DivergenceDetector
from alertcb.detectors.spike import SpikeDetector
from alertcb.errors import ConfigError
from alertcb.keras._preset import Preset


def _check_monitor(monitor: Any) -> str:
    if not isinstance(monitor, str) or not monitor or monitor.startswith("val_"):
        raise ConfigError(
            "monitor", f"expected a training metric logged every batch such as 'loss', got {monitor!r}"
        )
    return monitor


def spike_parts(notifier: Any, *, monitor: str = "loss", **options: Any) -> dict[str, Any]:
    """`Monitor` arguments of `LossSpikeAlert`: ``options`` are `SpikeDetector` arguments."""
    return {"monitor": _check_monitor(monitor), "spike": SpikeDetector(monitor=monitor, **options)}


def divergence_parts(notifier: Any, *, monitor: str = "loss", **options: Any) -> dict[str, Any]:
    """`Monitor` arguments of `DivergenceAlert`: ``options`` are `DivergenceDetector` arguments."""
    return {"monitor": _check_monitor(monitor), "divergence": DivergenceDetector(monitor=monitor, **options)}


class LossSpikeAlert(Preset):
    """Alerts once per loss spike (and again, ``resolved``, when the loss is back to normal).

    Works on each batch's own loss, recovered from the running means Keras reports
    (``steps_per_execution > 1``: each chunk's mean). A spike is at least ``min_ratio`` x
    the median of the last 20 batches, above the maximum of the last 100, and far above
    the run's own noise; alerts are possible from batch 20. See
    `alertcb.detectors.SpikeDetector` and docs/detection.md.

    Args:
        notifier: the `alertcb.Notifier`.
        monitor: a metric logged every batch. Defaults to ``"loss"``.
        sensitivity: threshold in units of the run's tail spread; lower fires more. Defaults to 2.2.
        min_ratio: minimum ratio to the recent median. Defaults to 3.
        window: batches in the noise baseline. Defaults to 300.
        warmup_steps: batches before the first alert. Defaults to 20.
        resolve_steps: normal batches in a row that resolve a spike. Defaults to 5.
        verbose: 1 also logs alerts. Defaults to 0.

    Example:
        >>> model.fit(x, y, callbacks=[LossSpikeAlert(notifier, sensitivity=2.5)])  # doctest: +SKIP
    """

    def __init__(
        self,
        notifier: Any,
        *,
        monitor: str = "loss",
        sensitivity: float = D.SPIKE_SENSITIVITY,
        min_ratio: float = D.SPIKE_MIN_RATIO,
        window: int = D.SPIKE_WINDOW,
        warmup_steps: int = D.SPIKE_WARMUP_STEPS,
        resolve_steps: int = D.SPIKE_RESOLVE_STEPS,
        verbose: int = 0,
    ) -> None:
        super().__init__(
            notifier,
            spike_parts,
            monitor=monitor,
            sensitivity=sensitivity,
            min_ratio=min_ratio,
            window=window,
            warmup_steps=warmup_steps,
            resolve_steps=resolve_steps,
            verbose=verbose,
        )
        self.monitor = monitor
        self.detector: SpikeDetector = self.engine.spike


class DivergenceAlert(Preset):
    """Alerts when the loss level (median of the last 5 batches) stays far above its baseline.

    Args:
        notifier: the `alertcb.Notifier`.
        monitor: a metric logged every batch. Defaults to ``"loss"``.
        factor: how many times above its baseline level. Defaults to 3.
        patience: batches the level must stay there. Defaults to 5.
        window: batches in the rolling median. Defaults to 5.
        warmup_steps: batches before the first alert. Defaults to 20.
        verbose: 1 also logs alerts. Defaults to 0.

    Example:
        >>> model.fit(x, y, callbacks=[DivergenceAlert(notifier, factor=10)])  # doctest: +SKIP
    """

    def __init__(
        self,
        notifier: Any,
        *,
        monitor: str = "loss",
        factor: float = D.DIVERGENCE_FACTOR,
        patience: int = D.DIVERGENCE_PATIENCE,
        window: int = D.DIVERGENCE_WINDOW,
        warmup_steps: int = D.DIVERGENCE_WARMUP_STEPS,
        verbose: int = 0,
    ) -> None:
        super().__init__(
            notifier,
            divergence_parts,
            monitor=monitor,
            factor=factor,
            patience=patience,
            window=window,
            warmup_steps=warmup_steps,
            verbose=verbose,
        )
        self.monitor = monitor
        self.detector: DivergenceDetector = self.engine.divergence
