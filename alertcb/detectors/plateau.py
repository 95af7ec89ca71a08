"""A stalled metric, with exactly the semantics of Keras ``EarlyStopping``.

Mirrors ``keras.callbacks.EarlyStopping.on_epoch_end`` (Keras 3.15): ``wait`` counts
epochs since the last improvement; an improvement is ``current + min_delta < best``
(mode ``min``) or ``current - min_delta > best`` (mode ``max``); with a ``baseline``,
``wait`` is reset only by values that beat both the best and the baseline; nothing is
counted before ``start_from_epoch``; the stop condition is ``wait >= patience`` on a
non-improving epoch after the first. Messages count epochs from 1 (as Keras prints
them); ``epoch`` and ``details["best_epoch"]`` stay 0-based. One deliberate difference: a NaN (or Inf in the
wrong direction) is never an improvement, so it never becomes the best value (Keras 3
adopts a NaN first value as "best" and then stops after ``patience`` epochs with a
meaningless message; tf_keras starts from ``best = inf`` and behaves like us).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping

from alertcb.detectors.base import Detector, check_name, fmt
from alertcb.detectors.defaults import human_epoch
from alertcb.errors import ConfigError
from alertcb.events import RESOLVED, Event, RunInfo, Severity
from alertcb.validate import check_number

MODES = ("auto", "min", "max")
_MAX_SUFFIXES = (
    "acc",
    "accuracy",
    "auc",
    "precision",
    "recall",
    "f1_score",
    "fbeta_score",
    "iou",
    "r2_score",
)


def infer_mode(monitor: str) -> str:
    """``"min"`` or ``"max"`` from a metric name (``val_accuracy`` → max, ``val_loss`` → min)."""
    name = monitor.removeprefix("val_").lower()
    if name == "loss" or name.endswith("loss"):
        return "min"
    return "max" if name.endswith(_MAX_SUFFIXES) else "min"


def _float32(value: float) -> float:
    try:
        return float(struct.unpack("f", struct.pack("f", value))[0])
    except OverflowError:
        return math.copysign(math.inf, value)


class PlateauDetector(Detector):
    """Alerts when ``monitor`` stops improving, as ``EarlyStopping`` would stop training.

    Args:
        monitor: quantity in the epoch logs. Defaults to ``"val_loss"``.
        mode: ``"auto"``, ``"min"`` or ``"max"``. ``auto`` infers from the name
            (``*loss`` → min; ``*acc``, ``*accuracy``, ``*auc``, ... → max). Defaults to ``"auto"``.
        min_delta: smallest change counted as an improvement. Defaults to 0.
        patience: epochs without improvement before alerting. Defaults to 0.
        baseline: the value to beat; epochs that do not beat it count toward patience.
        start_from_epoch: epochs ignored at the start. Defaults to 0.
        float32_compare: compare in float32 as Keras 3's ``ops.less`` does. Defaults to False.
        severity: defaults to ``"warning"``.
        run: `RunInfo` put on events.

    Example:
        >>> d = PlateauDetector("val_loss", patience=1)
        >>> [d.observe(e, v) is not None for e, v in enumerate([1.0, 0.9, 0.95])]
        [False, False, True]
    """

    kind = "plateau"

    def __init__(
        self,
        monitor: str = "val_loss",
        *,
        mode: str = "auto",
        min_delta: float = 0.0,
        patience: int = 0,
        baseline: float | None = None,
        start_from_epoch: int = 0,
        float32_compare: bool = False,
        severity: Severity | str = "warning",
        run: RunInfo | None = None,
    ) -> None:
        super().__init__(severity=severity, run=run)
        self.monitor = check_name("monitor", monitor)
        if mode not in MODES:
            raise ConfigError("mode", f"expected 'auto', 'min' or 'max', got {mode!r}")
        self.mode = mode
        self.direction = infer_mode(monitor) if mode == "auto" else mode
        self.min_delta = abs(check_number("min_delta", min_delta))
        self.patience = check_number("patience", patience, minimum=0, integer=True)
        self.baseline = check_number("baseline", baseline, allow_none=True)
        self.start_from_epoch = check_number("start_from_epoch", start_from_epoch, minimum=0, integer=True)
        self.float32_compare = bool(float32_compare)
        self.reset()

    def reset(self) -> None:
        """Start over (``on_train_begin``): the same detector can watch several ``fit`` calls."""
        self.wait = 0
        self.best: float | None = None
        self.best_epoch = 0
        self.stopped_epoch = 0
        self.alerted = False

    def set_direction(self, direction: str) -> None:
        """Fix the direction (``"min"``/``"max"``) resolved by a framework for mode ``auto``."""
        if direction not in ("min", "max"):
            raise ConfigError("mode", f"expected 'min' or 'max', got {direction!r}")
        self.direction = direction

    def is_improvement(self, value: float, reference: float | None) -> bool:
        """EarlyStopping's ``_is_improvement``, except that NaN never improves."""
        if math.isnan(value):
            return False
        if reference is None:
            return True
        if self.direction == "min":
            shifted = value + self.min_delta
            if self.float32_compare:
                return _float32(shifted) < _float32(reference)
            return shifted < reference
        shifted = value - self.min_delta
        if self.float32_compare:
            return _float32(shifted) > _float32(reference)
        return shifted > reference

    @property
    def should_stop(self) -> bool:
        """True after the epoch at which ``EarlyStopping`` would have stopped training."""
        return self.stopped_epoch > 0

    def observe(
        self,
        epoch: int,
        value: float | None,
        *,
        step: int | None = None,
        metrics: Mapping[str, float] | None = None,
    ) -> Event | None:
        """Take one epoch's value; returns the alert at the epoch EarlyStopping would stop.

        Returns a resolved event if the metric improves again after an alert.
        """
        if value is None or epoch < self.start_from_epoch:
            return None
        metrics = metrics if metrics is not None else {self.monitor: value}
        self.wait += 1
        if self.is_improvement(value, self.best):
            previous_best = self.best
            self.best = value
            self.best_epoch = epoch
            if self.baseline is None or self.is_improvement(value, self.baseline):
                self.wait = 0
                if self.alerted:
                    self.alerted = False
                    return self.make_event(
                        self._title(),
                        f"{self.monitor} improved to {fmt(value)} at epoch {human_epoch(epoch)} "
                        f"(previous best {fmt(previous_best)})",
                        status=RESOLVED,
                        epoch=epoch,
                        step=step,
                        metrics=metrics,
                        details={"value": value, "best": value, "best_epoch": epoch},
                    )
            return None
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            if not self.alerted:
                self.alerted = True
                return self._alert(epoch, value, step, metrics)
        return None

    def _title(self) -> str:
        return f"{self.monitor} stopped improving"

    def _alert(self, epoch: int, value: float, step: int | None, metrics: Mapping[str, float]) -> Event:
        direction = "decreased" if self.direction == "min" else "increased"
        if self.best is None:
            best = "no finite value yet"
        else:
            best = f"best {fmt(self.best)} at epoch {human_epoch(self.best_epoch)}"
        delta = f" by more than {fmt(self.min_delta)}" if self.min_delta else ""
        message = (
            f"{self.monitor} has not {direction}{delta} for {self.wait} epoch(s): "
            f"{fmt(value)} at epoch {human_epoch(epoch)}, {best}"
        )
        if self.baseline is not None:
            message += f" (baseline {fmt(self.baseline)})"
        return self.make_event(
            self._title(),
            message,
            epoch=epoch,
            step=step,
            metrics=metrics,
            details={
                "value": value,
                "best": self.best,
                "best_epoch": self.best_epoch,
                "wait": self.wait,
                "patience": self.patience,
                "min_delta": self.min_delta,
                "baseline": self.baseline,
                "mode": self.direction,
            },
        )
