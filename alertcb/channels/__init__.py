"""Destinations. Every channel implements `Channel` (build payload, one attempt, classify)."""

from alertcb.channels.base import Channel, Outcome, SendContext
from alertcb.channels.console import Console
from alertcb.notification import Attachment, Notification

__all__ = ["Attachment", "Channel", "Console", "Notification", "Outcome", "SendContext"]
