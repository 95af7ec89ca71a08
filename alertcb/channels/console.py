"""Console: human-readable alerts on stderr through the ``alertcb`` logger."""

from __future__ import annotations

import logging
import sys
from typing import ClassVar

from alertcb.channels.base import Channel, Notification, Outcome, SendContext
from alertcb.events import Severity
from alertcb.render import template_name

logger = logging.getLogger("alertcb")

_LEVELS = {Severity.INFO: logging.INFO, Severity.WARNING: logging.WARNING, Severity.CRITICAL: logging.CRITICAL}


class Console(Channel):
    """Writes each notification to stderr (via ``logging.getLogger("alertcb")``).

    If the ``alertcb`` logger has no handler of its own, a stderr handler is added so
    alerts are visible with no logging configuration at all.

    Args:
        template: the template to render. Defaults to ``console/<alert|summary|progress>.txt.j2``.
        name, min_severity, kinds, rate_limit_per_min: as for every `Channel`.
    """

    type: ClassVar[str] = "console"

    def __init__(
        self,
        *,
        template: str | None = None,
        name: str | None = None,
        min_severity: str = "info",
        kinds: list[str] | None = None,
        rate_limit_per_min: float | None = None,
    ) -> None:
        super().__init__(name=name, min_severity=min_severity, kinds=kinds, rate_limit_per_min=rate_limit_per_min)
        self.template = template
        _ensure_handler()

    def send(self, notification: Notification, ctx: SendContext) -> Outcome:
        text = ctx.render(self.template or template_name("console", notification, "txt.j2"), notification)
        logger.log(_LEVELS.get(notification.severity, logging.WARNING), "%s", text)
        return Outcome.delivered()


def _ensure_handler() -> None:
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[alertcb] %(message)s"))
        logger.addHandler(handler)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)
