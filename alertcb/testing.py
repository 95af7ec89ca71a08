"""Helpers for testing code that uses alertcb (public API, like ``structlog.testing``).

Example:
    >>> from alertcb.testing import RecordingChannel, capture_events
    >>> with capture_events() as events:
    ...     notifier.alert("data drift")  # doctest: +SKIP
    >>> [e.title for e in events]  # doctest: +SKIP
    ['data drift']
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import ClassVar

from alertcb.channels.base import Channel, Outcome, SendContext
from alertcb.events import Event, Severity
from alertcb.notification import Notification
from alertcb.render import template_name


class RecordingChannel(Channel):
    """Keeps every notification delivered to it in ``.notifications``.

    Args:
        name: destination name. Defaults to ``"recording"``.
        min_severity: as for every `Channel`.
        kinds: as for every `Channel`.
        rate_limit_per_min: as for every `Channel` (None: unlimited).
        outcome: a callable ``(notification) -> Outcome`` to script failures; the default delivers.
        render: also render the console template (checks templates in users' tests).
    """

    type: ClassVar[str] = "recording"

    def __init__(
        self,
        *,
        name: str | None = None,
        min_severity: Severity | str = "info",
        kinds: list[str] | None = None,
        rate_limit_per_min: float | None = None,
        outcome: Callable[[Notification], Outcome] | None = None,
        render: bool = True,
    ) -> None:
        super().__init__(name=name, min_severity=min_severity, kinds=kinds, rate_limit_per_min=rate_limit_per_min)
        self.notifications: list[Notification] = []
        self.texts: list[str] = []
        self.attempts = 0
        self._outcome = outcome
        self._render = render
        self._lock = threading.Lock()

    def send(self, notification: Notification, ctx: SendContext) -> Outcome:
        with self._lock:
            self.attempts += 1
        outcome = self._outcome(notification) if self._outcome else Outcome.delivered()
        if outcome.verdict == "delivered":
            text = ctx.render(template_name("console", notification, "txt.j2"), notification) if self._render else ""
            with self._lock:
                self.notifications.append(notification)
                self.texts.append(text)
        return outcome

    @property
    def events(self) -> list[Event]:
        """Every event of every delivered notification, in order."""
        return [e for n in self.notifications for e in n.events]


@contextlib.contextmanager
def capture_events() -> Iterator[list[Event]]:
    """Collect every `Event` emitted by any Notifier while active (synchronously, before grouping)."""
    from alertcb import notifier as notifier_module

    captured: list[Event] = []
    notifier_module._global_listeners.append(captured.append)
    try:
        yield captured
    finally:
        notifier_module._global_listeners.remove(captured.append)
