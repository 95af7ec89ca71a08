"""The end-of-training summary: what happened, in one event.

`SummaryTracker` is framework-neutral (no Keras import): an adapter feeds it
``train_begin`` / ``batch_end`` / ``epoch_end`` / ``train_end`` and it emits one
``kind="summary"`` `Event` whose ``details`` are ``Summary.to_dict()`` (see
`alertcb.report.summary` and docs/schema.md). It also listens to every event its
notifier emits: alerts are counted and marked for the picture, lifecycle events
(``early_stop``, ``lr_change``, ``checkpoint``) go into the timeline, and a ``crash``
or ``interrupted`` event finishes the summary at once.

The status rules are in `alertcb.report.status.decide_status`.

Epoch numbers in the details are 0-based indices like `Event.epoch`; templates
show ``epoch + 1`` so numbers match Keras's ``Epoch 7/10`` progress bar.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from alertcb.errors import ConfigError
from alertcb.events import Event, RunInfo, json_safe, to_float
from alertcb.report._alerts import AlertLog
from alertcb.report._batches import BatchLosses
from alertcb.report._coerce import as_int
from alertcb.report._epochs import EpochLog
from alertcb.report._pace import Pace
from alertcb.report.parts import BatchLoss, Delivery, EpochRow, LearningRate, Monitor
from alertcb.report.status import NOT_ALERTS, STATUS_SEVERITY, decide_status
from alertcb.report.summary import Summary
from alertcb.report.timeline import LIFECYCLE_KINDS, TimelineEntry

logger = logging.getLogger("alertcb")

SUMMARY_TITLE = "training summary"
__all__ = ["NOT_ALERTS", "SUMMARY_TITLE", "SummaryTracker"]


class SummaryTracker:
    """Collects what a training run did and emits the end-of-training summary.

    Framework-neutral: a Keras callback (``alertcb.keras.TrainingSummary``) forwards
    its hooks here. Thread-safe; ``batch_end`` is O(1) (amortised) and allocation-light.
    Bad values (None, NaN, strings) are skipped, never raised on.

    Args:
        notifier: the `Notifier` (anything with ``emit``; ``add_listener``, ``stats``
            and ``run`` are used when present).
        monitor: the metric whose best value the summary reports. Defaults to
            ``"val_loss"``; when the run has no validation, ``"loss"`` is used.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (default: ``max`` for names with
            ``acc``/``auc``/``precision``/``recall``/``f1``/``iou``, else ``min``).
        keep_batch_losses: at most this many points of the per-batch loss are kept
            (averaged into ever-wider buckets as training goes on). 0 keeps none.
            Defaults to 2000.

    Example:
        >>> tracker = SummaryTracker(notifier, monitor="val_loss")  # doctest: +SKIP
        >>> tracker.train_begin({"epochs": 10, "steps": 100})  # doctest: +SKIP
        >>> tracker.epoch_end(0, {"loss": 0.5, "val_loss": 0.6})  # doctest: +SKIP
        >>> tracker.train_end().details["status"]  # doctest: +SKIP
        'completed'
    """

    def __init__(
        self,
        notifier: Any,
        monitor: str = "val_loss",
        mode: str = "auto",
        keep_batch_losses: int = 2000,
    ) -> None:
        if not isinstance(monitor, str) or not monitor:
            raise ConfigError("monitor", f"expected a metric name like 'val_loss', got {monitor!r}")
        if mode not in ("auto", "min", "max"):
            raise ConfigError("mode", f"expected 'auto', 'min' or 'max', got {mode!r}")
        if (
            isinstance(keep_batch_losses, bool)
            or not isinstance(keep_batch_losses, int)
            or keep_batch_losses < 0
        ):
            raise ConfigError("keep_batch_losses", f"expected an int >= 0, got {keep_batch_losses!r}")
        self.notifier = notifier
        self.monitor = monitor
        self.mode = mode
        self.keep_batch_losses = keep_batch_losses
        self._wall: Callable[[], float] = time.time
        self._mono: Callable[[], float] = time.monotonic
        self._lock = threading.RLock()
        self._reset()
        add_listener = getattr(notifier, "add_listener", None)
        if callable(add_listener):
            add_listener(self._on_event)
        else:
            logger.debug("alertcb: %r has no add_listener(); alerts will not be counted", notifier)

    # ------------------------------------------------------------------ state
    def _reset(self) -> None:
        self._active = False
        self._finished = False
        self._start_wall: float | None = None
        self._start_mono: float | None = None
        self._epochs_planned: int | None = None
        self._steps_per_epoch: int | None = None
        self._pace = Pace()
        self._last_loss: float | None = None
        self._batches = BatchLosses(self.keep_batch_losses)
        self._last_epoch_mono: float | None = None
        self._epochs = EpochLog(self.monitor, self.mode)
        self._alerts = AlertLog()

    # ------------------------------------------------------------------ hooks
    def train_begin(self, params: Mapping[str, Any] | None = None) -> None:
        """Training starts. ``params`` is Keras's ``self.params`` (``epochs``, ``steps``).

        Calling it again after `train_end` starts a fresh summary (a second ``fit``).
        """
        with self._lock:
            if self._finished or self._active:
                self._reset()
            self._active = True
            self._start_wall = self._wall()
            self._start_mono = self._mono()
            self._last_epoch_mono = self._start_mono
            params = dict(params or {}) if isinstance(params, Mapping) else {}
            epochs = as_int(params.get("epochs"))
            steps = as_int(params.get("steps"))
            self._epochs_planned = epochs if epochs is not None and epochs > 0 else None
            self._steps_per_epoch = steps if steps is not None and steps > 0 else None

    def batch_end(self, step: int, loss: float | None) -> None:
        """One training batch ended: ``step`` is the 0-based global batch index.

        O(1) amortised (see `alertcb.report._batches.BatchLosses`).
        """
        now = self._mono()
        with self._lock:
            self.batch_end_held(step, loss, now)

    def share_lock(self, lock: Any) -> None:
        """Guard this tracker with ``lock`` (an ``RLock``; `Monitor` passes its own, one lock per batch)."""
        self._lock = lock

    def batch_end_held(self, step: int, loss: float | None, now: float) -> None:
        """`batch_end` for a caller already holding this tracker's lock (see `share_lock`)."""
        global_step = self._pace.batch(step, now)
        value = loss if type(loss) is float else to_float(loss)
        self._last_loss = value
        self._batches.add(global_step, value)

    def epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None, lr: float | None = None) -> None:
        """An epoch ended with ``logs`` (Keras epoch logs, ``val_*`` included).

        Args:
            epoch: 0-based epoch index.
            logs: metric values; non-numeric ones are ignored.
            lr: the learning rate in use, if known (else ``logs["learning_rate"]``/``["lr"]``).
        """
        now_mono = self._mono()
        now_wall = self._wall()
        with self._lock:
            if not self._active and not self._finished:
                # epoch_end without train_begin: start implicitly.
                self._active = True
                self._start_wall = now_wall
                self._start_mono = now_mono
                self._last_epoch_mono = now_mono
            start = self._last_epoch_mono if self._last_epoch_mono is not None else now_mono
            self._last_epoch_mono = now_mono
            self._epochs.add(epoch, logs, lr, time=now_wall, duration=max(0.0, now_mono - start))
            self._pace.epoch_batches = 0

    # ------------------------------------------------------------------ listener
    def _on_event(self, event: Event) -> None:
        """Called synchronously for every event the notifier emits."""
        if not isinstance(event, Event) or event.kind in NOT_ALERTS:
            return
        with self._lock:
            step = self._global_step(event)
            if event.kind in LIFECYCLE_KINDS:
                self._alerts.lifecycle(event, step)
                return
            finish = self._alerts.alert(event, step)
            if not (self._active and not self._finished):
                finish = None
        if finish is not None:
            self.train_end(finish)

    def _global_step(self, event: Event) -> int | None:
        """The global batch at which ``event`` fired.

        Epoch-level events (plateau, threshold, lifecycle) may carry no step or a step
        that lies before their epoch (``step 0`` from older detectors): while training
        runs, the tracker's own last step is used instead, so their marker is drawn
        where they fired, not at x=0.
        """
        step = event.step if type(event.step) is int else None
        last = self._pace.last_step
        if not self._active or last < 0:
            return step
        spe = self._steps_per_epoch
        if step is None or (event.epoch is not None and spe and step < event.epoch * spe):
            return last
        return step

    def timeline_since(self, index: int) -> tuple[int, list[TimelineEntry]]:
        """``(count, entries)``: the lifecycle entries after the first ``index`` (for digests)."""
        with self._lock:
            timeline = self._alerts.timeline
            return len(timeline), list(timeline[max(0, index) :])

    # ------------------------------------------------------------------ snapshots
    def progress(self) -> dict[str, Any]:
        """A cheap snapshot of where training is (for `ProgressDigest`).

        Returns:
            A dict: ``running``, ``epoch`` (0-based epoch in progress),
            ``epochs_done``, ``epochs_planned``, ``steps_done``, ``steps_planned``,
            ``elapsed_s``, ``step_time_s``, ``epoch_time_s``, ``eta_s``, ``metrics``
            (last epoch logs), ``batch_loss``, ``monitor`` (name, best epoch/value),
            ``alerts_total``, ``alerts_by_kind``, ``timeline_total`` (lifecycle entries
            so far, see `timeline_since`), ``start``, ``time``.
        """
        now_mono = self._mono()
        with self._lock:
            elapsed = now_mono - self._start_mono if self._start_mono is not None else None
            step_time = self._pace.step_time()
            epoch_time = self._epochs.epoch_time()
            steps_planned = (
                self._epochs_planned * self._steps_per_epoch
                if self._epochs_planned is not None and self._steps_per_epoch is not None
                else None
            )
            name, best_epoch, best_value = self._epochs.best()
            epochs_done = self._epochs.done
            return {
                "running": self._active and not self._finished,
                "epoch": epochs_done,
                "epochs_done": epochs_done,
                "epochs_planned": self._epochs_planned,
                "steps_done": self._pace.steps_seen,
                "steps_per_epoch": self._steps_per_epoch,
                "steps_planned": steps_planned,
                "epoch_batches": self._pace.epoch_batches,
                "elapsed_s": elapsed,
                "step_time_s": step_time,
                "epoch_time_s": epoch_time,
                "eta_s": 0.0
                if self._finished
                else self._pace.eta(
                    epochs_planned=self._epochs_planned,
                    epochs_done=epochs_done,
                    steps_per_epoch=self._steps_per_epoch,
                    epoch_time=epoch_time,
                ),
                "metrics": dict(self._epochs.last_logs),
                "batch_loss": self._last_loss,
                "monitor": {
                    "name": name,
                    "mode": self._epochs.mode_for(name),
                    "best_epoch": best_epoch,
                    "best_value": best_value,
                },
                "alerts_total": self._alerts.total,
                "alerts_by_kind": dict(self._alerts.by_kind),
                "timeline_total": len(self._alerts.timeline),
                "start": self._start_wall,
                "time": self._wall(),
            }

    # ------------------------------------------------------------------ the end
    def train_end(self, status: str = "completed", *, stopped_early: bool = False) -> Event | None:
        """Training ended: build the summary event, emit it, and return it.

        Idempotent: only the first call (or the crash/interrupt listener) emits;
        later calls return None.

        Args:
            status: ``"completed"`` (default), ``"crashed"``, ``"interrupted"``,
                ``"diverged"`` or ``"stopped_early"``. The worst of this and what
                the tracker saw wins (see the module docstring).
            stopped_early: training stopped before the planned epochs.
        """
        with self._lock:
            if self._finished:
                return None
            self._finished = True
            self._active = False
            event = self._build(status, stopped_early=stopped_early)
        emit = getattr(self.notifier, "emit", None)
        if callable(emit):
            emit(event)
        return event

    def build_event(self, status: str = "completed", *, stopped_early: bool = False) -> Event:
        """Build the summary event as it would be now, without emitting or finishing."""
        with self._lock:
            return self._build(status, stopped_early=stopped_early)

    def summary(self, status: str = "completed", *, stopped_early: bool = False) -> Summary:
        """The typed `Summary` as it would be now (nothing emitted, nothing finished)."""
        with self._lock:
            return self._summary(status, stopped_early)

    def _summary(self, status: Any, stopped_early: bool) -> Summary:
        alerts = self._alerts
        final_status, reason = decide_status(
            status,
            stopped_early=bool(stopped_early) or alerts.early_stop_seen,
            error=alerts.error,
            firing=list(alerts.firing.values()),
            last_logs=self._epochs.last_logs,
            monitor=self._epochs.monitor_name(),
        )
        now_mono = self._mono()
        run = getattr(self.notifier, "run", None)
        run_info = run if isinstance(run, RunInfo) else None
        epochs = self._epochs
        name, best_epoch, best_value = epochs.best()
        delivery: Any = {}
        stats = getattr(self.notifier, "stats", None)
        if callable(stats):
            try:
                delivery = stats()
            except Exception as exc:  # noqa: BLE001 - stats are optional in a summary
                logger.debug("alertcb: notifier.stats() failed: %s", exc)
        run_dir = getattr(self.notifier, "run_dir", None)
        run_dir_path = getattr(run_dir, "path", run_dir)
        steps, values = self._batches.series()
        planned, spe = self._epochs_planned, self._steps_per_epoch
        last = epochs.last_logs
        return Summary(
            status=final_status,
            status_reason=reason,
            run_name=run_info.name if run_info else "",
            host=run_info.host if run_info else "",
            worker=(run_info.worker or "") if run_info else "",
            job=(run_info.job or "") if run_info else "",
            run_dir=str(run_dir_path) if run_dir_path is not None else "",
            start=self._start_wall,
            end=self._wall(),
            duration_s=now_mono - self._start_mono if self._start_mono is not None else None,
            epochs_done=epochs.done,
            epochs_planned=planned,
            steps_done=self._pace.steps_seen,
            steps_per_epoch=spe,
            steps_planned=planned * spe if planned is not None and spe is not None else None,
            step_time_s=self._pace.step_time(),
            epoch_time_s=epochs.epoch_time(),
            monitor=Monitor(name, self.monitor, epochs.mode_for(name), best_epoch, best_value),
            final_train={k: v for k, v in last.items() if not k.startswith("val_")},
            final_val={k: v for k, v in last.items() if k.startswith("val_")},
            metric_names=list(epochs.columns),
            epochs=[
                EpochRow(r["epoch"], r["time"], r["duration_s"], r["lr"], dict(r["metrics"]), r["epoch"] == best_epoch)
                for r in epochs.rows
            ],
            epochs_thinned=epochs.thinned,
            lr=LearningRate(epochs.lr_first, epochs.lr_last) if epochs.lr_last is not None else None,
            alerts_total=alerts.total,
            alerts_by_kind=alerts.by_kind_sorted(),
            alerts_first=alerts.first(),
            alerts_firing=alerts.still_firing(),
            markers=list(alerts.markers),
            timeline=list(alerts.timeline),
            error=alerts.error_info(),
            delivery=Delivery(dict(delivery) if isinstance(delivery, Mapping) else {}),
            batch_loss=BatchLoss(self._batches.stride, steps, values),
        )

    def _build(self, status: Any, *, stopped_early: bool) -> Event:
        summary = self._summary(status, stopped_early)
        return Event(
            kind="summary",
            title=SUMMARY_TITLE,
            message=summary.message,
            severity=STATUS_SEVERITY.get(summary.status, STATUS_SEVERITY["incomplete"]),
            epoch=self._epochs.last_epoch,
            step=self._pace.last_step if self._pace.last_step >= 0 else None,
            metrics=self._epochs.last_logs,
            details=json_safe(summary.to_dict()),
            time=summary.end if summary.end is not None else self._wall(),
        )
