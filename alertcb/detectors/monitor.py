"""`Monitor`: the one detection engine, for Keras (through `alertcb.keras`) and custom loops.

One object, one lock, one running-mean decoder, one pass over the logs per batch; it
feeds every enabled detector (non-finite values and weights, spikes, divergence,
thresholds, the hang watchdog), the summary tracker, and at epoch ends the plateau,
validation-anomaly and overfitting detectors. The Keras callbacks are thin adapters
that call these methods from their hooks.

Example:
    >>> notifier = alertcb.Notifier(run_name="exp42")  # doctest: +SKIP
    >>> monitor = alertcb.detectors.Monitor(notifier, hang_timeout_s=600)  # doctest: +SKIP
    >>> for step, batch in enumerate(data):  # doctest: +SKIP
    ...     monitor.batch_end(step, {"loss": float(train_step(batch))}, epoch=epoch)
    >>> monitor.epoch_end(epoch, {"loss": 0.31, "val_loss": 0.35})  # doctest: +SKIP
    >>> monitor.close()  # doctest: +SKIP
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from math import isfinite
from typing import Any

from alertcb._guard import capture_internal_error
from alertcb.detectors._parts import MissingNames, PolicyHooks, WatchdogHooks, expects, hang_from, instance
from alertcb.detectors._parts import pick as _pick
from alertcb.detectors._parts import tracker as _tracker
from alertcb.detectors.base import check_name
from alertcb.detectors.decoder import RunningMeanDecoder
from alertcb.detectors.divergence import DivergenceDetector
from alertcb.detectors.epoch import OverfittingDetector, ValAnomalyDetector
from alertcb.detectors.hang import DEFAULT_INTERVAL_S, HangMonitor
from alertcb.detectors.nonfinite import NonFiniteDetector
from alertcb.detectors.plateau import PlateauDetector
from alertcb.detectors.spike import SpikeDetector
from alertcb.detectors.steps import StepCounter
from alertcb.detectors.threshold import ThresholdDetector
from alertcb.detectors.weights import WeightCheckSchedule
from alertcb.errors import ConfigError
from alertcb.events import Event, to_float
from alertcb.validate import check_number

POLICIES = ("alert", "stop", "raise")


class Monitor(WatchdogHooks, PolicyHooks):
    """Runs every enabled detector on values from any training loop and emits their events.

    Args:
        notifier: the `alertcb.Notifier` (or anything with ``emit(event)`` and ``run``).
        monitor: the loss key in the batch logs. Defaults to ``"loss"``.
        running_mean: True when batch values are epoch running means (as Keras reports
            them) rather than each batch's own value. Defaults to False.
        nonfinite: a `NonFiniteDetector`, True (default settings) or False.
        spike: a `SpikeDetector`, True or False.
        divergence: a `DivergenceDetector`, True or False.
        val_anomaly: a `ValAnomalyDetector`, True (``val_loss``, when validation runs) or False.
        overfitting: an `OverfittingDetector`, True or False (default).
        plateau: a `PlateauDetector`, or None (default).
        thresholds: `ThresholdDetector` objects; ``level="batch"`` ones see batch logs.
        hang_timeout_s: start a hang watchdog with this fixed timeout; None (default) for
            no watchdog, or pass ``hang``.
        hang: a configured `HangMonitor` (adaptive timeouts), or None.
        hang_interval_s: how often the watchdog checks. Defaults to 5.
        summary: True (default) tracks the run for the end-of-training summary (sent by
            `train_end` or `close`); a `SummaryTracker`, a dict of its arguments, or False.
        weights_check: a function returning whether all weights are finite (silent NaN);
            the Keras adapter sets it. None: no weight check.
        weights: the `WeightCheckSchedule` deciding when to run it (default: cost budget).
        on_nonfinite: ``"alert"`` (default), ``"stop"`` (`should_stop` becomes True) or
            ``"raise"`` (`batch_end` raises `NonFiniteError` after the alert).
        stop_on_plateau: `should_stop` also becomes True at a plateau alert. Defaults to False.
        lr: a function returning the current learning rate, read only when an alert fires.
        autostart: start the watchdog now (a custom loop); the Keras adapter passes False
            and starts it in `train_begin`.

    Thread safety: every method may be called from any thread; calls are serialised.
    """

    def __init__(
        self,
        notifier: Any,
        *,
        monitor: str = "loss",
        running_mean: bool = False,
        nonfinite: NonFiniteDetector | bool = True,
        spike: SpikeDetector | bool = True,
        divergence: DivergenceDetector | bool = True,
        val_anomaly: ValAnomalyDetector | bool = True,
        overfitting: OverfittingDetector | bool = False,
        plateau: PlateauDetector | None = None,
        thresholds: Iterable[ThresholdDetector] = (),
        hang_timeout_s: float | None = None,
        hang: HangMonitor | None = None,
        hang_interval_s: float = DEFAULT_INTERVAL_S,
        summary: Any = True,
        weights_check: Callable[[], bool] | None = None,
        weights: WeightCheckSchedule | None = None,
        on_nonfinite: str = "alert",
        stop_on_plateau: bool = False,
        lr: Callable[[], float | None] | None = None,
        autostart: bool = True,
    ) -> None:
        if notifier is None or not callable(getattr(notifier, "emit", None)):
            raise ConfigError("notifier", f"expected an alertcb.Notifier, got {notifier!r}")
        self.notifier = notifier
        run = getattr(notifier, "run", None)
        self.monitor = check_name("monitor", monitor)
        self.running_mean = bool(running_mean)
        self.nonfinite = _pick("nonfinite", nonfinite, NonFiniteDetector, monitor=monitor)
        self.spike = _pick("spike", spike, SpikeDetector, monitor=monitor)
        self.divergence = _pick("divergence", divergence, DivergenceDetector, monitor=monitor)
        self.val_anomaly = _pick("val_anomaly", val_anomaly, ValAnomalyDetector)
        self.overfitting = _pick("overfitting", overfitting, OverfittingDetector)
        self.plateau = instance("plateau", plateau, PlateauDetector)
        self.thresholds = [instance(f"thresholds[{i}]", r, ThresholdDetector) for i, r in enumerate(thresholds)]
        self._batch_rules = [rule for rule in self.thresholds if rule.level == "batch"]
        self.hang = hang_from(hang, hang_timeout_s)
        self.hang_interval_s = check_number("hang_interval_s", hang_interval_s, minimum=0, strict_minimum=True)
        if on_nonfinite not in POLICIES:
            raise ConfigError("on_nonfinite", f"expected 'alert', 'stop' or 'raise', got {on_nonfinite!r}")
        self.on_nonfinite = on_nonfinite
        self.stop_on_plateau = bool(stop_on_plateau)
        self.weights = instance("weights", weights, WeightCheckSchedule) or WeightCheckSchedule()
        self.weights_check = weights_check
        self.lr = lr
        self.tracker = _tracker(notifier, summary)
        for detector in self.detectors:
            if detector.run is None:
                detector.run = run
        self._decoder = RunningMeanDecoder()
        # One lock per batch: the watchdog and the summary tracker share the engine's.
        self._lock = threading.RLock()
        if self.hang is not None:
            self.hang.share_lock(self._lock)
        if self.tracker is not None and hasattr(self.tracker, "share_lock"):
            self.tracker.share_lock(self._lock)
        self._steps = StepCounter()
        self._position = hasattr(notifier, "last_position")
        self._job: Any = None
        self._epoch: int | None = None
        self._last_step = 0
        self._since_check = 0
        self._stop = False
        self._started = False
        self._batches = 0
        self._missing = MissingNames()
        if self.hang is not None and not hasattr(notifier, "scheduler"):
            raise ConfigError("notifier", "expected an alertcb.Notifier (the watchdog needs .scheduler)")
        if self.hang is not None and autostart:
            self.hang.start()
            self._schedule()

    @property
    def detectors(self) -> list[Any]:
        """The enabled detectors."""
        found = (self.nonfinite, self.spike, self.divergence, self.val_anomaly, self.overfitting, self.plateau)
        found += (self.hang, *self.thresholds)
        return [d for d in found if d is not None]

    @property
    def epoch(self) -> int:
        """The current 0-based epoch, as counted by `epoch_begin`."""
        return self._steps.epoch

    def train_begin(self, params: Mapping[str, Any] | None = None) -> None:
        """A (new) training run starts; ``params`` as Keras' ``callback.params`` (``epochs``, ``steps``)."""
        try:
            with self._lock:
                params = params if isinstance(params, Mapping) else {}
                steps = params.get("steps")
                steps = steps if isinstance(steps, int) and not isinstance(steps, bool) and steps > 0 else None
                self._decoder = RunningMeanDecoder(steps)
                self._steps = StepCounter(steps)
                if self._position:
                    self.notifier.last_position = (None, None)
                for detector in self.detectors:
                    if detector is not self.hang:
                        detector.reset()
                self.weights.reset()
                self._since_check = self._batches = 0
                self._last_step, self._epoch, self._stop = 0, None, False
                self._started = True
                if self.hang is not None:
                    self.hang.start()
                    self._schedule()
                if self.tracker is not None:
                    self.tracker.train_begin(dict(params))
        except Exception as exc:  # noqa: BLE001 - monitoring never breaks the training loop
            capture_internal_error("Monitor.train_begin", exc)

    def epoch_begin(self, epoch: int) -> None:
        """An epoch starts (0-based)."""
        with self._lock:
            self._steps.epoch_begin(epoch)
            self._epoch = epoch = self._steps.epoch
            self._decoder.reset(epoch)
            if self._position:
                self.notifier.last_position = (epoch, self.notifier.last_position[1])

    def batch_end(
        self,
        step: int | None,
        logs: Mapping[str, Any] | None,
        *,
        epoch: int | None = None,
        batch: int | None = None,
    ) -> list[Event]:
        """Take one batch's values (one pass over ``logs``); emits and returns the events it raised.

        Args:
            step: 0-based global batch index; None: counted by the engine from ``batch``
                and `epoch_begin` (as the Keras adapter does), or 0, 1, 2, ... without ``batch``.
            logs: name -> value (floats, numpy scalars, tensors; others are ignored).
            epoch: 0-based epoch, if the loop has epochs.
            batch: index of the batch within its epoch; needed with ``running_mean=True``
                (defaults to ``step``).

        Raises:
            NonFiniteError: with ``on_nonfinite="raise"``, after the alert was emitted.
        """
        events: list[Event | None] = []
        try:
            if not self._started:
                self.train_begin(None)
            hang, now = self.hang, 0.0
            if hang is not None:
                now = hang._clock()
            values: dict[str, float] = {}
            bad = False
            if logs:
                for key, value in logs.items():
                    number = value if type(value) is float else to_float(value)
                    if number is not None:
                        values[key] = number
                        if not isfinite(number):
                            bad = True
            with self._lock:
                if step is None:
                    step = self._steps.step(batch)
                self._last_step = step
                self._batches += 1
                if epoch is None:
                    epoch = self._epoch
                if hang is not None:
                    hang.beat_held(now, step, epoch)
                if self._position:
                    self.notifier.last_position = (epoch, step)
                nonfinite = self.nonfinite
                if nonfinite is not None and (bad or "train" in nonfinite._incidents):
                    events.append(nonfinite.observe(step, values, epoch=epoch, scope="train"))
                loss = values.get(self.monitor)
                batches, decoded = 1, True
                if loss is not None and self.running_mean:
                    chunk = self._decoder.decode(step if batch is None else batch, loss, epoch)
                    loss, batches = chunk if chunk is not None else (None, 0)
                    decoded = chunk is not None
                tracker = self.tracker
                if tracker is not None and decoded:
                    mono = tracker._mono
                    tracker.batch_end_held(step, loss, now if hang is not None and mono is hang._clock else mono())
                if loss is not None:
                    spike, divergence = self.spike, self.divergence
                    if spike is not None:
                        event = spike.update(step, loss, epoch=epoch, metrics=values, batches=batches)
                        if event is not None:
                            events.append(event)
                    if divergence is not None:
                        event = divergence.update(step, loss, epoch=epoch, metrics=values, batches=batches)
                        if event is not None:
                            events.append(event)
                for rule in self._batch_rules:
                    value = values.get(rule.monitor)
                    if value is None:
                        self._missing.report(rule.monitor, values, "batch")
                    events.append(rule.observe(value, step=step, epoch=epoch, metrics=values))
                if self.weights_check is not None and nonfinite is not None and self.weights.due():
                    if not nonfinite.active:
                        events.append(self._check_weights(step, epoch, values))
                    else:
                        self.weights.ran(0.0)
        except Exception as exc:  # noqa: BLE001 - monitoring never breaks the training loop
            capture_internal_error("Monitor.batch_end", exc)
        return self._finish(events) if events else []

    def epoch_end(
        self,
        epoch: int,
        logs: Mapping[str, Any] | None,
        *,
        step: int | None = None,
        lr: float | None = None,
    ) -> list[Event]:
        """Take one epoch's values (``val_*`` included). Epoch-level events carry ``step``
        (default: the last batch's global step)."""
        events: list[Event | None] = []
        try:
            values = {
                str(k): v for k, v in ((k, to_float(v)) for k, v in (logs or {}).items()) if v is not None
            }
            with self._lock:
                step = self._last_step if step is None else step
                if self.nonfinite is not None:
                    events.append(self.nonfinite.observe(step, values, epoch=epoch))
                if self.plateau is not None:
                    value = self._epoch_value(self.plateau.monitor, values)
                    events.append(self.plateau.observe(epoch, value, step=step, metrics=values))
                for rule in self.thresholds:
                    if rule.level == "epoch":
                        value = self._epoch_value(rule.monitor, values)
                        events.append(rule.observe(value, step=step, epoch=epoch, metrics=values))
                if self.val_anomaly is not None:
                    name = self.val_anomaly.monitor
                    if expects(name, values):
                        value = self._epoch_value(name, values)
                        events.append(self.val_anomaly.observe(epoch, value, step=step, metrics=values))
                if self.overfitting is not None:
                    if expects(self.overfitting.monitor, values):
                        self._epoch_value(self.overfitting.monitor, values)
                    events.append(self.overfitting.observe(epoch, values, step=step))
                tracker = self.tracker
                if tracker is not None:
                    if expects(tracker.monitor, values):
                        self._epoch_value(tracker.monitor, values)
                    tracker.epoch_end(epoch, values, lr=lr)
        except Exception as exc:  # noqa: BLE001
            capture_internal_error("Monitor.epoch_end", exc)
        return self._finish(events)

    def train_end(self, *, stopped_early: bool = False) -> list[Event]:
        """Training is over: a last weight check if batches ran since the previous one, the
        summary (if tracked), and the watchdog stops."""
        events: list[Event | None] = []
        try:
            with self._lock:
                if not self._started:
                    return []
                self._started = False
                nonfinite = self.nonfinite
                if self.weights_check is not None and nonfinite is not None and not nonfinite.active:
                    if self._since_check or self.weights._since:
                        events.append(self._check_weights(self._last_step, self._epoch, {}))
            if self.hang is not None:
                self.hang.stop()
                events.append(self.hang.check())
                self._unschedule()
            if self.tracker is not None:
                self.tracker.train_end(stopped_early=stopped_early)
        except Exception as exc:  # noqa: BLE001
            capture_internal_error("Monitor.train_end", exc)
        out = [e for e in events if e is not None]
        for event in out:
            self._emit(event)
        return out

    def observe(
        self, step: int, metrics: Mapping[str, Any], *, epoch: int | None = None, batch: int | None = None
    ) -> list[Event]:
        """Alias of `batch_end`."""
        return self.batch_end(step, metrics, epoch=epoch, batch=batch)

    def observe_epoch(self, epoch: int, metrics: Mapping[str, Any], *, step: int | None = None) -> list[Event]:
        """Alias of `epoch_end`."""
        return self.epoch_end(epoch, metrics, step=step)

    def close(self) -> None:
        """End the run if it is open (summary, watchdog). The notifier stays open."""
        if self._started and self._batches:
            self.train_end()
        if self.hang is not None:
            self.hang.stop()
            self._emit(self.hang.check())
        self._unschedule()

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_weights(self, step: int, epoch: int | None, values: Mapping[str, float]) -> Event | None:
        check = self.weights_check
        nonfinite = self.nonfinite
        if check is None or nonfinite is None:
            return None
        self._since_check = 0
        finite = self.weights.time(check)
        return nonfinite.check_weights(step, finite, epoch=epoch, metrics=values)

    def _epoch_value(self, name: str, values: Mapping[str, float]) -> float | None:
        value = values.get(name)
        if value is None:
            self._missing.report(name, values, "epoch")
        return value

    def _emit(self, event: Event | None) -> None:
        if event is not None:
            self.notifier.emit(event)
