"""Realistic, deterministic runs for the report tests (no Keras: plain numbers)."""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable
from typing import Any

from alertcb.events import Event, RunInfo, Severity
from alertcb.notification import Attachment, Notification
from alertcb.report.tracker import SummaryTracker

START = 1_764_187_200.0  # 2025-11-26 20:00:00 UTC
RUN = RunInfo(name="exp42", host="gpu-node-7", pid=4242)
STATUSES = ("completed", "stopped_early", "diverged", "interrupted", "crashed", "incomplete")


class Clock:
    """A wall clock and a monotonic clock that only move when told to."""

    def __init__(self, start: float = START) -> None:
        self.wall = start
        self.mono = 1000.0

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


class FakeNotifier:
    """Just enough of a Notifier: emit (listeners first, as the real one), add_listener, stats, run."""

    def __init__(self, run: RunInfo = RUN, run_dir: Any = "/runs/exp42") -> None:
        self.run = run
        self.run_dir = run_dir
        self.events: list[Event] = []
        self.listeners: list[Callable[[Event], None]] = []
        self.scheduler: Any = None

    def emit(self, event: Event) -> bool:
        for listener in list(self.listeners):
            listener(event)
        self.events.append(event)
        return True

    def add_listener(self, fn: Callable[[Event], None]) -> None:
        self.listeners.append(fn)

    def stats(self) -> dict[str, Any]:
        return {
            "emitted": 7,
            "processed": 7,
            "dropped": {"queue_full": 0},
            "pending": 0,
            "destinations": {
                "wecom": {"delivered": 5, "failed": {}, "pending": 0},
                "email": {"delivered": 1, "failed": {"permanent": 1}, "pending": 0},
            },
        }


def make_tracker(
    notifier: Any = None, clock: Clock | None = None, **kwargs: Any
) -> tuple[SummaryTracker, Clock]:
    clock = clock or Clock()
    tracker = SummaryTracker(notifier if notifier is not None else FakeNotifier(), **kwargs)
    tracker._wall = lambda: clock.wall
    tracker._mono = lambda: clock.mono
    return tracker, clock


def traceback_text(frames: int) -> str:
    lines = ["Traceback (most recent call last):"]
    for i in range(frames):
        lines.append(f'  File "/srv/train/model_{i}.py", line {100 + i}, in layer_{i}')
        lines.append(f"    outputs = self.block_{i}(inputs, training=training)  # 训练")
    lines.append(
        "ValueError: Input 0 of layer dense_3 is incompatible: expected shape (None, 64), found (None, 63)"
    )
    return "\n".join(lines)


def simulate(
    tracker: SummaryTracker,
    clock: Clock,
    *,
    epochs: int = 12,
    planned: int | None = None,
    steps: int = 50,
    step_s: float = 0.02,
    spike_at: int | None = 130,
    nan_from_epoch: int | None = None,
    seed: int = 7,
) -> None:
    """Feed a plausible run: loss decays, val loss flattens, one spike, optional NaN tail."""
    rng = random.Random(seed)
    notifier = tracker.notifier
    tracker.train_begin({"epochs": planned or epochs, "steps": steps, "verbose": 1})
    step = 0
    for epoch in range(epochs):
        for _ in range(steps):
            clock.advance(step_s)
            loss = 2.0 * math.exp(-step / (steps * 3)) + 0.1 + rng.random() * 0.05
            if nan_from_epoch is not None and epoch >= nan_from_epoch:
                loss = math.nan
            if step == spike_at:
                loss = 40.0
                notifier.emit(
                    Event(
                        kind="spike",
                        title="loss spike",
                        message=f"loss 40 at step {step} is 21x the recent median 1.9",
                        severity=Severity.WARNING,
                        epoch=epoch,
                        step=step,
                        metrics={"loss": loss},
                        details={"median": 1.9, "threshold": 10.0},
                        time=clock.wall,
                    )
                )
            tracker.batch_end(step, loss)
            step += 1
        clock.advance(0.5)  # validation
        base = 2.0 * math.exp(-step / (steps * 3))
        logs: dict[str, Any] = {
            "loss": base + 0.12,
            "accuracy": min(0.99, 0.4 + 0.05 * epoch),
            "val_loss": base + 0.2 + 0.002 * max(0, epoch - 8),
            "val_accuracy": min(0.98, 0.35 + 0.05 * epoch),
            "learning_rate": 0.001 if epoch < 6 else 0.0005,
        }
        if nan_from_epoch is not None and epoch >= nan_from_epoch:
            logs["loss"] = math.nan
            logs["val_loss"] = math.nan
        tracker.epoch_end(epoch, logs)


