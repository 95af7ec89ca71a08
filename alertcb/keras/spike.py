"""`LossSpikeAlert` and `DivergenceAlert`: both read the per-batch loss recovered from Keras' running means."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alertcb.detectors.divergence import DivergenceDetector
from alertcb.detectors.spike import DEFAULT_MIN_RATIO, DEFAULT_SENSITIVITY, RunningMeanDecoder, SpikeDetector
from alertcb.errors import ConfigError
from alertcb.keras._base import AlertCallback


class _PerBatchLossCallback(AlertCallback):
    """Decodes ``logs[monitor]`` (an epoch running mean) into per-batch values for a detector."""

    detector: Any

    def __init__(self, notifier: Any, *, monitor: str, verbose: int) -> None:
        super().__init__(notifier, verbose=verbose)
        if not isinstance(monitor, str) or not monitor or monitor.startswith("val_"):
            raise ConfigError(
                "monitor", f"expected a training metric logged every batch such as 'loss', got {monitor!r}"
            )
        self.monitor = monitor
        self._decoder = RunningMeanDecoder()

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        with self._lock:
            self._begin_training()
            self.detector.reset()
            self._decoder = RunningMeanDecoder(self._steps_per_epoch)

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        with self._lock:
            self._begin_epoch(epoch)
            self._decoder.reset(self._epoch)

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        try:
            mean = self._value(logs, self.monitor)
            if mean is None:
                return
            with self._lock:
                step = self._global_step(batch)
                decoded = self._decoder.decode(batch, mean, self._epoch)
                if decoded is None:
                    return
                event = self.detector.update(
                    step, decoded[0], epoch=self._epoch, metrics=logs, batches=decoded[1]
                )
        except Exception as exc:  # noqa: BLE001
            self._internal_error("on_train_batch_end", exc)
            return
        if event is not None:
            self._emit(event)


class LossSpikeAlert(_PerBatchLossCallback):
    """Alerts once per loss spike (and again, ``resolved``, when the loss is back to normal).

    Works on each batch's own loss, recovered from the running means Keras reports
    (``steps_per_execution > 1``: each chunk's mean). A spike must be far above the
    run's own recent noise in log space and at least ``min_ratio`` x the recent median;
    see `alertcb.detectors.SpikeDetector` and docs/detection.md.

    Args:
        notifier: the `alertcb.Notifier`.
        monitor: a metric logged every batch. Defaults to ``"loss"``.
        sensitivity: threshold in units of the run's tail spread; lower fires more. Defaults to 2.0.
        min_ratio: minimum ratio to the recent median. Defaults to 3.
        window: batches in the noise baseline. Defaults to 200.
        warmup_steps: batches before the first alert. Defaults to 50.
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
        sensitivity: float = DEFAULT_SENSITIVITY,
        min_ratio: float = DEFAULT_MIN_RATIO,
        window: int = 200,
        warmup_steps: int = 50,
        resolve_steps: int = 5,
        verbose: int = 0,
    ) -> None:
        super().__init__(notifier, monitor=monitor, verbose=verbose)
        self.detector = SpikeDetector(
            monitor=monitor,
            sensitivity=sensitivity,
            min_ratio=min_ratio,
            window=window,
            warmup_steps=warmup_steps,
            resolve_steps=resolve_steps,
            run=self.run,
        )


class DivergenceAlert(_PerBatchLossCallback):
    """Alerts when the loss level (median of recent batches) stays far above its best.

    Args:
        notifier: the `alertcb.Notifier`.
        monitor: a metric logged every batch. Defaults to ``"loss"``.
        factor: how many times above its best level. Defaults to 5.
        patience: batches the level must stay there. Defaults to 30.
        window: batches in the rolling median. Defaults to 20.
        warmup_steps: batches before the best level is tracked. Defaults to 50.
        verbose: 1 also logs alerts. Defaults to 0.

    Example:
        >>> model.fit(x, y, callbacks=[DivergenceAlert(notifier, factor=10)])  # doctest: +SKIP
    """

    def __init__(
        self,
        notifier: Any,
        *,
        monitor: str = "loss",
        factor: float = 5.0,
        patience: int = 30,
        window: int = 20,
        warmup_steps: int = 50,
        verbose: int = 0,
    ) -> None:
        super().__init__(notifier, monitor=monitor, verbose=verbose)
        self.detector = DivergenceDetector(
            monitor=monitor,
            factor=factor,
            patience=patience,
            window=window,
            warmup_steps=warmup_steps,
            run=self.run,
        )
