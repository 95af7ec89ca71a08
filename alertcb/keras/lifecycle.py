"""`LifecycleAlert`: what Keras' own callbacks did — early stop, learning-rate changes, checkpoints.

It observes ``EarlyStopping``, ``ModelCheckpoint`` and ``ReduceLROnPlateau`` (and any
learning-rate schedule) without the user changing how they build them:

- At ``on_train_begin`` it finds the ``CallbackList`` that ``fit`` built (the caller's
  frame, no ``gc``) and appends a small tail callback to it, so it looks again *after*
  every other callback of each epoch: a checkpoint is on disk, ``EarlyStopping`` has
  decided, ``ReduceLROnPlateau`` has changed the rate. alertcb's `AlertEngine` ends
  training after the tail, so the summary's timeline holds the early stop.
- Without a ``CallbackList`` (a custom loop) it falls back to its own hooks: writes are
  found at the next ``on_epoch_begin``/``on_train_end``, an early stop from
  ``model.stop_training``.

Checkpoints are files that really changed (new, or mtime/size changed): with
``save_best_only`` most epochs write nothing and report nothing. Nothing is hashed on
the training thread; the registry (`alertcb.registry`) does that on the dispatcher's.
Events have severity info and their own kinds (``early_stop``, ``lr_change``,
``checkpoint``, ``started``): console, run dir, digest and summary, never a page by default.

Example:
    >>> callbacks = [ModelCheckpoint("best.keras", save_best_only=True),
    ...              EarlyStopping(patience=3, restore_best_weights=True),
    ...              ReduceLROnPlateau(patience=2)] + alertcb.keras.default_callbacks(notifier)  # doctest: +SKIP
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from types import FrameType
from typing import Any

from alertcb.detectors.plateau import infer_mode
from alertcb.errors import ConfigError
from alertcb.events import to_float
from alertcb.keras._base import AlertCallback
from alertcb.keras._compat import CallbackBase
from alertcb.keras._lifecycle_events import (
    checkpoint_event,
    early_stop_event,
    lr_change_event,
    lr_changed,
    started_event,
)
from alertcb.keras._lifecycle_files import CheckpointWatch
from alertcb.keras.weights import current_learning_rate

__all__ = ["LifecycleAlert"]

_FRAMES = 8  # how far up the stack the CallbackList may be


def _is(callback: Any, name: str) -> bool:
    return any(cls.__name__ == name for cls in type(callback).__mro__)


def _find_list(frame: FrameType | None, member: Any) -> Any:
    """The ``CallbackList`` calling us: a ``self`` up the stack whose ``callbacks`` holds ``member``."""
    for _ in range(_FRAMES):
        if frame is None:
            return None
        owner = frame.f_locals.get("self")
        callbacks = getattr(owner, "callbacks", None) if owner is not member else None
        if isinstance(callbacks, list) and any(cb is member for cb in callbacks):
            return owner
        frame = frame.f_back
    return None


def _flag(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(field, f"expected True or False, got {value!r}")
    return value


class _Tail(CallbackBase):
    """Appended last to ``fit``'s CallbackList: runs the owner's checks after every callback."""

    async_safe = True

    def __init__(self, owner: LifecycleAlert) -> None:
        super().__init__()
        self._supports_tf_logs = True
        self.owner = owner

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self.owner._guarded(self.owner._observe, epoch, logs)

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        self.owner._guarded(self.owner._end)


class _Watched:
    """One ``ModelCheckpoint`` and what was seen of it."""

    def __init__(self, callback: Any, since_ns: int) -> None:
        self.callback = callback
        self.name = type(callback).__name__
        self.watch = CheckpointWatch(str(callback.filepath), since_ns=since_ns)
        monitor = getattr(callback, "monitor", None)
        self.monitor = monitor if isinstance(monitor, str) and monitor else None
        mode = getattr(callback, "mode", None)
        self.mode = mode if mode in ("min", "max") else infer_mode(self.monitor or "loss")
        self.best_only = bool(getattr(callback, "save_best_only", False))
        self.best: float | None = None

    def is_best(self, value: float | None) -> bool:
        if value is None:
            return False
        if self.best_only:
            return True
        better = self.best is None or (value < self.best if self.mode == "min" else value > self.best)
        if better:
            self.best = value
        return better


class LifecycleAlert(AlertCallback):
    """Reports early stops, learning-rate changes and checkpoint writes of a ``fit`` (info events).

    Args:
        notifier: the `alertcb.Notifier`.
        lr_change_factor: report a learning-rate change when the rate moved by at least this
            factor (either way) since the last reported value (not the last epoch: a smooth
            cosine schedule reports a line every time it has moved that far). Defaults to 1.5.
        started: also emit a ``started`` event at train begin (run, host, worker, epochs ×
            steps, parameters, optimizer and learning rate, channel names). Defaults to False.
        early_stop: report ``EarlyStopping`` decisions. Defaults to True.
        lr_change: report learning-rate changes. Defaults to True.
        checkpoints: report checkpoint files written by ``ModelCheckpoint``. Defaults to True.
        verbose: 1 also logs each event. Defaults to 0.

    Raises:
        ConfigError: naming the field (``lr_change_factor``, ``started``...).

    Example:
        >>> model.fit(x, y, callbacks=[EarlyStopping(patience=2), LifecycleAlert(notifier)])  # doctest: +SKIP
    """

    def __init__(
        self,
        notifier: Any,
        *,
        lr_change_factor: float = 1.5,
        started: bool = False,
        early_stop: bool = True,
        lr_change: bool = True,
        checkpoints: bool = True,
        verbose: int = 0,
    ) -> None:
        super().__init__(notifier, verbose=verbose)
        factor = lr_change_factor
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor > 1 or factor == float("inf"):
            raise ConfigError("lr_change_factor", f"expected a number > 1 such as 1.5, got {lr_change_factor!r}")
        self.lr_change_factor = float(factor)
        self.started = _flag("started", started)
        self.early_stop = _flag("early_stop", early_stop)
        self.lr_change = _flag("lr_change", lr_change)
        self.checkpoints = _flag("checkpoints", checkpoints)
        self._list: Any = None
        self._tail: _Tail | None = None
        self._patched: list[Any] = []
        self._deferred: list[tuple[Any, Any]] = []
        self._reset()

    def _reset(self) -> None:
        self._stoppers: list[Any] = []
        self._lr_sources: list[str] = []
        self._watched: list[_Watched] = []
        self._lr_ref: float | None = None
        self._logs: dict[str, float] = {}
        self._seen_epoch = -1
        self._ended = False

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._restore_engines()
        with self._lock:
            self._begin_training()
            self._reset()
        self._list = _find_list(sys._getframe(1), self)
        self._guarded(self._setup)

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        with self._lock:
            self._begin_epoch(epoch)
            epoch = self._epoch
        if self._tail is None and epoch > 0:
            self._guarded(self._observe, epoch - 1, None)  # what the previous epoch's end wrote

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._guarded(self._remember, epoch, logs)
        if self._tail is None:
            self._guarded(self._observe, epoch, logs)

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        if self._tail is None:
            self._guarded(self._end)

    # ------------------------------------------------------------------ setup
    def _setup(self) -> None:
        callbacks = list(getattr(self._list, "callbacks", None) or [])
        since_ns = time.time_ns() - 1_000_000_000
        for cb in callbacks:
            if self.early_stop and _is(cb, "EarlyStopping"):
                self._stoppers.append(cb)
            elif self.checkpoints and _is(cb, "ModelCheckpoint") and isinstance(getattr(cb, "filepath", None), str):
                self._watched.append(_Watched(cb, since_ns))
            elif _is(cb, "ReduceLROnPlateau") or _is(cb, "LearningRateScheduler"):
                self._lr_sources.append(type(cb).__name__)
        self._lr_ref = current_learning_rate(getattr(self, "model", None))
        if self._list is not None:
            self._tail = _Tail(self)
            self._list.callbacks.append(self._tail)  # seen by this very loop too: harmless
            self._defer_engines(callbacks)
        if self.started:
            self._emit_started()

    def _defer_engines(self, callbacks: list[Any]) -> None:
        """alertcb's engines end training (the summary) after the tail, so it lists the early stop."""
        from alertcb.keras.engine import AlertEngine

        for cb in callbacks:
            if isinstance(cb, AlertEngine) and "on_train_end" not in vars(cb):
                setattr(cb, "on_train_end", self._deferring(cb))  # noqa: B010 - an instance override
                self._patched.append(cb)

    def _deferring(self, engine: Any) -> Any:
        original = type(engine).on_train_end

        def on_train_end(logs: Mapping[str, Any] | None = None) -> None:
            caller = _find_list(sys._getframe(1), engine)
            if self._tail is not None and caller is not None and caller is self._list:
                self._deferred.append((engine, logs))
                return
            vars(engine).pop("on_train_end", None)  # a stale patch (that fit raised): undo it
            original(engine, logs)

        return on_train_end

    def _restore_engines(self) -> None:
        for engine in self._patched:
            vars(engine).pop("on_train_end", None)
        self._patched = []

    # ------------------------------------------------------------------ observing
    def _remember(self, epoch: int, logs: Mapping[str, Any] | None) -> None:
        values = {str(k): to_float(v) for k, v in (logs or {}).items()}
        with self._lock:
            self._logs = {k: v for k, v in values.items() if v is not None}
            self._seen_epoch = epoch

    def _step_at_end(self, epoch: int) -> int | None:
        steps = self._steps_per_epoch
        return (epoch + 1) * steps - 1 if steps else None

    def _observe(self, epoch: int, logs: Mapping[str, Any] | None) -> None:
        """Checkpoints written and learning-rate changes since the last look (idempotent)."""
        if logs is not None:
            self._remember(epoch, logs)
        with self._lock:
            values = dict(self._logs)
        for watched in self._watched:
            value = values.get(watched.monitor) if watched.monitor else None
            for w in watched.watch.poll(epoch, values):
                self._emit(
                    checkpoint_event(
                        run=self.run, callback=watched.name, path=w.path, epoch=epoch, monitor=watched.monitor,
                        value=value, size_bytes=w.size_bytes, mtime_ns=w.mtime_ns,
                        is_best=watched.is_best(value), step=self._step_at_end(epoch),
                    )
                )
        if self.lr_change:
            self._check_lr(epoch)

    def _check_lr(self, epoch: int) -> None:
        model = getattr(self, "model", None)
        new = current_learning_rate(model)
        old = self._lr_ref
        if old is None:
            self._lr_ref = new
            return
        if new is None or not lr_changed(old, new, self.lr_change_factor):
            return
        self._lr_ref = new
        source = _schedule_name(model) or (" / ".join(self._lr_sources) if self._lr_sources else None)
        self._emit(
            lr_change_event(old=old, new=new, source=source, epoch=epoch, step=self._step_at_end(epoch),
                            factor=self.lr_change_factor)
        )

    def _end(self) -> None:
        """At the very end of ``fit``: last writes, the early stop (weights restored by now), the summary."""
        try:
            if self._ended:
                return
            self._ended = True
            with self._lock:
                epoch = self._seen_epoch if self._seen_epoch >= 0 else self._epoch
                self._training = False
            self._observe(epoch, None)
            if self.early_stop:
                self._report_stop(epoch)
        finally:
            self._release()

    def _report_stop(self, last_epoch: int) -> None:
        model = getattr(self, "model", None)
        with self._lock:
            values = dict(self._logs)
        reported = False
        for es in self._stoppers:
            stopped = getattr(es, "stopped_epoch", 0)
            if not isinstance(stopped, int) or stopped <= 0:
                continue
            monitor = getattr(es, "monitor", None)
            best_epoch = getattr(es, "best_epoch", None)
            restore = bool(getattr(es, "restore_best_weights", False))
            self._emit(
                early_stop_event(
                    callback=type(es).__name__, epoch=stopped, monitor=monitor,
                    value=values.get(monitor) if isinstance(monitor, str) else None,
                    best_value=to_float(getattr(es, "best", None)),
                    best_epoch=best_epoch if isinstance(best_epoch, int) else None,
                    restored=restore and getattr(es, "best_weights", None) is not None,
                    step=self._step_at_end(stopped),
                )
            )
            reported = True
        if not reported and self._list is None and bool(getattr(model, "stop_training", False)):
            planned = (getattr(self, "params", None) or {}).get("epochs")
            if not isinstance(planned, int) or last_epoch + 1 < planned:
                self._emit(
                    early_stop_event(
                        callback="a callback", epoch=last_epoch, monitor=None, value=None, best_value=None,
                        best_epoch=None, restored=None, step=self._step_at_end(last_epoch),
                    )
                )

    def _release(self) -> None:
        """Take the tail out of the list, give the engines their deferred ``on_train_end``."""
        tail, self._tail = self._tail, None
        callbacks = getattr(self._list, "callbacks", None)
        if tail is not None and isinstance(callbacks, list) and callbacks and callbacks[-1] is tail:
            callbacks.pop()  # the tail is running: the loop ends here, nothing is skipped
        self._restore_engines()
        deferred, self._deferred = self._deferred, []
        for engine, logs in deferred:
            try:
                engine.on_train_end(logs)
            except Exception as exc:  # noqa: BLE001 - never abort fit's end
                self._internal_error("deferred on_train_end", exc)

    # ------------------------------------------------------------------ started
    def _emit_started(self) -> None:
        model = getattr(self, "model", None)
        params = getattr(self, "params", None) or {}
        try:
            parameters: int | None = int(model.count_params()) if model is not None else None
        except Exception:  # noqa: BLE001 - an unbuilt model
            parameters = None
        optimizer = getattr(model, "optimizer", None)
        channels = [str(getattr(c, "name", c)) for c in (getattr(self.notifier, "channels", None) or [])]
        epochs, steps = params.get("epochs"), params.get("steps")
        self._emit(
            started_event(
                run=self.run, epochs=epochs if isinstance(epochs, int) else None,
                steps=steps if isinstance(steps, int) else None, parameters=parameters,
                optimizer=type(optimizer).__name__ if optimizer is not None else None,
                learning_rate=self._lr_ref, channels=channels,
            )
        )

    def _guarded(self, fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001 - a monitoring callback never aborts training
            self._internal_error(getattr(fn, "__name__", "hook"), exc)


def _schedule_name(model: Any) -> str | None:
    """``"schedule (CosineDecay)"`` when the optimizer's rate is a schedule, else None."""
    optimizer = getattr(model, "optimizer", None)
    for attr in ("_learning_rate", "learning_rate"):
        lr = getattr(optimizer, attr, None)
        if lr is not None and callable(lr) and not hasattr(lr, "numpy"):
            return f"schedule ({type(lr).__name__})"
    return None
