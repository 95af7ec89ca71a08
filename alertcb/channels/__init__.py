"""Destinations. Every channel implements `Channel` (build payload, one attempt, classify).

`CHANNEL_TYPES` maps a configuration ``type = "..."`` to its class. Channel modules are
imported on first use, so ``import alertcb`` does not pay for smtplib, ssl and friends.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

from alertcb.channels.base import Channel, Outcome, SendContext
from alertcb.notification import Attachment, Notification

if _typing.TYPE_CHECKING:
    from alertcb.channels.alertmanager import Alertmanager
    from alertcb.channels.console import Console
    from alertcb.channels.email import Email
    from alertcb.channels.pagerduty import PagerDuty
    from alertcb.channels.slack import Slack
    from alertcb.channels.webhook import Webhook
    from alertcb.channels.wecom import WeCom

#: Configuration ``type`` → (module, class name).
_TYPES = {
    "alertmanager": ("alertmanager", "Alertmanager"),
    "console": ("console", "Console"),
    "email": ("email", "Email"),
    "pagerduty": ("pagerduty", "PagerDuty"),
    "slack": ("slack", "Slack"),
    "webhook": ("webhook", "Webhook"),
    "wecom": ("wecom", "WeCom"),
}
_CLASSES = {cls: module for module, cls in _TYPES.values()}


def __getattr__(name: str) -> _typing.Any:
    if name in _CLASSES:
        return getattr(_importlib.import_module(f"alertcb.channels.{_CLASSES[name]}"), name)
    if name == "CHANNEL_TYPES":
        return {kind: __getattr__(cls) for kind, (_, cls) in _TYPES.items()}
    raise AttributeError(f"module 'alertcb.channels' has no attribute {name!r}")


CHANNEL_TYPES: dict[str, type[Channel]]

__all__ = [
    "Alertmanager",
    "Attachment",
    "CHANNEL_TYPES",
    "Channel",
    "Console",
    "Email",
    "Notification",
    "Outcome",
    "PagerDuty",
    "SendContext",
    "Slack",
    "WeCom",
    "Webhook",
]
