"""Secrets never show: reprs, stats, logs and exceptions are scrubbed."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path
from typing import Any, ClassVar

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


# ---------------------------------------------------------------- issue 13 #8
@pytest.mark.parametrize(
    "source",
    [
        ("toml", '[channels.h]\ntype = "webhook"\nurl = "https://hooks.example.com/x"\n'
                 'headers = "Authorization: Bearer {tok}"\n'),
        ("env", "Authorization: Bearer {tok},junk"),
        ("env", "Authorization=Bearer {tok},junk"),
    ],
    ids=["toml-string", "env-colon", "env-junk-pair"],
)
def test_malformed_headers_do_not_echo_the_token(tmp_path: Path, canary: str, source: tuple[str, str]) -> None:
    """A malformed `headers` value is a ConfigError naming where it was set, without the token."""
    from alertcb.config import config_from_env, load_config
    from alertcb.errors import ConfigError

    how, text = source
    with pytest.raises(ConfigError) as info:
        if how == "toml":
            path = tmp_path / "a.toml"
            path.write_text(text.format(tok=canary), encoding="utf-8")
            load_config(path, environ={})
        else:
            config_from_env({"ALERTCB_WEBHOOK_URL": "https://hooks.example.com/x",
                             "ALERTCB_WEBHOOK_HEADERS": text.format(tok=canary)})
    assert canary not in str(info.value) + repr(info.value)
    assert info.value.field == ("channels.h.headers" if how == "toml" else "ALERTCB_WEBHOOK_HEADERS")


def test_crash_text_quoting_a_configured_url_is_scrubbed(tmp_path: Path, canary: str) -> None:
    """A user exception whose message contains the webhook URL is stored and sent scrubbed."""
    import json

    from alertcb.channels import Webhook
    from alertcb.testing import RecordingChannel

    url = f"https://hooks.example.com/services/{canary}"
    recorder = RecordingChannel()
    webhook = Webhook(url=url, name="hook")
    notifier = Notifier([recorder], run_name="crashy", run_dir=tmp_path, outbox=False, group_wait_s=0)
    assert webhook.name == "hook"  # configured, so its URL is a known secret
    try:
        with pytest.raises(RuntimeError), notifier.watch():
            raise RuntimeError(f"POST {url} failed (token {canary})")
    finally:
        notifier.close(5)
    [crash] = [e for e in recorder.events if e.kind == "crash"]
    sent = json.dumps(crash.to_dict())
    assert "RuntimeError" in crash.message
    assert canary not in sent
    stored = "".join(p.read_text(encoding="utf-8") for p in tmp_path.rglob("*.jsonl"))
    assert "RuntimeError" in stored and canary not in stored


def test_event_text_with_a_known_secret_is_masked_at_creation(canary: str) -> None:
    """Any Event (emitted by user code too) masks registered secret values in all its text."""
    from alertcb import Event

    Secret(canary)
    event = Event(kind="custom", title=f"t {canary}", message=canary,
                  details={"k": [f"x{canary}"], canary: 1}, metrics={canary: 1.0})
    assert canary not in repr(event.to_dict())


def test_alertmanager_keeps_basic_auth_out_of_its_attributes(canary: str) -> None:
    """vars(channel) holds no clear Basic-auth password; `urls` shows it masked; sending unwraps it."""
    from alertcb.channels import Alertmanager

    channel = Alertmanager(urls=[f"https://ops:{canary}@am.example.com:9093", "http://127.0.0.1:9093"])
    assert canary not in repr(vars(channel)) + repr(channel.urls) + repr(channel.describe())
    assert channel.urls == ["https://ops:***@am.example.com:9093/api/v2/alerts", "http://127.0.0.1:9093/api/v2/alerts"]
    assert canary in channel._urls[0].get()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "build",
    [
        lambda s: ("Slack", {"webhook_url": f"https://hooks.slack.com/services/T1/B2/{s}"}),
        lambda s: ("WeCom", {"key": s}),
        lambda s: ("PagerDuty", {"routing_key": s[-32:]}),
        lambda s: ("Email", {"host": "smtp.example.com", "sender": "a@example.com", "to": ["b@example.com"],
                             "username": "u", "password": s}),
        lambda s: ("Webhook", {"url": "https://h.example.com/x", "secret": s,
                               "headers": {"Authorization": f"Bearer {s}"}}),
        lambda s: ("Alertmanager", {"urls": [f"https://ops:{s}@am.example.com"]}),
    ],
    ids=["slack-url", "wecom-key", "pagerduty-key", "email-password", "webhook-secret-header", "am-basic"],
)
def test_every_configured_secret_is_registered(build: Any) -> None:
    """Constructing a channel registers its secrets, so scrub() and Event text mask them."""
    import uuid

    import alertcb.channels
    from alertcb import Event

    token = f"tok{uuid.uuid4().hex}"  # fresh: not registered by an earlier test
    name, kwargs = build(token)
    getattr(alertcb.channels, name)(**kwargs)
    token = token[-32:] if name == "PagerDuty" else token
    assert token not in scrub(f"boom {token}!")
    assert token not in repr(Event(kind="custom", title=f"x {token}").to_dict())
