"""`NonFiniteAlert`: NaN/Inf in the loss or a metric, and NaN weights behind a finite loss."""

from __future__ import annotations

from typing import Any

from alertcb.detectors.monitor import POLICIES
from alertcb.detectors.nonfinite import NonFiniteDetector, NonFiniteError
from alertcb.detectors.weights import WeightCheckSchedule
from alertcb.errors import ConfigError
from alertcb.keras._preset import Preset
from alertcb.keras.weights import cached_weights_check, make_weights_check
from alertcb.validate import check_number

__all__ = ["POLICIES", "NonFiniteAlert", "NonFiniteError", "cached_weights_check", "make_weights_check", "parts"]


def parts(
    notifier: Any,
    *,
    monitor: str = "loss",
    on_nonfinite: str = "alert",
    check_weights_every: int | None = None,
    check_weights_min_interval_s: float = 0.0,
) -> dict[str, Any]:
    """`Monitor` arguments of `NonFiniteAlert` (also used by `default_callbacks`)."""
    if not isinstance(monitor, str) or not monitor:
        raise ConfigError("monitor", f"expected a metric name such as 'loss', got {monitor!r}")
    if on_nonfinite not in POLICIES:
        raise ConfigError("on_nonfinite", f"expected 'alert', 'stop' or 'raise', got {on_nonfinite!r}")
    if check_weights_every is not None and (
        isinstance(check_weights_every, bool) or not isinstance(check_weights_every, int) or check_weights_every < 0
    ):
        raise ConfigError(
            "check_weights_every", f"expected None (cost budget), 0 (off) or a batch count, got {check_weights_every!r}"
        )
    interval_s = check_number("check_weights_min_interval_s", check_weights_min_interval_s, minimum=0)
    schedule = WeightCheckSchedule(every=check_weights_every or None, min_interval_s=interval_s)
    return {
        "nonfinite": NonFiniteDetector(monitor=monitor),
        "on_nonfinite": on_nonfinite,
        "weights": schedule,
        "check_weights": check_weights_every != 0,
    }


class NonFiniteAlert(Preset):
    """Alerts in the same batch the loss or any metric becomes NaN or Inf.

    Also checks that all trainable weights are finite (one on-device reduction, one
    boolean to the host), which catches a model that is already NaN while its reported
    loss still looks healthy (the common case on CPUs whose fused MatMul+ReLU turns a
    NaN input into 0, see docs/detection.md). By default the check interval comes from
    a cost budget: the measured check time against the measured step time, at most
    0.5% of training time, and at least every 5 batches or 1 s, whichever is later
    (`alertcb.detectors.WeightCheckSchedule`).

    Args:
        notifier: the `alertcb.Notifier`.
        monitor: the metric named first in titles. Defaults to ``"loss"``.
        on_nonfinite: ``"alert"`` (default), ``"stop"`` (also sets
            ``model.stop_training``) or ``"raise"`` (raises `NonFiniteError` after the
            alert, like ``TerminateOnNaN(raise_error=True)``).
        check_weights_every: None (default) for the cost budget, a fixed number of
            batches between weight checks, or 0 to disable them.
        check_weights_min_interval_s: minimum seconds between weight checks. Defaults to 0.
        verbose: 1 also logs alerts. Defaults to 0.

    Example:
        >>> model.fit(x, y, callbacks=[NonFiniteAlert(notifier, on_nonfinite="stop")])  # doctest: +SKIP
    """

    def __init__(
        self,
        notifier: Any,
        *,
        monitor: str = "loss",
        on_nonfinite: str = "alert",
        check_weights_every: int | None = None,
        check_weights_min_interval_s: float = 0.0,
        verbose: int = 0,
    ) -> None:
        super().__init__(
            notifier,
            parts,
            monitor=monitor,
            on_nonfinite=on_nonfinite,
            check_weights_every=check_weights_every,
            check_weights_min_interval_s=check_weights_min_interval_s,
            verbose=verbose,
        )
        self.monitor = monitor
        self.on_nonfinite = on_nonfinite
        self.detector: NonFiniteDetector = self.engine.nonfinite
