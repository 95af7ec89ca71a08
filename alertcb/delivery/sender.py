"""One destination's sender thread (``alertcb-send-<name>``) and the one attempt it makes.

A `Lane` hands its `Sender` one batch of attempts at a time; the thread runs them in order
and the lane reports each outcome back to the dispatcher thread, which owns every count.
A hung destination therefore holds only its own thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from alertcb._guard import capture_internal_error
from alertcb.channels.base import Channel, Outcome, SendContext, TransportError
from alertcb.notification import Notification
from alertcb.redact import scrub

Job = Callable[[], None]


def attempt(channel: Channel, notification: Notification, ctx: SendContext) -> Outcome:
    """One ``channel.send``. Never raises: a transport error retries, a broken channel is
    logged (redacted) and retried."""
    try:
        return channel.send(notification, ctx)
    except TransportError as exc:
        return Outcome.retry(str(exc))
    except Exception as exc:  # noqa: BLE001 - a broken channel must not kill the thread
        capture_internal_error(f"channel {channel.name}", exc)
        return Outcome.retry(f"channel error {type(exc).__name__}: {scrub(str(exc))}")


class Sender:
    """A daemon thread running one destination's jobs, started lazily.

    Args:
        name: the destination's name (the thread is ``alertcb-send-<name>``).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._jobs: queue.SimpleQueue[Job | None] | None = None
        self._thread: threading.Thread | None = None

    def submit(self, job: Job) -> None:
        """Run ``job`` on the sender thread (starting it if needed)."""
        if self._thread is None or self._jobs is None:
            self._jobs = queue.SimpleQueue()
            self._thread = threading.Thread(
                target=_loop, args=(self._jobs,), name=f"alertcb-send-{self.name}", daemon=True
            )
            self._thread.start()
        self._jobs.put(job)

    def stop(self, timeout_s: float) -> bool:
        """Stop the thread; False if it is stuck in an attempt (it is abandoned: daemon)."""
        if self._thread is None or self._jobs is None:
            return True
        self._jobs.put(None)
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def forget(self) -> None:
        """In a forked child: the parent's thread does not exist here."""
        self._jobs = None
        self._thread = None


def _loop(jobs: queue.SimpleQueue[Job | None]) -> None:
    while True:
        job = jobs.get()
        if job is None:
            return
        job()
