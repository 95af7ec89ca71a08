"""The end-of-training summary: what happened, in one event.

`SummaryTracker` is framework-neutral (no Keras import): an adapter feeds it
``train_begin`` / ``batch_end`` / ``epoch_end`` / ``train_end`` and it emits one
``kind="summary"`` `Event` whose ``details`` hold everything the reports need
(schema ``alertcb.report.tracker/1``, see docs/reports.md). It also listens to every
event its notifier emits, to count the alerts raised and to finish itself when
training ends badly (a ``crash`` or ``interrupted`` event).

Status rules (the worst wins, in this order)::

    crashed > interrupted > diverged > stopped_early > completed

- ``crashed`` / ``interrupted``: a ``crash`` / ``interrupted`` event was seen while
  training was active (the summary is emitted right away), or ``train_end`` was
  called with that status.
- ``diverged``: at the end a ``divergence`` alert is still firing (not resolved), or
  the last epoch's ``loss`` (or the monitored metric) is NaN/Inf.
- ``stopped_early``: ``train_end(stopped_early=True)`` (EarlyStopping, a policy).
- ``completed``: none of the above.

Epoch numbers in the details are 0-based indices like `Event.epoch`; templates
show ``epoch + 1`` so numbers match Keras's ``Epoch 7/10`` progress bar.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from alertcb.errors import ConfigError
from alertcb.events import Event, RunInfo, Severity, json_safe, to_float
from alertcb.report.summary import (
    MAX_MESSAGE_CHARS,
    as_int,
    summary_message,
)

logger = logging.getLogger("alertcb")

SUMMARY_SCHEMA = "alertcb.report.tracker/1"
SUMMARY_TITLE = "training summary"

#: Summary statuses, least to most severe. ``incomplete`` is used for a run whose
#: log has no summary (``alertcb report`` on a run that died without one).
STATUS_RANK = {
    "completed": 0,
    "stopped_early": 1,
    "incomplete": 2,
    "diverged": 3,
    "interrupted": 4,
    "crashed": 5,
}
STATUS_SEVERITY = {
    "completed": Severity.INFO,
    "stopped_early": Severity.WARNING,
    "incomplete": Severity.WARNING,
    "diverged": Severity.CRITICAL,
    "interrupted": Severity.CRITICAL,
    "crashed": Severity.CRITICAL,
}

#: Event kinds that are not alerts (never counted as "alerts raised").
NOT_ALERTS = frozenset({"summary", "progress", "test"})
#: Alert kinds that can make a run "diverged" when still firing at the end.
DIVERGENT_KINDS = frozenset({"divergence"})

_MAX_FIRST = 50  # first occurrences kept (one per kind+title)
_MAX_MARKERS = 200  # alert markers kept for the plot
_MAX_EPOCH_ROWS = 5000  # per-epoch rows kept (thinned beyond this)
_MAX_TRACEBACK_CHARS = 6000
_LR_KEYS = ("learning_rate", "lr")
_MAX_KEYWORDS = ("acc", "auc", "precision", "recall", "f1", "iou", "fmeasure")


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _auto_mode(name: str) -> str:
    lowered = name.lower()
    return "max" if any(k in lowered for k in _MAX_KEYWORDS) else "min"




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
        self._params: dict[str, Any] = {}
        self._epochs_planned: int | None = None
        self._steps_per_epoch: int | None = None
        # batches
        self._steps_seen = 0
        self._last_step = -1
        self._epoch_batches = 0
        self._batch_time_s = 0.0
        self._batch_time_n = 0
        self._last_batch_mono: float | None = None
        self._last_loss: float | None = None
        # downsampled batch loss: bucket i covers `stride` batches starting at step _b_steps[i]
        self._stride = 1
        self._b_steps: list[int] = []
        self._b_sums: list[float] = []
        self._b_ns: list[int] = []
        self._cur_step = 0
        self._cur_sum = 0.0
        self._cur_n = 0
        self._cur_count = 0
        # epochs
        self._epochs: list[dict[str, Any]] = []
        self._epochs_thinned = False
        self._epochs_done = 0
        self._last_epoch: int | None = None
        self._last_epoch_mono: float | None = None
        self._epoch_durations: list[float] = []
        self._last_logs: dict[str, float] = {}
        self._columns: list[str] = []
        self._lr_first: float | None = None
        self._lr_last: float | None = None
        self._best_name: str | None = None
        self._best_epoch: int | None = None
        self._best_value: float | None = None
        self._best_by_name: dict[str, tuple[int, float]] = {}
        # alerts
        self._alert_total = 0
        self._alert_by_kind: dict[str, int] = {}
        self._alert_first: dict[tuple[str, str], dict[str, Any]] = {}
        self._markers: list[dict[str, Any]] = []
        self._firing: dict[str, dict[str, Any]] = {}
        self._error: dict[str, Any] | None = None

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
            self._params = {str(k): json_safe(v) for k, v in params.items()}
            epochs = as_int(params.get("epochs"))
            steps = as_int(params.get("steps"))
            self._epochs_planned = epochs if epochs is not None and epochs > 0 else None
            self._steps_per_epoch = steps if steps is not None and steps > 0 else None

    def batch_end(self, step: int, loss: float | None) -> None:
        """One training batch ended: ``step`` is the 0-based global batch index.

        O(1) amortised: the loss goes into a bucket; when ``keep_batch_losses``
        buckets exist, neighbours are merged and buckets become twice as wide.
        """
        now = self._mono()
        with self._lock:
            self._steps_seen += 1
            if type(step) is int and step > self._last_step:
                self._last_step = step
            else:
                self._last_step += 1
            if self._epoch_batches and self._last_batch_mono is not None:
                # time between two batches of one epoch: validation and epoch-end work excluded
                self._batch_time_s += now - self._last_batch_mono
                self._batch_time_n += 1
            self._epoch_batches += 1
            self._last_batch_mono = now
            value = loss if type(loss) is float else to_float(loss)
            self._last_loss = value
            if not self.keep_batch_losses:
                return
            if self._cur_count == 0:
                self._cur_step = self._last_step
            self._cur_count += 1
            if value is not None and value - value == 0.0:  # finite
                self._cur_sum += value
                self._cur_n += 1
            if self._cur_count >= self._stride:
                self._b_steps.append(self._cur_step)
                self._b_sums.append(self._cur_sum)
                self._b_ns.append(self._cur_n)
                self._cur_sum, self._cur_n, self._cur_count = 0.0, 0, 0
                if len(self._b_steps) >= self.keep_batch_losses:
                    self._compact()

    def _compact(self) -> None:
        steps, sums, ns = self._b_steps, self._b_sums, self._b_ns
        self._b_steps = steps[0::2]
        self._b_sums = [a + b for a, b in zip(sums[0::2], sums[1::2], strict=False)]
        self._b_ns = [a + b for a, b in zip(ns[0::2], ns[1::2], strict=False)]
        if len(sums) % 2:
            self._b_sums.append(sums[-1])
            self._b_ns.append(ns[-1])
        self._stride *= 2

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
            index = as_int(epoch)
            if index is None or index < 0:
                index = (self._last_epoch + 1) if self._last_epoch is not None else 0
            metrics: dict[str, float] = {}
            if isinstance(logs, Mapping):
                for key, value in logs.items():
                    number = to_float(value)
                    if number is not None:
                        metrics[str(key)] = number
            rate = to_float(lr)
            for key in _LR_KEYS:
                if key in metrics:
                    logged = metrics.pop(key)
                    if rate is None:
                        rate = logged
            if rate is not None and not math.isfinite(rate):
                rate = None
            if rate is not None:
                if self._lr_first is None:
                    self._lr_first = rate
                self._lr_last = rate
            start = self._last_epoch_mono if self._last_epoch_mono is not None else now_mono
            duration = max(0.0, now_mono - start)
            self._last_epoch_mono = now_mono
            self._epoch_durations.append(duration)
            if len(self._epoch_durations) > 64:
                del self._epoch_durations[1:2]  # keep the first (compile) apart, drop the oldest other
            for key in metrics:
                if key not in self._columns:
                    self._columns.append(key)
            self._epochs.append(
                {"epoch": index, "time": now_wall, "duration_s": duration, "lr": rate, "metrics": metrics}
            )
            if len(self._epochs) > _MAX_EPOCH_ROWS:
                self._epochs = self._epochs[0:-1:2] + [self._epochs[-1]]
                self._epochs_thinned = True
            self._epochs_done = max(self._epochs_done + 1, index + 1)  # initial_epoch counts as done
            self._last_epoch = index
            self._epoch_batches = 0
            self._last_logs = metrics
            for key, value in metrics.items():
                if not math.isfinite(value):
                    continue
                best = self._best_by_name.get(key)
                better = best is None or (
                    value > best[1] if self._mode_for(key) == "max" else value < best[1]
                )
                if better:
                    self._best_by_name[key] = (index, value)

    def _mode_for(self, name: str) -> str:
        return self.mode if self.mode != "auto" else _auto_mode(name)

    def _monitor_name(self) -> str:
        """The monitored metric actually present (``val_loss`` falls back to ``loss``)."""
        if self.monitor in self._columns or not self._columns:
            return self.monitor
        if self.monitor.startswith("val_") and self.monitor[4:] in self._columns:
            return self.monitor[4:]
        if "loss" in self._columns:
            return "loss"
        return self.monitor

    # ------------------------------------------------------------------ listener
    def _on_event(self, event: Event) -> None:
        """Called synchronously for every event the notifier emits."""
        if not isinstance(event, Event) or event.kind in NOT_ALERTS:
            return
        finish: str | None = None
        with self._lock:
            if event.resolved:
                self._firing.pop(event.fingerprint, None)
                return
            self._alert_total += 1
            self._alert_by_kind[event.kind] = self._alert_by_kind.get(event.kind, 0) + 1
            key = (event.kind, event.title)
            if key not in self._alert_first and len(self._alert_first) < _MAX_FIRST:
                self._alert_first[key] = {
                    "kind": event.kind,
                    "title": event.title,
                    "severity": str(event.severity),
                    "epoch": event.epoch,
                    "step": event.step,
                    "time": event.time,
                    "message": event.message[:MAX_MESSAGE_CHARS],
                    "count": 0,
                }
            if key in self._alert_first:
                self._alert_first[key]["count"] += 1
            if len(self._markers) < _MAX_MARKERS:
                self._markers.append(
                    {
                        "kind": event.kind,
                        "severity": str(event.severity),
                        "title": event.title,
                        "epoch": event.epoch,
                        "step": event.step,
                    }
                )
            self._firing[event.fingerprint] = {"kind": event.kind, "title": event.title}
            if event.kind in ("crash", "interrupted"):
                status = _terminal_status(event)
                if self._error is None or status == "crashed":
                    self._error = _error_info(event)
                if self._active and not self._finished:
                    finish = status
        if finish is not None:
            self.train_end(finish)

    # ------------------------------------------------------------------ snapshots
    def progress(self) -> dict[str, Any]:
        """A cheap snapshot of where training is (for `ProgressDigest`).

        Returns:
            A dict: ``running``, ``epoch`` (0-based epoch in progress),
            ``epochs_done``, ``epochs_planned``, ``steps_done``, ``steps_planned``,
            ``elapsed_s``, ``step_time_s``, ``epoch_time_s``, ``eta_s``, ``metrics``
            (last epoch logs), ``batch_loss``, ``monitor`` (name, best epoch/value),
            ``alerts_total``, ``alerts_by_kind``, ``start``, ``time``.
        """
        now_mono = self._mono()
        with self._lock:
            elapsed = now_mono - self._start_mono if self._start_mono is not None else None
            step_time = self._step_time()
            epoch_time = self._epoch_time()
            steps_planned = (
                self._epochs_planned * self._steps_per_epoch
                if self._epochs_planned is not None and self._steps_per_epoch is not None
                else None
            )
            name = self._monitor_name()
            best = self._best_by_name.get(name)
            return {
                "running": self._active and not self._finished,
                "epoch": self._epochs_done,
                "epochs_done": self._epochs_done,
                "epochs_planned": self._epochs_planned,
                "steps_done": self._steps_seen,
                "steps_per_epoch": self._steps_per_epoch,
                "steps_planned": steps_planned,
                "epoch_batches": self._epoch_batches,
                "elapsed_s": elapsed,
                "step_time_s": step_time,
                "epoch_time_s": epoch_time,
                "eta_s": self._eta(step_time, epoch_time, steps_planned),
                "metrics": dict(self._last_logs),
                "batch_loss": self._last_loss,
                "monitor": {
                    "name": name,
                    "mode": self._mode_for(name),
                    "best_epoch": best[0] if best else None,
                    "best_value": best[1] if best else None,
                },
                "alerts_total": self._alert_total,
                "alerts_by_kind": dict(self._alert_by_kind),
                "start": self._start_wall,
                "time": self._wall(),
            }

    def _step_time(self) -> float | None:
        """Mean time between two batches of one epoch (so validation is not counted)."""
        if not self._batch_time_n:
            return None
        return self._batch_time_s / self._batch_time_n

    def _epoch_time(self) -> float | None:
        durations = self._epoch_durations
        if not durations:
            return None
        # The first epoch includes tracing/compilation: leave it out once others exist.
        sample = durations[1:] if len(durations) > 1 else durations
        return sum(sample) / len(sample)

    def _eta(
        self, step_time: float | None, epoch_time: float | None, steps_planned: int | None
    ) -> float | None:
        if self._finished:
            return 0.0
        planned = self._epochs_planned
        if planned is not None and epoch_time is not None:
            fraction = 0.0
            if self._steps_per_epoch:
                fraction = min(1.0, self._epoch_batches / self._steps_per_epoch)
            return max(0.0, (planned - self._epochs_done - fraction) * epoch_time)
        if steps_planned is not None and step_time is not None:
            return max(0.0, (steps_planned - self._steps_seen) * step_time)
        return None

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

    def _status(self, status: Any, stopped_early: bool) -> tuple[str, str]:
        base = str(status) if status is not None else "completed"
        reasons: list[str] = []
        if base not in STATUS_RANK:
            logger.warning("alertcb: unknown summary status %r, reporting it as given", base)
        if stopped_early and base == "completed":
            base = "stopped_early"
        candidates = [base]
        if self._error is not None:
            candidates.append(self._error["status"])
        firing = [f for f in self._firing.values() if f["kind"] in DIVERGENT_KINDS]
        if firing:
            candidates.append("diverged")
            reasons.append(f"{firing[0]['kind']} alert still firing: {firing[0]['title']}")
        name = self._monitor_name()
        for key in dict.fromkeys(("loss", name)):
            value = self._last_logs.get(key)
            if value is not None and not math.isfinite(value):
                candidates.append("diverged")
                reasons.append(f"final {key} is {value}")
                break
        worst = max(candidates, key=lambda s: STATUS_RANK.get(s, 1))
        return worst, "; ".join(dict.fromkeys(reasons))

    def _build(self, status: Any, *, stopped_early: bool) -> Event:
        end = self._wall()
        final_status, reason = self._status(status, bool(stopped_early))
        now_mono = self._mono()
        duration = now_mono - self._start_mono if self._start_mono is not None else None
        run = getattr(self.notifier, "run", None)
        run_info = run if isinstance(run, RunInfo) else None
        name = self._monitor_name()
        best = self._best_by_name.get(name)
        final_train = {k: v for k, v in self._last_logs.items() if not k.startswith("val_")}
        final_val = {k: v for k, v in self._last_logs.items() if k.startswith("val_")}
        step_time = self._step_time()
        epoch_time = self._epoch_time()
        steps_planned = (
            self._epochs_planned * self._steps_per_epoch
            if self._epochs_planned is not None and self._steps_per_epoch is not None
            else None
        )
        delivery: Any = {}
        stats = getattr(self.notifier, "stats", None)
        if callable(stats):
            try:
                delivery = stats()
            except Exception as exc:  # noqa: BLE001 - stats are optional in a summary
                logger.debug("alertcb: notifier.stats() failed: %s", exc)
        if not isinstance(delivery, Mapping):
            delivery = {}
        run_dir = getattr(self.notifier, "run_dir", None)
        run_dir_path = getattr(run_dir, "path", run_dir)
        values: list[float | None] = []
        for total, n in zip(self._b_sums, self._b_ns, strict=False):
            values.append(total / n if n else None)
        steps = list(self._b_steps)
        if self._cur_count:
            steps.append(self._cur_step)
            values.append(self._cur_sum / self._cur_n if self._cur_n else None)
        details: dict[str, Any] = {
            "schema": SUMMARY_SCHEMA,
            "status": final_status,
            "status_reason": reason,
            "run": {
                "name": run_info.name if run_info else "",
                "host": run_info.host if run_info else "",
                "worker": run_info.worker if run_info else None,
                "job": run_info.job if run_info else None,
            },
            "run_dir": str(run_dir_path) if run_dir_path is not None else "",
            "start": self._start_wall,
            "end": end,
            "duration_s": duration,
            "epochs_done": self._epochs_done,
            "epochs_planned": self._epochs_planned,
            "steps_done": self._steps_seen,
            "steps_per_epoch": self._steps_per_epoch,
            "steps_planned": steps_planned,
            "step_time_s": step_time,
            "epoch_time_s": epoch_time,
            "monitor": {
                "name": name,
                "requested": self.monitor,
                "mode": self._mode_for(name),
                "best_epoch": best[0] if best else None,
                "best_value": best[1] if best else None,
            },
            "final": {"train": final_train, "val": final_val},
            "columns": list(self._columns),
            "epochs": [dict(row, metrics=dict(row["metrics"])) for row in self._epochs],
            "epochs_thinned": self._epochs_thinned,
            "lr": {"initial": self._lr_first, "final": self._lr_last} if self._lr_last is not None else None,
            "alerts": {
                "total": self._alert_total,
                "by_kind": dict(sorted(self._alert_by_kind.items(), key=lambda kv: (-kv[1], kv[0]))),
                "first": sorted(self._alert_first.values(), key=lambda a: a["time"]),
                "firing": [dict(f) for f in self._firing.values()],
            },
            "markers": list(self._markers),
            "error": dict(self._error) if self._error else None,
            "delivery": dict(delivery),
            "batch_loss": {"stride": self._stride, "steps": steps, "values": values},
        }
        details = json_safe(details)
        message = summary_message(details)
        return Event(
            kind="summary",
            title=SUMMARY_TITLE,
            message=message,
            severity=STATUS_SEVERITY.get(final_status, Severity.WARNING),
            epoch=self._last_epoch,
            step=self._last_step if self._last_step >= 0 else None,
            metrics=self._last_logs,
            details=details,
            time=end,
        )


def _terminal_status(event: Event) -> str:
    """``crashed`` for a crash, ``interrupted`` for an interrupt (Ctrl-C counts as one)."""
    if event.kind == "interrupted" or event.details.get("exception") == "KeyboardInterrupt":
        return "interrupted"
    return "crashed"


def _error_info(event: Event) -> dict[str, Any]:
    details = event.details
    traceback = ""
    for key in ("traceback", "stack", "exc_text"):
        value = details.get(key)
        if isinstance(value, str) and value:
            traceback = value
            break
        if isinstance(value, (list, tuple)) and value:
            traceback = "\n".join(str(v) for v in value)
            break
    if len(traceback) > _MAX_TRACEBACK_CHARS:
        traceback = "…\n" + traceback[-_MAX_TRACEBACK_CHARS:]
    exc_type = details.get("exception") or details.get("exception_type") or details.get("type") or ""
    return {
        "status": _terminal_status(event),
        "kind": event.kind,
        "title": event.title,
        "type": str(exc_type)[:200],
        "message": event.message[:MAX_MESSAGE_CHARS],
        "epoch": event.epoch,
        "step": event.step,
        "traceback": traceback,
    }


class _NoNotifier:
    """Stands in for a notifier when a summary is rebuilt from a log (nothing is emitted)."""

    def __init__(self, run: RunInfo | None) -> None:
        self.run = run


def summary_from_events(
    events: list[Event], *, run: RunInfo | None = None, start: float | None = None
) -> Event:
    """Rebuild a partial summary from a run's events (a log without a summary event).

    The status is ``crashed``/``interrupted`` when such an event is in the log, else
    ``incomplete``. Alerts are counted as the tracker would have; per-epoch rows and
    progress come from ``progress`` events when there are any.

    Args:
        events: the run's events, oldest first.
        run: the run's identity (defaults to the first event's ``run``).
        start: when the run started (defaults to the first event's time).
    """
    if run is None:
        run = next((e.run for e in events if e.run is not None), None)
    times = [e.time for e in events if math.isfinite(e.time)]
    begin = start if start is not None else (min(times) if times else None)
    end = max(times) if times else begin
    tracker = SummaryTracker(_NoNotifier(run))
    tracker._start_wall = begin
    tracker._wall = lambda: end if end is not None else time.time()
    tracker._mono = lambda: (end - begin) if end is not None and begin is not None else 0.0
    tracker._start_mono = 0.0 if begin is not None else None
    tracker._finished = True  # replaying a log: nothing starts, nothing is emitted
    last_progress: Mapping[str, Any] | None = None
    for event in events:
        if event.kind == "progress":
            last_progress = event.details
            done = as_int(event.details.get("epochs_done"))
            if done and event.metrics and (tracker._last_epoch is None or done - 1 > tracker._last_epoch):
                tracker.epoch_end(done - 1, dict(event.metrics))
                tracker._epochs[-1]["time"] = event.time
                tracker._epochs[-1]["duration_s"] = None
        else:
            tracker._on_event(event)
    if last_progress is not None:
        planned = as_int(last_progress.get("epochs_planned"))
        tracker._epochs_planned = planned if planned and planned > 0 else None
        tracker._steps_seen = as_int(last_progress.get("steps_done")) or 0
        tracker._epochs_done = max(tracker._epochs_done, as_int(last_progress.get("epochs_done")) or 0)
    tracker._epoch_durations = []
    status = tracker._error["status"] if tracker._error is not None else "incomplete"
    return tracker.build_event(status)
