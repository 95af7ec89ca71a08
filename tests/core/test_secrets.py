"""Secrets never show: reprs, stats, logs and exceptions are scrubbed."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path
from typing import ClassVar

import pytest

from alertcb import Notifier, Secret
from alertcb.channels.base import Channel, Outcome, SendContext
from alertcb.notification import Notification
from alertcb.redact import redact_url, scrub


class LeakyChannel(Channel):
    """A channel whose errors carry its credential (as careless code would)."""

    type: ClassVar[str] = "leaky"

    def __init__(self, token: str) -> None:
        super().__init__(name="leaky")
        self.token = Secret(token)

    def send(self, notification: Notification, ctx: SendContext) -> Outcome:
        raise ConnectionError(f"cannot reach https://api.example.com/send?key={self.token.get()}")


def test_secret_hides_its_value(canary: str) -> None:
    """Secret shows *** in repr/str/format and refuses to be pickled."""
    secret = Secret(canary)
    assert canary not in repr(secret) + str(secret) + f"{secret}" + repr([secret])
    assert secret.get() == canary
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_scrub_masks_registered_values_and_url_credentials(canary: str) -> None:
    """scrub() removes registered secrets (also URL-encoded) and key=/token= query values."""
    Secret(canary + "/x y")
    assert canary not in scrub(f"boom {canary}/x%20y and {canary}/x y")
    assert scrub("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abcdef123") == (
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=***"
    )
    assert redact_url(f"https://hooks.slack.com/services/{canary}") == "https://hooks.slack.com/***"


def test_channel_exception_with_secret_is_scrubbed_everywhere(tmp_path: Path, canary: str, caplog) -> None:
    """An exception text containing the key reaches neither logs nor stats (the autouse fixture scans logs)."""
    from alertcb import _guard

    caplog.set_level(logging.DEBUG, logger="alertcb")
    notifier = Notifier([LeakyChannel(canary)], run_name="t", run_dir=tmp_path, deadline_s=0.3,
                        retry_base_s=0.05, group_wait_s=0)
    notifier.alert("x", severity="critical")
    assert notifier.flush(5) == 0
    stats = notifier.stats()
    notifier.close()
    assert stats["destinations"]["leaky"]["failed"] == {"deadline": 1}
    assert "ConnectionError" in stats["destinations"]["leaky"]["last_error"]
    assert canary not in repr(stats) + repr(notifier) + caplog.text
    assert all(canary not in e for e in _guard.internal_errors)
    _guard.internal_errors.clear()  # this test provokes channel errors on purpose


def test_notifier_repr_names_channels_only(tmp_path: Path, canary: str) -> None:
    """repr(Notifier) shows channel names, never their settings."""
    notifier = Notifier([LeakyChannel(canary)], run_name="t", run_dir=tmp_path)
    assert repr(notifier) == "Notifier(run_name='t', channels=[leaky])"
    notifier.close(0)
