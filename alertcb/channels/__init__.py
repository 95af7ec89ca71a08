"""Destinations. Every channel implements `Channel` (build payload, one attempt, classify).

`CHANNEL_TYPES` maps a configuration ``type = "..."`` to its class.
"""

from alertcb.channels.alertmanager import Alertmanager
from alertcb.channels.base import Channel, Outcome, SendContext
from alertcb.channels.console import Console
from alertcb.channels.email import Email
from alertcb.channels.pagerduty import PagerDuty
from alertcb.channels.slack import Slack
from alertcb.channels.webhook import Webhook
from alertcb.channels.wecom import WeCom
from alertcb.notification import Attachment, Notification

CHANNEL_TYPES: dict[str, type[Channel]] = {
    "alertmanager": Alertmanager,
    "console": Console,
    "email": Email,
    "pagerduty": PagerDuty,
    "slack": Slack,
    "webhook": Webhook,
    "wecom": WeCom,
}

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
