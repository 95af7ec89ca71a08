"""`Notifier`: the object training code holds. Emits events; never blocks."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from alertcb import _process, distributed
from alertcb._guard import capture_internal_error
from alertcb._process import report_crash as report_crash  # re-exported (internal)
from alertcb.channels.base import Channel
from alertcb.channels.console import Console
from alertcb.clock import SYSTEM_CLOCK, Clock
from alertcb.delivery.codec import pending_message
from alertcb.delivery.dispatcher import DeliveryPolicy, Dispatcher
from alertcb.delivery.outbox import Outbox
from alertcb.delivery.rundir import DEFAULT_ROOT, RunDir, safe_dirname
from alertcb.errors import ConfigError
from alertcb.events import LIFECYCLE_KINDS, Event, RunInfo, Severity
from alertcb.notification import Attachment
from alertcb.render import Renderer
from alertcb.scheduling import Scheduler
from alertcb.validate import check_notifier_options, check_template

__all__ = ["Notifier"]

logger = logging.getLogger("alertcb")

#: Process-wide listeners (``alertcb.testing.capture_events`` uses this).
_global_listeners: list[Callable[[Event], None]] = []

#: Kinds that only the chief sends when ``send_from="chief"`` (run-level alerts).
RUN_LEVEL_KINDS = frozenset(
    {"nonfinite", "spike", "divergence", "plateau", "threshold", "summary", "progress"}
) | LIFECYCLE_KINDS


class Notifier:
    """Routes training events to channels from a background thread.

    With no arguments it uses the embedded default: alerts to the console (stderr),
    every event to ``./alertcb-runs/<run_name>/events.jsonl`` and every checkpoint
    written to ``checkpoints.jsonl`` beside it (`alertcb.registry.JsonlRegistry`).

    Args:
        channels: destinations. None means the embedded default (console, plus the
            ``checkpoints.jsonl`` registry when there is a run directory).
        run_name: the run's name. Defaults to ``$ALERTCB_RUN_NAME`` or ``run-<date>-<pid>``.
        run_dir: the run directory root (the run gets ``<root>/<run_name>/``);
            False disables it. Defaults to ``./alertcb-runs``.
        outbox: the SQLite outbox path, True for ``<root>/outbox.sqlite3``, False for none.
        console: also print alerts to stderr. Defaults to True when ``channels`` is None.
        worker: this process's worker identity; detected from ``TF_CONFIG``/``RANK`` when None.
        send_from: ``"chief"`` (run-level alerts only from the chief worker) or ``"all"``.
        job: a job name shared by several runs (routing label).
        labels: extra labels for Alertmanager/webhooks.
        queue_size: bound of the in-memory queue. Defaults to 10,000.
        group_wait_s: delay before the first message of a non-critical incident.
        repeat_interval_s: minimum time between reminders of one open incident.
        flush_timeout_s: how long `close()` (and exit, and SIGTERM) waits for delivery.
        attempt_timeout_s, connect_timeout_s, deadline_s, retry_base_s, retry_max_s,
        max_retry_after_s, rate_limits, verify_tls: the `DeliveryPolicy`.
        template_dir: a folder of templates overriding the packaged ones.
        link_url: a link shown in alerts (dashboard).
        handle_sigterm: install a SIGTERM handler that sends an ``interrupted`` alert,
            flushes for ``flush_timeout_s`` and then exits as SIGTERM would.
        clock: the `alertcb.clock.Clock` for delivery timing (tests pass a `ManualClock`).

    Example:
        >>> notifier = alertcb.Notifier(run_name="exp42")
        >>> model.fit(x, y, callbacks=alertcb.keras.default_callbacks(notifier))  # doctest: +SKIP
        >>> notifier.close()
    """

    def __init__(
        self,
        channels: Sequence[Channel] | None = None,
        *,
        run_name: str | None = None,
        run_dir: str | os.PathLike[str] | Literal[False] | None = None,
        outbox: str | os.PathLike[str] | bool = True,
        console: bool | None = None,
        worker: str | None = None,
        send_from: Literal["chief", "all"] = "chief",
        job: str | None = None,
        labels: Mapping[str, str] | None = None,
        queue_size: int = 10_000,
        group_wait_s: float = 5.0,
        repeat_interval_s: float = 3600.0,
        flush_timeout_s: float = 10.0,
        attempt_timeout_s: float = 10.0,
        connect_timeout_s: float = 3.0,
        deadline_s: float = 900.0,
        retry_base_s: float = 1.0,
        retry_max_s: float = 60.0,
        max_retry_after_s: float = 900.0,
        rate_limits: bool = True,
        verify_tls: bool = True,
        template_dir: str | os.PathLike[str] | None = None,
        link_url: str | None = None,
        handle_sigterm: bool = False,
        clock: Clock | None = None,
    ) -> None:
        if channels is not None and (
            isinstance(channels, (str, bytes, Channel)) or not all(isinstance(c, Channel) for c in channels)
        ):
            raise ConfigError("channels", "expected a list of alertcb.channels.Channel instances")
        opts = check_notifier_options(
            {k: v for k, v in locals().items() if k not in ("self", "channels", "clock", "__class__")}
        )
        group_wait_s, repeat_interval_s, flush_timeout_s = (
            opts["group_wait_s"], opts["repeat_interval_s"], opts["flush_timeout_s"]
        )

        chosen = list(channels) if channels is not None else []
        if console if console is not None else channels is None:
            chosen.insert(0, Console())
        names = [c.name for c in chosen]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError("channels", f"destination names must be unique; repeated: {duplicates}")

        name = run_name or os.environ.get("ALERTCB_RUN_NAME") or time.strftime(f"run-%Y%m%d-%H%M%S-{os.getpid()}")
        identity = distributed.detect_worker() if worker is None else distributed.WorkerInfo.parse(worker)
        self.worker_info = identity
        self.send_from = send_from
        self.run = RunInfo(name=name, worker=identity.label, job=job, labels=dict(labels or {}))
        self.flush_timeout_s = float(flush_timeout_s)

        root: Path | None = None
        if run_dir is not False:
            root = Path(run_dir if run_dir is not None else os.environ.get("ALERTCB_RUN_DIR", DEFAULT_ROOT))
        self.run_dir: Path | None = None
        run_log = None
        if root is not None:
            folder = safe_dirname(name)
            if identity.label and not identity.is_chief:
                folder = f"{folder}/{safe_dirname(identity.label)}"
            self.run_dir = root / folder
            run_log = RunDir(self.run_dir, self.run)
        outbox_obj = None
        if outbox is not False:
            if outbox is True:
                path = root / "outbox.sqlite3" if root is not None else None
            else:
                path = Path(outbox)
            if path is not None:
                outbox_obj = Outbox(path, owner=uuid.uuid4().hex)
        if channels is None and self.run_dir is not None:
            chosen.append(_default_registry())
        self.renderer = Renderer(template_dir, link_url=link_url, run_dir=self.run_dir)
        for channel in chosen:
            check_template(self.renderer, channel)
        policy = DeliveryPolicy(**{f.name: opts[f.name] for f in dataclasses.fields(DeliveryPolicy)})
        self._dispatcher = Dispatcher(
            chosen,
            run=self.run,
            renderer=self.renderer,
            run_dir=run_log,
            outbox=outbox_obj,
            policy=policy,
            queue_size=queue_size,
            group_wait_s=group_wait_s,
            repeat_interval_s=repeat_interval_s,
            report_builder=self._build_report,
            clock=clock or SYSTEM_CLOCK,
        )
        for channel in chosen:  # registries raise `registry_error` alerts through emit
            bind = getattr(channel, "bind", None)
            if callable(bind):
                bind(self.emit)
        self._listeners: list[Callable[[Event], None]] = []
        self._scheduler = Scheduler()
        self._filtered = 0
        #: ``(epoch, step)`` last reported by alertcb's Keras callbacks (0-based; None when
        #: unknown); crash and SIGTERM alerts carry it.
        self.last_position: tuple[int | None, int | None] = (None, None)
        self._handles_sigterm = False
        _process.track(self)  # closed at exit, flushed on SIGTERM
        if handle_sigterm:
            self.install_sigterm_handler()
        self._dispatcher.start()  # also re-delivers what an earlier run left in the outbox

    # ------------------------------------------------------------------ public API
    @property
    def channels(self) -> list[Channel]:
        return list(self._dispatcher.channels)

    @property
    def closed(self) -> bool:
        return self._dispatcher.closed

    @property
    def outbox_path(self) -> Path | None:
        return self._dispatcher.outbox_path

    @property
    def clock(self) -> Clock:
        """The `alertcb.clock.Clock` delivery runs on (the hang watchdog and the outbox may share it)."""
        return self._dispatcher.clock

    def emit(self, event: Event) -> bool:
        """Hand ``event`` to the dispatcher: O(1), never blocks, never raises.

        Returns:
            True if it was queued, False if it was dropped (and counted).
        """
        if (
            self.send_from == "chief"
            and not self.worker_info.is_chief
            and getattr(event, "kind", None) in RUN_LEVEL_KINDS
        ):
            self._filtered += 1
            accepted = False
        else:
            accepted = self._dispatcher.emit(event)
        # Listeners run after queueing, so what they emit in reaction (a summary after a
        # crash) is queued behind the event that triggered it.
        if _global_listeners or self._listeners:
            self._notify_listeners(event)
        return accepted

    def event(self, kind: str, title: str, message: str = "", **fields: Any) -> Event:
        """Build an `Event` attributed to this run (``Event(..., run=notifier.run)``)."""
        return Event(kind=kind, title=title, message=message, run=self.run, **fields)

    def alert(
        self, title: str, message: str = "", *, severity: Severity | str = "warning", **fields: Any
    ) -> bool:
        """Emit a ``custom`` event. Example: ``notifier.alert("data drift", "psi=0.4")``."""
        try:
            return self.emit(self.event("custom", title, message, severity=severity, **fields))
        except (TypeError, ValueError) as exc:
            capture_internal_error("alert", exc)
            return False

    def add_listener(self, fn: Callable[[Event], None]) -> None:
        """Call ``fn(event)`` synchronously for every emitted event (keep it O(1))."""
        self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[Event], None]) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(fn)

    def flush(self, timeout_s: float | None = None) -> int:
        """Wait until queued alerts are delivered, at most ``timeout_s`` (default ``flush_timeout_s``).

        Returns:
            How many events/notifications are still pending (0 when all were delivered).
        """
        return self._dispatcher.flush(self.flush_timeout_s if timeout_s is None else timeout_s)

    def close(self, timeout_s: float | None = None) -> int:
        """Flush for at most ``timeout_s``, stop the background work, report what is left.

        Safe to call twice. After it, `emit` drops (counted as ``closed``).
        """
        if self._dispatcher.closed:
            return int(self._dispatcher.counts()["backlog"])
        self._scheduler.shutdown()
        pending = self._dispatcher.close(self.flush_timeout_s if timeout_s is None else timeout_s)
        if pending:
            message = pending_message(pending, self._dispatcher.outbox)
            if logger.hasHandlers():
                logger.warning("%s", message)
            else:  # the user configured no logging: make sure a person sees it
                sys.stderr.write(message + "\n")
        return pending

    def stats(self) -> dict[str, Any]:
        """Delivery figures: ``emitted``, ``processed``, ``dropped`` (by reason), ``pending``
        (``emitted == processed + sum(dropped) + pending``), and per destination:

        - ``enqueued``: notifications queued for it (``recovered`` of them from the outbox);
        - ``delivered``: messages it accepted (what its receiver got; re-sends in ``resent``);
        - ``notifications_delivered``: notifications whose content is in a delivered message;
        - ``incidents_named`` / ``incidents_summarized``: incidents in delivered messages
          shown by title / only counted in a digest ("+N more not named here");
        - ``coalesced``: notifications folded into digests (never more than ``enqueued``);
        - ``failed`` (by reason), ``pending``, ``retried``, ``rate_limited_until``, ``last_error``.

        ``enqueued == notifications_delivered + sum(failed) + pending`` per destination."""
        out = self._dispatcher.counts()
        out["not_sent_by_this_worker"] = self._filtered
        out["suppressed_repeats"] = self._dispatcher.grouper.suppressed_total
        out["destinations"] = self._dispatcher.lane_stats()
        if self._dispatcher.outbox is not None:
            out["outbox"] = self._dispatcher.outbox.stats()
        return out

    @property
    def scheduler(self) -> Scheduler:
        """This notifier's `alertcb.scheduling.Scheduler` for periodic jobs (started on first job)."""
        return self._scheduler

    def watch(self) -> _process.Watch:
        """Send a ``crash`` alert for any exception (KeyboardInterrupt included), then re-raise.

        Use as a context manager or a decorator.

        Example:
            >>> with notifier.watch():  # doctest: +SKIP
            ...     model.fit(x, y, callbacks=alertcb.keras.default_callbacks(notifier))
        """
        return _process.Watch(self)

    def install_sigterm_handler(self) -> None:
        """On SIGTERM: send an ``interrupted`` alert, flush every live notifier, then exit as SIGTERM would.

        Only possible from the main thread; elsewhere it logs a warning and does nothing.
        """
        _process.install_sigterm(self)

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        names = ", ".join(c.name for c in self._dispatcher.channels)
        return f"Notifier(run_name={self.run.name!r}, channels=[{names}])"

    # ------------------------------------------------------------------ constructors from config
    @classmethod
    def from_config(cls, path: str | os.PathLike[str], **overrides: Any) -> Notifier:
        """Build a Notifier from a TOML file (see docs/configuration.md). Raises `ConfigError`."""
        from alertcb.config import load_config

        return load_config(path).build_notifier(cls, **overrides)

    @classmethod
    def from_env(cls, **overrides: Any) -> Notifier:
        """Build a Notifier from ``ALERTCB_*`` environment variables (and ``$ALERTCB_CONFIG``)."""
        from alertcb.config import config_from_env

        return config_from_env().build_notifier(cls, **overrides)

    # ------------------------------------------------------------------ internals
    def _notify_listeners(self, event: Event) -> None:
        for fn in (*_global_listeners, *self._listeners):
            try:
                fn(event)
            except Exception as exc:  # noqa: BLE001 - a listener must not break emit
                capture_internal_error("listener", exc)

    def _build_report(self, event: Event) -> tuple[Attachment, ...]:
        try:
            from alertcb.report.artifacts import build_report
        except ImportError:
            return ()
        return tuple(build_report(event, self.renderer, self.run_dir))


def _default_registry() -> Channel:
    """The embedded checkpoint registry, ``<run_dir>/checkpoints.jsonl``."""
    from alertcb.registry.jsonl import JsonlRegistry

    return JsonlRegistry()
