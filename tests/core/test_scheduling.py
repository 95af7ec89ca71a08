"""alertcb.scheduling: lazy start, interval jobs, removal, shutdown and fork safety."""

from __future__ import annotations

import os
import threading

import pytest

from alertcb.errors import ConfigError
from alertcb.scheduling import Scheduler


def _scheduler_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith("APScheduler"))


def test_no_thread_until_the_first_job() -> None:
    """Constructing a Scheduler (every Notifier has one) starts no thread."""
    before = _scheduler_threads()
    scheduler = Scheduler()
    assert (False, [], before) == (scheduler.running, scheduler.job_ids(), _scheduler_threads())
    job = scheduler.add_interval_job(lambda: None, 60.0, name="idle")
    try:
        assert scheduler.running
        assert [job.id] == scheduler.job_ids()
    finally:
        scheduler.shutdown()
    assert not scheduler.running


def test_job_runs_and_remove_stops_it() -> None:
    """An interval job runs repeatedly on a background thread until removed (twice is harmless)."""
    ran = threading.Event()
    runs: list[str] = []

    def tick() -> None:
        runs.append(threading.current_thread().name)
        if len(runs) >= 2:
            ran.set()

    scheduler = Scheduler()
    try:
        job = scheduler.add_interval_job(tick, 0.02, name="tick", misfire_grace_s=5)
        assert ran.wait(10)
        assert (True, 1, 5, 0.02) == (job.coalesce, job.max_instances, job.misfire_grace_s, job.interval_s)
        assert threading.current_thread().name not in runs
        job.remove()
        job.remove()
        assert [] == scheduler.get_jobs()
    finally:
        scheduler.shutdown()
    scheduler.shutdown()


def test_same_job_id_replaces() -> None:
    """Adding a job with an existing id replaces it instead of running two."""
    scheduler = Scheduler()
    try:
        scheduler.add_interval_job(lambda: None, 60, job_id="digest")
        scheduler.add_interval_job(lambda: None, 30, job_id="digest")
        [job] = scheduler.get_jobs()
        assert ("digest", 30.0) == (job.id, job.interval_s)
    finally:
        scheduler.shutdown()


@pytest.mark.parametrize("interval_s", [0, -1, float("nan"), "1h", None])
def test_bad_interval_is_a_config_error(interval_s: object) -> None:
    with pytest.raises(ConfigError, match="interval_s="):
        Scheduler().add_interval_job(lambda: None, interval_s)  # type: ignore[arg-type]


def test_add_after_shutdown_raises() -> None:
    scheduler = Scheduler()
    scheduler.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        scheduler.add_interval_job(lambda: None, 1.0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_a_working_scheduler_of_its_own() -> None:
    """After fork the parent's scheduler thread is gone in the child: the child starts a fresh one."""
    scheduler = Scheduler()
    scheduler.add_interval_job(lambda: None, 60.0, job_id="parent-job")
    try:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: never return into pytest
            code = 1
            try:
                fired = threading.Event()
                inherited = scheduler.job_ids()
                scheduler.add_interval_job(fired.set, 0.02, job_id="child-job")
                ok = fired.wait(10) and inherited == [] and scheduler.job_ids() == ["child-job"]
                os.write(write, b"ok" if ok else b"bad")
                scheduler.shutdown()
                code = 0
            finally:
                os._exit(code)
        os.close(write)
        answer = os.read(read, 16)
        os.close(read)
        _, status = os.waitpid(pid, 0)
        assert (b"ok", 0) == (answer, os.waitstatus_to_exitcode(status))
        assert ["parent-job"] == scheduler.job_ids()
    finally:
        scheduler.shutdown()
