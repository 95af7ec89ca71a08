"""The shared plumbing of alertcb's Keras callbacks, written once for both flavours.

Every callback subclasses `AlertCallback`, itself a subclass of the selected flavour's
``Callback`` (see `alertcb.keras._compat`). Hooks hold a lock (Keras 3 may call batch
hooks from a thread pool, concurrently and out of order, when every callback declares
``async_safe``), convert only the log values they need with `alertcb.events.to_float`,
and hand events to ``notifier.emit()``. An internal error is logged and swallowed: a
monitoring callback never aborts training (except ``on_nonfinite="raise"``, on purpose).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from alertcb._guard import capture_internal_error
from alertcb.errors import ConfigError
from alertcb.events import Event, to_float
from alertcb.keras._compat import CallbackBase

logger = logging.getLogger("alertcb")


def check_notifier(notifier: Any) -> Any:
    if notifier is None or not callable(getattr(notifier, "emit", None)):
        raise ConfigError(
            "notifier", f"expected an alertcb.Notifier (anything with .emit(event)), got {notifier!r}"
        )
    return notifier


def check_verbose(verbose: Any) -> int:
    if isinstance(verbose, bool) or not isinstance(verbose, int) or verbose < 0:
        raise ConfigError("verbose", f"expected 0 or 1, got {verbose!r}")
    return verbose


class AlertCallback(CallbackBase):
    """Base of alertcb's callbacks: notifier, lock, epoch and global step bookkeeping.

    Args:
        notifier: the `alertcb.Notifier` (anything with ``emit(event)`` and ``run``).
        verbose: 1 also logs each alert through the ``alertcb`` logger. Defaults to 0.
    """

    #: Safe to call from Keras 3's callback thread pool (state is guarded by a lock).
    async_safe = True

    def __init__(self, notifier: Any, *, verbose: int = 0) -> None:
        super().__init__()
        self.notifier = check_notifier(notifier)
        self.verbose = check_verbose(verbose)
        # tf_keras: accept tensors in logs, so a callback list made only of
        # callbacks like ours skips the per-step device-to-host conversion.
        self._supports_tf_logs = True
        self._lock = threading.Lock()
        self._epoch = 0
        self._steps_per_epoch: int | None = None
        self._counted_offset = 0
        self._counted_max = -1
        self._training = False
        self._last_step = 0
        # Where training is, for the notifier's crash/SIGTERM alerts (`Notifier.last_position`).
        self._tracks_position = hasattr(notifier, "last_position")

    # --- bookkeeping shared by the callbacks ------------------------------------------------

    @property
    def run(self) -> Any:
        return getattr(self.notifier, "run", None)

    def _begin_training(self) -> None:
        params = getattr(self, "params", None) or {}
        steps = params.get("steps") if isinstance(params, Mapping) else None
        self._steps_per_epoch = steps if isinstance(steps, int) and steps > 0 else None
        self._counted_offset = 0
        self._counted_max = -1
        self._epoch = 0
        self._last_step = 0
        self._training = True
        if self._tracks_position:
            self.notifier.last_position = (None, None)

    def _begin_epoch(self, epoch: int) -> None:
        if self._counted_max >= 0:
            self._counted_offset += self._counted_max + 1
            self._counted_max = -1
        self._epoch = epoch if isinstance(epoch, int) else self._epoch + 1
        if self._tracks_position:
            self.notifier.last_position = (self._epoch, self.notifier.last_position[1])

    def _global_step(self, batch: int) -> int:
        """0-based global batch index of ``batch`` in the current epoch."""
        steps = self._steps_per_epoch
        if steps is not None:
            step = self._epoch * steps + min(batch, steps - 1)
        else:
            if batch > self._counted_max:
                self._counted_max = batch
            step = self._counted_offset + batch
        self._last_step = step
        if self._tracks_position:
            self.notifier.last_position = (self._epoch, step)
        return step

    def _emit(self, event: Event | None) -> None:
        if event is None:
            return
        try:
            self.notifier.emit(event)
        except Exception as exc:  # noqa: BLE001 - emit never raises, but be sure
            capture_internal_error(f"{type(self).__name__}.emit", exc)
        if self.verbose:
            logger.warning("%s: %s", event.title, event.message.split("\n", 1)[0])

    def _internal_error(self, where: str, exc: BaseException) -> None:
        capture_internal_error(f"{type(self).__name__}.{where}", exc)

    @staticmethod
    def _value(logs: Mapping[str, Any] | None, key: str) -> float | None:
        if not logs:
            return None
        try:
            value = logs.get(key)
        except Exception:  # noqa: BLE001 - an exotic logs object
            return None
        if value is None:
            return None
        if type(value) is float:
            return value
        return to_float(value)

    def _stop_training(self) -> None:
        model = getattr(self, "model", None)
        if model is not None:
            model.stop_training = True
