"""`Monitor`: the detectors for a custom training loop, in two calls.

Example:
    >>> notifier = alertcb.Notifier(run_name="exp42")  # doctest: +SKIP
    >>> monitor = alertcb.detectors.Monitor(notifier, hang_timeout_s=600)  # doctest: +SKIP
    >>> for step, batch in enumerate(data):  # doctest: +SKIP
    ...     loss = train_step(batch)
    ...     monitor.observe(step, {"loss": float(loss)}, epoch=epoch)
    >>> monitor.observe_epoch(epoch, {"loss": 0.31, "val_loss": 0.35})  # doctest: +SKIP
    >>> monitor.close()  # doctest: +SKIP
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from alertcb._guard import capture_internal_error
from alertcb.detectors.base import check_name
from alertcb.detectors.divergence import DivergenceDetector
from alertcb.detectors.hang import DEFAULT_INTERVAL_S, HangMonitor, schedule_hang_check
from alertcb.detectors.nonfinite import NonFiniteDetector
from alertcb.detectors.plateau import PlateauDetector
from alertcb.detectors.spike import RunningMeanDecoder, SpikeDetector
from alertcb.detectors.threshold import ThresholdDetector
from alertcb.errors import ConfigError
from alertcb.events import Event, to_float
from alertcb.validate import check_number


class Monitor:
    """Runs the detectors on values from any training loop and emits their events.

    Args:
        notifier: the `alertcb.Notifier` (or anything with ``emit(event)`` and ``run``).
        monitor: the loss key in the dicts passed to `observe`. Defaults to ``"loss"``.
        running_mean: True when the values passed to `observe` are epoch running means
            (as Keras reports them) rather than each batch's own value. Defaults to False.
        nonfinite: a `NonFiniteDetector`, True (default settings) or False.
        spike: a `SpikeDetector`, True or False.
        divergence: a `DivergenceDetector`, True or False.
        plateau: a `PlateauDetector` for `observe_epoch`, or None (default).
        thresholds: `ThresholdDetector` objects; ``level="batch"`` ones see `observe`,
            the others `observe_epoch`.
        hang_timeout_s: start a hang watchdog with this fixed timeout; None (default) for
            no watchdog, or pass ``hang``.
        hang: a configured `HangMonitor` (adaptive timeouts), or None.
        hang_interval_s: how often the watchdog checks. Defaults to 5.

    Thread safety: `observe` may be called from any thread; calls are serialised.
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
        plateau: PlateauDetector | None = None,
        thresholds: Iterable[ThresholdDetector] = (),
        hang_timeout_s: float | None = None,
        hang: HangMonitor | None = None,
        hang_interval_s: float = DEFAULT_INTERVAL_S,
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
        if plateau is not None and not isinstance(plateau, PlateauDetector):
            raise ConfigError("plateau", f"expected a PlateauDetector or None, got {plateau!r}")
        self.plateau = plateau
        self.thresholds = list(thresholds)
        for i, rule in enumerate(self.thresholds):
            if not isinstance(rule, ThresholdDetector):
                raise ConfigError(f"thresholds[{i}]", f"expected a ThresholdDetector, got {rule!r}")
        if hang is not None and hang_timeout_s is not None:
            raise ConfigError("hang_timeout_s", "pass either hang_timeout_s or hang, not both")
        if hang is None and hang_timeout_s is not None:
            hang = HangMonitor(
                timeout_s=check_number("hang_timeout_s", hang_timeout_s, minimum=0, strict_minimum=True)
            )
        self.hang = hang
        for detector in (
            self.nonfinite,
            self.spike,
            self.divergence,
            self.plateau,
            self.hang,
            *self.thresholds,
        ):
            if detector is not None and detector.run is None:
                detector.run = run
        self._decoder = RunningMeanDecoder()
        self._lock = threading.Lock()
        self._job: Any = None
        if self.hang is not None:
            self.hang.start()
            self._job = schedule_hang_check(
                notifier.scheduler,
                self.hang,
                self._emit,
                interval_s=check_number("hang_interval_s", hang_interval_s, minimum=0, strict_minimum=True),
            )

    def observe(
        self,
        step: int,
        metrics: Mapping[str, Any],
        *,
        epoch: int | None = None,
        batch: int | None = None,
    ) -> list[Event]:
        """Take one batch's values; emits and returns the events it raised.

        Args:
            step: 0-based global batch index.
            metrics: name -> value (floats, numpy scalars, tensors; others are ignored).
            epoch: 0-based epoch, if the loop has epochs.
            batch: index of the batch within its epoch; needed with ``running_mean=True``
                (defaults to ``step``).
        """
        events: list[Event | None] = []
        try:
            if self.hang is not None:
                self.hang.beat(step, epoch)
            values = {k: v for k, v in ((str(k), to_float(v)) for k, v in metrics.items()) if v is not None}
            with self._lock:
                if self.nonfinite is not None:
                    events.append(self.nonfinite.observe(step, values, epoch=epoch, scope="train"))
                loss = values.get(self.monitor)
                if loss is not None:
                    batches = 1
                    if self.running_mean:
                        decoded = self._decoder.decode(step if batch is None else batch, loss, epoch)
                        loss, batches = decoded if decoded is not None else (None, 0)
                    if loss is not None:
                        for detector in (self.spike, self.divergence):
                            if detector is not None:
                                events.append(
                                    detector.update(step, loss, epoch=epoch, metrics=values, batches=batches)
                                )
                for rule in self.thresholds:
                    if rule.level == "batch":
                        events.append(
                            rule.observe(values.get(rule.monitor), step=step, epoch=epoch, metrics=values)
                        )
        except Exception as exc:  # noqa: BLE001 - monitoring never breaks the training loop
            capture_internal_error("Monitor.observe", exc)
        return self._emit_all(events)

    def observe_epoch(
        self, epoch: int, metrics: Mapping[str, Any], *, step: int | None = None
    ) -> list[Event]:
        """Take one epoch's values (``val_*`` included): plateau, epoch thresholds, NaN in validation."""
        events: list[Event | None] = []
        try:
            values = {k: v for k, v in ((str(k), to_float(v)) for k, v in metrics.items()) if v is not None}
            with self._lock:
                if self.nonfinite is not None:
                    events.append(self.nonfinite.observe(step, values, epoch=epoch))
                if self.plateau is not None:
                    events.append(
                        self.plateau.observe(
                            epoch, values.get(self.plateau.monitor), step=step, metrics=values
                        )
                    )
                for rule in self.thresholds:
                    if rule.level == "epoch":
                        events.append(
                            rule.observe(values.get(rule.monitor), step=step, epoch=epoch, metrics=values)
                        )
        except Exception as exc:  # noqa: BLE001
            capture_internal_error("Monitor.observe_epoch", exc)
        return self._emit_all(events)

    def phase(self, name: str) -> None:
        """Tell the hang watchdog about a slow phase: ``"validation"``, ``"checkpoint"``, ``"train"``."""
        if self.hang is not None:
            self.hang.phase(name)

    @property
    def should_stop(self) -> bool:
        """True once the plateau detector says training would stop (EarlyStopping's decision)."""
        return self.plateau is not None and self.plateau.should_stop

    def close(self) -> None:
        """Stop the hang watchdog (resolving an open hang). The notifier stays open."""
        if self.hang is not None:
            self.hang.stop()
            self._emit(self.hang.check())
        job, self._job = self._job, None
        if job is not None:
            try:
                job.remove()
            except Exception:  # noqa: BLE001 - the scheduler may already be shut down
                pass

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _emit(self, event: Event | None) -> None:
        if event is not None:
            self.notifier.emit(event)

    def _emit_all(self, events: list[Event | None]) -> list[Event]:
        out = [e for e in events if e is not None]
        for event in out:
            self._emit(event)
        return out


def _pick(field: str, value: Any, cls: type[Any], **defaults: Any) -> Any:
    if value is True:
        return cls(**defaults)
    if value is False or value is None:
        return None
    if isinstance(value, cls):
        return value
    raise ConfigError(field, f"expected True, False or a {cls.__name__}, got {value!r}")
