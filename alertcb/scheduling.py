"""Periodic background jobs: the only module of alertcb that imports APScheduler.

`Scheduler` wraps one APScheduler ``BackgroundScheduler`` that starts on the first
job (so a Notifier without periodic work starts no thread) and is fork-safe: a
forked child does not inherit the parent's scheduler thread, so the first use in
the child starts a fresh, empty scheduler instead of talking to a dead one.

Every job is coalesced (``max_instances=1``): after a stall (a suspended laptop, a
GIL-bound step) at most one run happens, never a backlog.

Example:
    >>> scheduler = Scheduler()
    >>> job = scheduler.add_interval_job(lambda: None, 60.0, name="tick")
    >>> job.remove()
    >>> scheduler.shutdown()
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import uuid
from collections.abc import Callable
from typing import Any

from alertcb.validate import check_number

logger = logging.getLogger("alertcb")

__all__ = ["Job", "Scheduler"]


class Job:
    """A handle on one scheduled interval job; `remove` stops it (safe to call twice).

    Attributes:
        id, name: as given to `Scheduler.add_interval_job`.
        interval_s: seconds between runs.
        misfire_grace_s: how late a run may still start (whole seconds, >= 1).
        coalesce, max_instances: always True and 1 (no backlog, no overlap).
    """

    coalesce = True
    max_instances = 1

    def __init__(
        self, scheduler: Scheduler, job_id: str, name: str, interval_s: float, misfire_grace_s: int
    ) -> None:
        self.scheduler = scheduler
        self.id = job_id
        self.name = name
        self.interval_s = interval_s
        self.misfire_grace_s = misfire_grace_s

    def remove(self) -> None:
        """Stop the job. Harmless when it is already gone or the scheduler stopped."""
        self.scheduler.remove(self.id)

    def __repr__(self) -> str:
        return f"Job(id={self.id!r}, name={self.name!r})"


class Scheduler:
    """A lazily started, fork-safe background scheduler for interval jobs.

    Args:
        max_workers: threads that run jobs. Defaults to 2 (a hang check and a digest).
    """

    def __init__(self, *, max_workers: int = 2) -> None:
        check_number("max_workers", max_workers, minimum=1, integer=True)
        self.max_workers = int(max_workers)
        self._lock = threading.Lock()
        self._impl: Any = None
        self._pid = os.getpid()
        self._closed = False

    @property
    def running(self) -> bool:
        """Whether a scheduler thread was started in this process and not shut down."""
        return self._impl is not None and self._pid == os.getpid() and not self._closed

    def add_interval_job(
        self,
        fn: Callable[[], Any],
        interval_s: float,
        *,
        name: str = "alertcb job",
        job_id: str | None = None,
        misfire_grace_s: float | None = None,
    ) -> Job:
        """Run ``fn()`` every ``interval_s`` seconds on a scheduler thread.

        Args:
            fn: the job; it must catch its own exceptions (a raised one is logged).
            interval_s: seconds between runs (> 0).
            name: shown in logs.
            job_id: an id; a job with the same id is replaced. Defaults to a fresh one.
            misfire_grace_s: how late a run may still start. Defaults to one interval.

        Returns:
            The `Job`; ``job.remove()`` stops it.
        """
        check_number("interval_s", interval_s, minimum=0, strict_minimum=True)
        grace = max(1, int(interval_s if misfire_grace_s is None else misfire_grace_s))
        ident = job_id or f"alertcb-{uuid.uuid4().hex[:12]}"
        self._started().add_job(
            fn,
            trigger="interval",
            seconds=float(interval_s),
            id=ident,
            name=name,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=grace,
            replace_existing=True,
        )
        return Job(self, ident, name, float(interval_s), grace)

    def remove(self, job_id: str) -> None:
        """Remove the job ``job_id``; harmless when it is gone or the scheduler stopped."""
        impl = self._impl if self._pid == os.getpid() else None
        if impl is None:
            return
        try:
            impl.remove_job(job_id)
        except Exception as exc:  # noqa: BLE001 - JobLookupError / scheduler shut down
            logger.debug("alertcb: scheduler job %s already gone: %s", job_id, exc)

    def job_ids(self) -> list[str]:
        """The ids of the scheduled jobs (empty before the first job)."""
        impl = self._impl if self._pid == os.getpid() else None
        return [] if impl is None else [job.id for job in impl.get_jobs()]

    def get_jobs(self) -> list[Job]:
        """The scheduled jobs as `Job` handles."""
        impl = self._impl if self._pid == os.getpid() else None
        if impl is None:
            return []
        return [
            Job(self, j.id, j.name, j.trigger.interval.total_seconds(), int(j.misfire_grace_time or 1))
            for j in impl.get_jobs()
        ]

    def shutdown(self) -> None:
        """Stop the scheduler thread without waiting for a running job (idempotent)."""
        with self._lock:
            impl, self._impl = self._impl, None
            self._closed = True
            forked = self._pid != os.getpid()
        if impl is not None and not forked:
            with contextlib.suppress(Exception):
                impl.shutdown(wait=False)

    def _started(self) -> Any:
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's thread does not exist here
                self._impl, self._pid, self._closed = None, os.getpid(), False
            if self._closed:
                raise RuntimeError("alertcb: the scheduler was shut down")
            if self._impl is None:
                from apscheduler.executors.pool import ThreadPoolExecutor
                from apscheduler.schedulers.background import BackgroundScheduler

                impl = BackgroundScheduler(
                    executors={"default": ThreadPoolExecutor(max_workers=self.max_workers)},
                    job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
                    daemon=True,
                )
                impl.start()
                self._impl = impl
            return self._impl

    def __repr__(self) -> str:
        return f"Scheduler(running={self.running}, jobs={len(self.job_ids())})"