def summary_event(
    status: str = "completed",
    *,
    epochs: int = 12,
    frames: int = 0,
    run: RunInfo = RUN,
) -> Event:
    """A summary event as the dispatcher hands it to channels (run attached)."""
    if run is RUN:
        return _cached_summary(status, epochs, frames)
    return _summary(status, epochs, frames, run)


@functools.lru_cache(maxsize=64)
def _cached_summary(status: str, epochs: int, frames: int) -> Event:
    return _summary(status, epochs, frames, RUN)


def _summary(status: str, epochs: int, frames: int, run: RunInfo) -> Event:
    if status == "incomplete":
        from alertcb.report.replay import summary_from_events

        events = [
            Event(kind="spike", title="loss spike", epoch=2, step=130, run=run, time=START + 60),
            Event(
                kind="progress",
                title="training progress",
                severity="info",
                epoch=3,
                metrics={"loss": 0.6, "val_loss": 0.7},
                details={"epochs_done": 3, "epochs_planned": 12, "steps_done": 150},
                run=run,
                time=START + 90,
            ),
        ]
        return summary_from_events(events, run=run, start=START)
    notifier = FakeNotifier(run)
    tracker, clock = make_tracker(notifier)
    planned = epochs
    done = epochs
    if status in ("stopped_early", "interrupted", "crashed"):
        done = max(2, epochs * 2 // 3)
    simulate(
        tracker,
        clock,
        epochs=done,
        planned=planned,
        nan_from_epoch=done - 1 if status == "diverged" else None,
    )
    if status == "crashed":
        notifier.emit(
            Event(
                kind="crash",
                title="training crashed: ValueError",
                message="ValueError: Input 0 of layer dense_3 is incompatible",
                severity="critical",
                epoch=done,
                step=done * 50 + 3,
                details={"exception": "ValueError", "traceback": traceback_text(frames or 12)},
                time=clock.wall,
            )
        )
        event = [e for e in notifier.events if e.kind == "summary"][-1]
    elif status == "interrupted":
        notifier.emit(
            Event(
                kind="interrupted",
                title="training interrupted (SIGTERM)",
                message="process 4242 received SIGTERM (preemption or cancellation)",
                severity="critical",
                details={"signal": "SIGTERM", "stack": traceback_text(frames or 3)},
                time=clock.wall,
            )
        )
        event = [e for e in notifier.events if e.kind == "summary"][-1]
    else:
        result = tracker.train_end(stopped_early=status == "stopped_early")
        assert result is not None
        event = result
    assert event.kind == "summary"
    return event.with_run(run)


def alert_event(kind: str, status: str = "firing") -> Event:
    """A realistic event of ``kind`` (what detectors emit)."""
    common: dict[str, Any] = {"run": RUN, "time": START + 120, "status": status}
    if kind == "summary":
        return summary_event("completed")
    if kind == "progress":
        return Event(
            kind="progress",
            title="training progress",
            message="epoch 4/12 (33%) · ETA 6m 5s · loss=0.61, val_loss=0.72 · 1 new alert",
            severity="info",
            epoch=3,
            step=199,
            metrics={"loss": 0.61, "val_loss": 0.72},
            details={
                "running": True,
                "epoch": 3,
                "epochs_done": 3,
                "epochs_planned": 12,
                "steps_done": 200,
                "steps_planned": 600,
                "elapsed_s": 182.5,
                "step_time_s": 0.021,
                "epoch_time_s": 61.0,
                "eta_s": 365.0,
                "metrics": {"loss": 0.61, "val_loss": 0.72, "accuracy": 0.55},
                "batch_loss": 0.6,
                "monitor": {"name": "val_loss", "mode": "min", "best_epoch": 2, "best_value": 0.72},
                "alerts_total": 3,
                "alerts_by_kind": {"spike": 2, "plateau": 1},
                "alerts_since": {"total": 1, "by_kind": {"spike": 1}},
                "interval_s": 3600.0,
                "percent": 33.3,
                "start": START,
                "time": START + 182.5,
            },
            **common,
        )
    details: dict[str, Any] = {"threshold": 10.0, "median": 0.41}
    if kind in ("crash", "interrupted"):
        details = {"exception": "RuntimeError", "traceback": traceback_text(5)}
    if kind == "hang":
        details = {"stalled_s": 912.0, "stack": traceback_text(3)}
    return Event(
        kind=kind,
        title=f"{kind} detected",
        message=f"{kind}: loss 12.5 at step 1,234 vs median 0.41 <&> `x`",
        severity="critical" if kind in ("nonfinite", "crash", "divergence") else "warning",
        epoch=3,
        step=1234,
        metrics={"loss": 12.5, "val_loss": math.nan},
        details=details,
        **common,
    )


@functools.lru_cache(maxsize=1)
def png_attachment() -> Attachment:
    from alertcb.report.plot import loss_curve_png

    return Attachment("loss_curve.png", "image/png", loss_curve_png({}), "loss-curve")


def notification(event: Event, *, attach: bool = True) -> Notification:
    attachments = (png_attachment(),) if attach and event.kind == "summary" else ()
    return Notification(events=(event,), attachments=attachments, id="n1", created=START)


def golden_combination_summary() -> Event:
    """The article's golden combination, as the tracker hears it: ModelCheckpoint(save_best_only)
    writes at epochs 1, 3 and 6, ReduceLROnPlateau halves the LR after epoch 5, a plateau alert
    (epoch-level, ``step 0`` as older detectors send it) fires at epoch 7 and EarlyStopping stops
    at epoch 9 restoring epoch 6. Epochs here are 1-based; the events carry 0-based ones."""
    notifier = FakeNotifier(RUN)
    tracker, clock = make_tracker(notifier)
    tracker.train_begin({"epochs": 20, "steps": 10})
    step = 0
    val = [1.2, 0.9, 0.8, 0.82, 0.81, 0.7, 0.72, 0.74, 0.75]
    for epoch, val_loss in enumerate(val):
        for _ in range(10):
            clock.advance(0.01)
            tracker.batch_end(step, 1.0 / (1 + step / 10) + 0.1)
            step += 1
        lr = 0.001 if epoch < 5 else 0.0005
        tracker.epoch_end(epoch, {"loss": 1.0 / (1 + epoch) + 0.1, "val_loss": val_loss, "learning_rate": lr})
        common: dict[str, Any] = {"severity": "info", "epoch": epoch, "step": step - 1, "time": clock.wall}
        if epoch in (0, 2, 5):
            notifier.emit(
                Event(
                    kind="checkpoint",
                    title="checkpoint written",
                    details={
                        "path": f"ckpt/epoch{epoch + 1:02d}.keras",
                        "epoch": epoch,
                        "monitor": "val_loss",
                        "value": val_loss,
                        "size": 1_234_567,
                        "sha256": "ab" * 32,
                        "is_best": True,
                    },
                    **common,
                )
            )
        if epoch == 4:
            notifier.emit(
                Event(
                    kind="lr_change",
                    title="learning rate changed",
                    details={"old": 0.001, "new": 0.0005, "callback": "ReduceLROnPlateau"},
                    **common,
                )
            )
        if epoch == 6:
            notifier.emit(
                Event(kind="plateau", title="val_loss stopped improving", severity="warning", epoch=6, step=0)
            )
    notifier.emit(
        Event(
            kind="early_stop",
            title="early stopping",
            severity="info",
            epoch=8,
            step=step - 1,
            time=clock.wall,
            details={
                "callback": "EarlyStopping",
                "epoch": 8,
                "monitor": "val_loss",
                "value": 0.75,
                "best_epoch": 5,
                "best_value": 0.7,
                "restored": True,
            },
        )
    )
    event = tracker.train_end()
    assert event is not None
    return event.with_run(RUN)
