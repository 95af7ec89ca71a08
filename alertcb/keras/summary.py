"""`TrainingSummary`: the end-of-training summary, via `alertcb.report.tracker.SummaryTracker`."""

from __future__ import annotations

from typing import Any

from alertcb.keras._preset import Preset
from alertcb.keras.weights import current_learning_rate
from alertcb.report.tracker import SummaryTracker

__all__ = ["TrainingSummary", "current_learning_rate", "parts"]


def parts(notifier: Any, **options: Any) -> dict[str, Any]:
    """`Monitor` arguments of `TrainingSummary`: ``options`` are `SummaryTracker` arguments."""
    return {"summary": SummaryTracker(notifier, **options)}


class TrainingSummary(Preset):
    """Sends one summary at the end of ``fit``: status, epochs, best metric, loss curve, alerts.

    Args:
        notifier: the `alertcb.Notifier`.
        monitor: the metric whose best value is reported. Defaults to ``"val_loss"``
            (``"loss"`` when there is no validation).
        mode: ``"auto"``, ``"min"`` or ``"max"``. Defaults to ``"auto"``.
        keep_batch_losses: points of the per-batch loss curve kept. Defaults to 2000.
        verbose: unused, for symmetry. Defaults to 0.

    Example:
        >>> model.fit(x, y, callbacks=[TrainingSummary(notifier)])  # doctest: +SKIP
    """

    def __init__(
        self,
        notifier: Any,
        *,
        monitor: str = "val_loss",
        mode: str = "auto",
        keep_batch_losses: int = 2000,
        verbose: int = 0,
    ) -> None:
        super().__init__(
            notifier, parts, monitor=monitor, mode=mode, keep_batch_losses=keep_batch_losses, verbose=verbose
        )
        self.tracker: SummaryTracker = self.engine.tracker
