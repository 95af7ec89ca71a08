"""`PlateauAlert`: ``EarlyStopping`` semantics, but it alerts (and optionally stops)."""

from __future__ import annotations

from typing import Any

from alertcb.detectors.plateau import PlateauDetector
from alertcb.keras._compat import FLAVOUR
from alertcb.keras._preset import Preset
from alertcb.keras.engine import keras_direction

__all__ = ["PlateauAlert", "keras_direction", "parts"]


def parts(notifier: Any, monitor: str = "val_loss", *, stop_training: bool = False, **options: Any) -> dict[str, Any]:
    """`Monitor` arguments of `PlateauAlert`: ``options`` are `PlateauDetector` arguments."""
    detector = PlateauDetector(monitor, float32_compare=FLAVOUR == "keras", **options)
    return {"plateau": detector, "stop_on_plateau": bool(stop_training)}


class PlateauAlert(Preset):
    """Alerts at the epoch at which ``keras.callbacks.EarlyStopping`` would stop training.

    Same parameters and the same decision as ``EarlyStopping`` (see
    `alertcb.detectors.PlateauDetector`), except that a NaN never becomes the best
    value. One alert per plateau; a ``resolved`` event if the metric improves again.
    The alert carries the global step of the epoch's last batch; its text counts epochs
    from 1, as Keras prints them.

    Args:
        notifier: the `alertcb.Notifier`.
        monitor: quantity in the epoch logs. Defaults to ``"val_loss"``.
        min_delta: smallest change counted as an improvement. Defaults to 0.
        patience: epochs without improvement before alerting. Defaults to 0.
        verbose: 1 also logs alerts. Defaults to 0.
        mode: ``"auto"``, ``"min"`` or ``"max"``. Defaults to ``"auto"`` (as Keras infers it).
        baseline: a value the metric must beat. Defaults to None.
        start_from_epoch: epochs ignored at the start. Defaults to 0.
        stop_training: also stop training, as ``EarlyStopping`` would. Defaults to False.
        severity: defaults to ``"warning"``.

    Example:
        >>> PlateauAlert(notifier, monitor="val_loss", patience=5, min_delta=1e-3)  # doctest: +SKIP
    """

    def __init__(
        self,
        notifier: Any,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        start_from_epoch: int = 0,
        *,
        stop_training: bool = False,
        severity: str = "warning",
    ) -> None:
        super().__init__(
            notifier,
            parts,
            monitor,
            min_delta=min_delta,
            patience=patience,
            mode=mode,
            baseline=baseline,
            start_from_epoch=start_from_epoch,
            stop_training=stop_training,
            severity=severity,
            verbose=verbose,
        )
        self.detector: PlateauDetector = self.engine.plateau
        self.monitor = monitor
        self.mode = mode
        self.stop_training = bool(stop_training)
