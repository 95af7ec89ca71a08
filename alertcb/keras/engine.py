"""`AlertEngine`: the one Keras callback that drives `alertcb.detectors.Monitor`.

Every batch hook makes one pass over ``logs`` inside one `Monitor` (one lock, one
running-mean decoder, one step counter). The named callbacks (`NonFiniteAlert`,
`LossSpikeAlert`, ...) are presets of this class with one detector enabled;
`default_callbacks` builds one engine with all of them.

Extension point: `default_callbacks` appends extra callbacks after the engine (the
``progress=`` digest and, when ``alertcb.keras.lifecycle`` is installed, its
``LifecycleAlert``); they see epoch boundaries only, so batch hooks still run once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alertcb.detectors.monitor import Monitor
from alertcb.detectors.plateau import infer_mode
from alertcb.keras._base import AlertCallback, logger
from alertcb.keras._compat import FLAVOUR
from alertcb.keras.weights import cached_weights_check, current_learning_rate


def keras_direction(model: Any, monitor: str) -> str | None:
    """The direction Keras itself infers for ``mode="auto"``, or None if it cannot.

    Keras 3: ``loss`` is minimised; otherwise the compiled metric of that name says
    (``_direction``). tf_keras: names ending in ``acc``/``accuracy``/``auc`` are
    maximised, everything else minimised.
    """
    if FLAVOUR == "tf_keras":
        return "max" if monitor.endswith(("acc", "accuracy", "auc")) else "min"
    name = monitor.removeprefix("val_")
    direction = "min" if name == "loss" else None
    metrics: list[Any] = []
    for metric in getattr(model, "metrics", None) or []:
        inner = getattr(metric, "metrics", None)
        if isinstance(inner, (list, tuple)):
            metrics.extend(inner)
    for metric in metrics:
        if getattr(metric, "name", None) == name and hasattr(metric, "_direction"):
            direction = "max" if metric._direction == "up" else "min"
    return direction


class AlertEngine(AlertCallback):
    """Feeds every batch and epoch of ``fit`` to one `Monitor` and acts on its decisions.

    Args:
        notifier: the `alertcb.Notifier`.
        engine: the `Monitor` to drive (built with ``running_mean=True``); None builds
            one from ``monitor_kwargs``.
        check_weights: run the silent-NaN weight check (one on-device reduction) on the
            schedule of ``engine.weights``. Defaults to True.
        verbose: 1 also logs alerts. Defaults to 0.
        **monitor_kwargs: `Monitor` arguments when ``engine`` is None.

    Example:
        >>> model.fit(x, y, callbacks=[AlertEngine(notifier, hang_timeout_s=600)])  # doctest: +SKIP
    """

    def __init__(
        self,
        notifier: Any,
        *,
        engine: Monitor | None = None,
        check_weights: bool = True,
        verbose: int = 0,
        **monitor_kwargs: Any,
    ) -> None:
        super().__init__(notifier, verbose=verbose)
        if engine is None:
            monitor_kwargs.setdefault("running_mean", True)
            monitor_kwargs.setdefault("autostart", False)
            engine = Monitor(notifier, **monitor_kwargs)
        self.engine = engine
        self.check_weights = bool(check_weights) and engine.nonfinite is not None
        self._plateau_direction_set = engine.plateau is None or engine.plateau.mode != "auto"
        self._epochs_done = 0
        self.progress: Any = None

    def add_progress(self, options: Mapping[str, Any]) -> None:
        """Periodic progress digests during ``fit`` (``ProgressDigest`` arguments, e.g. ``{"every": "1h"}``),
        fed by this engine's summary tracker; started at train begin, cancelled at train end."""
        from alertcb.errors import ConfigError
        from alertcb.report.digest import ProgressDigest

        if not isinstance(options, Mapping):
            raise ConfigError("progress", f"expected a dict of ProgressDigest arguments or None, got {options!r}")
        try:
            self.progress = ProgressDigest(self.notifier, tracker=self.engine.tracker, start=False, **options)
        except ConfigError as exc:
            raise exc.with_prefix("progress") from None
        except TypeError as exc:
            raise ConfigError("progress", f"bad arguments for ProgressDigest: {exc}") from None

    # --- training ---------------------------------------------------------------------------

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        try:
            with self._lock:
                self._begin_training()
                self._epochs_done = 0
            model = getattr(self, "model", None)
            engine = self.engine
            engine.weights_check = cached_weights_check(model) if self.check_weights and model else None
            engine.lr = (lambda: current_learning_rate(model)) if model is not None else None
            params = getattr(self, "params", None)
            engine.train_begin(params if isinstance(params, Mapping) else {})
            if self.progress is not None:
                self.progress.start()
        except Exception as exc:  # noqa: BLE001
            self._internal_error("on_train_begin", exc)

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self.engine.epoch_begin(epoch)
        self._epoch = self.engine.epoch

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        # One lock per batch: the engine counts the global step inside its own lock.
        events = self.engine.batch_end(None, logs, batch=batch)
        if events or self.engine._stop:
            self._after(events)

    def on_test_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        if self._training:
            self.engine.phase("validation")

    def on_test_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self._training:
            self.engine.validation_batch_end()

    def on_test_end(self, logs: Mapping[str, Any] | None = None) -> None:
        if self._training:
            self.engine.phase("checkpoint")

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        try:
            model = getattr(self, "model", None)
            if not self._plateau_direction_set and self.engine.plateau is not None:
                self._set_plateau_direction(model, logs)
            with self._lock:
                self._epochs_done += 1
            lr = current_learning_rate(model) if self.engine.tracker is not None else None
            events = self.engine.epoch_end(epoch, logs, lr=lr)
        except Exception as exc:  # noqa: BLE001
            self._internal_error("on_epoch_end", exc)
            return
        self._after(events)
        if self._training:
            self.engine.phase("checkpoint")

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        try:
            params = getattr(self, "params", None) or {}
            planned = params.get("epochs") if isinstance(params, Mapping) else None
            model = getattr(self, "model", None)
            stopped = bool(getattr(model, "stop_training", False))
            if isinstance(planned, int) and planned > 0 and self._epochs_done:
                initial = max(0, self._epoch + 1 - self._epochs_done)
                stopped = stopped or initial + self._epochs_done < planned
            self._training = False
            if self.progress is not None:
                self.progress.cancel()
            events = self.engine.train_end(stopped_early=stopped)
        except Exception as exc:  # noqa: BLE001
            self._internal_error("on_train_end", exc)
            return
        self._after(events, stop=False)

    # --- internals --------------------------------------------------------------------------

    def _after(self, events: list[Any], stop: bool = True) -> None:
        if self.verbose:
            for event in events:
                logger.warning("%s: %s", event.title, event.message.split("\n", 1)[0])
        if stop and self.engine.take_stop():
            self._stop_training()

    def _set_plateau_direction(self, model: Any, logs: Mapping[str, Any] | None) -> None:
        plateau = self.engine.plateau
        if plateau is None:
            return
        direction = keras_direction(model, plateau.monitor)
        if direction is None:
            direction = infer_mode(plateau.monitor)
            if plateau.monitor in (logs or {}):  # a missing name is reported once by the engine instead
                logger.warning(
                    "alertcb PlateauAlert: cannot tell whether %r should go up or down; assuming "
                    "mode=%r (pass mode='min' or mode='max')",
                    plateau.monitor,
                    direction,
                )
        plateau.set_direction(direction)
        self._plateau_direction_set = True
