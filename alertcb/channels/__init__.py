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
    from alertcb.channels.apprise import Apprise
    from alertcb.channels.console import Console
    from alertcb.channels.dingtalk import DingTalk
    from alertcb.channels.discord import Discord
    from alertcb.channels.email import Email
    from alertcb.channels.feishu import Feishu, Lark
    from alertcb.channels.pagerduty import PagerDuty
    from alertcb.channels.slack import Slack
    from alertcb.channels.teams import Teams
    from alertcb.channels.telegram import Telegram
    from alertcb.channels.webhook import Webhook
    from alertcb.channels.wecom import WeCom

#: Configuration ``type`` → (module, class name).
_TYPES = {
    "alertmanager": ("alertmanager", "Alertmanager"),
    "apprise": ("apprise", "Apprise"),
    "console": ("console", "Console"),
    "dingtalk": ("dingtalk", "DingTalk"),
    "discord": ("discord", "Discord"),
    "email": ("email", "Email"),
    "feishu": ("feishu", "Feishu"),
    "lark": ("feishu", "Lark"),
    "pagerduty": ("pagerduty", "PagerDuty"),
    "slack": ("slack", "Slack"),
    "teams": ("teams", "Teams"),
    "telegram": ("telegram", "Telegram"),
    "webhook": ("webhook", "Webhook"),
    "wecom": ("wecom", "WeCom"),
}
_CLASSES = {cls: module for module, cls in _TYPES.values()}
#: Registries configured like channels (``[channels.x] type = "mlflow"``): type → (module, class).
_REGISTRY_TYPES = {"mlflow": ("alertcb.registry.mlflow", "MlflowRegistry")}


def __getattr__(name: str) -> _typing.Any:
    if name in _CLASSES:
        return getattr(_importlib.import_module(f"alertcb.channels.{_CLASSES[name]}"), name)
    if name == "CHANNEL_TYPES":
        registries = {kind: getattr(_importlib.import_module(m), c) for kind, (m, c) in _REGISTRY_TYPES.items()}
        return {**{kind: __getattr__(cls) for kind, (_, cls) in _TYPES.items()}, **registries}
    raise AttributeError(f"module 'alertcb.channels' has no attribute {name!r}")


CHANNEL_TYPES: dict[str, type[Channel]]

__all__ = [
    "Alertmanager",
    "Apprise",
    "Attachment",
    "CHANNEL_TYPES",
    "Channel",
    "Console",
    "DingTalk",
    "Discord",
    "Email",
    "Feishu",
    "Lark",
    "Notification",
    "Outcome",
    "PagerDuty",
    "SendContext",
    "Slack",
    "Teams",
    "Telegram",
    "WeCom",
    "Webhook",
]
