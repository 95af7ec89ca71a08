"""Channels with scripted behaviour for dispatcher tests."""

from __future__ import annotations

import threading
from typing import ClassVar

from alertcb.channels.base import Channel, Outcome, SendContext
from alertcb.notification import Notification


class BlockingChannel(Channel):
    """A channel whose send blocks until ``gate`` is set (forever by default)."""

    type: ClassVar[str] = "blocking"

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.sent: list[Notification] = []

    def send(self, notification: Notification, ctx: SendContext) -> Outcome:
        self.entered.set()
        self.gate.wait()
        self.sent.append(notification)
        return Outcome.delivered()


class ScriptedChannel(Channel):
    """Returns the scripted outcomes in order, then delivers."""

    type: ClassVar[str] = "scripted"

    def __init__(self, outcomes: list[Outcome], *, name: str | None = None, rate_limit_per_min: float | None = None):
        super().__init__(name=name, rate_limit_per_min=rate_limit_per_min)
        self.outcomes = list(outcomes)
        self.attempt_times: list[float] = []
        self.delivered: list[Notification] = []

    def send(self, notification: Notification, ctx: SendContext) -> Outcome:
        import time

        self.attempt_times.append(time.monotonic())
        outcome = self.outcomes.pop(0) if self.outcomes else Outcome.delivered()
        if outcome.verdict == "delivered":
            self.delivered.append(notification)
        return outcome
