"""The channel registry and constructor conventions the config loader relies on."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import typing
from pathlib import Path

import pytest

import alertcb.channels
from alertcb.channels import (
    CHANNEL_TYPES,
    Alertmanager,
    Apprise,
    Channel,
    DingTalk,
    Discord,
    Email,
    Feishu,
    Lark,
    PagerDuty,
    Slack,
    Teams,
    Telegram,
    Webhook,
    WeCom,
)
from alertcb.config import parse_config
from alertcb.errors import ConfigError

NEW_TYPES = {"wecom": WeCom, "slack": Slack, "email": Email, "webhook": Webhook, "pagerduty": PagerDuty, "alertmanager": Alertmanager,
             "dingtalk": DingTalk, "feishu": Feishu, "lark": Lark, "teams": Teams, "discord": Discord, "telegram": Telegram,
             "apprise": Apprise}


def test_registry_maps_type_names_to_classes() -> None:
    """CHANNEL_TYPES has every built-in channel under its `type` name."""
    assert NEW_TYPES.items() <= CHANNEL_TYPES.items()
    assert all(name == cls.type for name, cls in CHANNEL_TYPES.items())


def test_everything_is_exported() -> None:
    """Every Channel subclass defined in a channel module is in __all__ and CHANNEL_TYPES; __all__ is sorted.

    The modules are walked on disk (``dir()`` cannot see lazily loaded classes), so a new
    channel file that is not registered fails here.
    """
    package = Path(alertcb.channels.__file__).parent
    defined: dict[str, type[Channel]] = {}
    for info in pkgutil.iter_modules([str(package)]):
        if info.name.startswith("_") or info.name == "base":
            continue
        module = importlib.import_module(f"alertcb.channels.{info.name}")
        for attr, obj in vars(module).items():
            if (
                not attr.startswith("_") and inspect.isclass(obj) and issubclass(obj, Channel)
                and obj.__module__ == module.__name__
            ):
                defined[attr] = obj
    assert len(defined) >= len(NEW_TYPES) + 1  # the six services and the console at least
    assert set(defined) <= set(alertcb.channels.__all__)
    assert set(defined.values()) == {c for c in CHANNEL_TYPES.values() if c.__module__.startswith("alertcb.channels.")}
    for name in alertcb.channels.__all__:
        assert getattr(alertcb.channels, name) is not None
    assert sorted(alertcb.channels.__all__) == alertcb.channels.__all__


@pytest.mark.parametrize("cls", NEW_TYPES.values(), ids=NEW_TYPES.keys())
def test_constructors_are_keyword_only_and_typed(cls: type[Channel]) -> None:
    """Keyword-only parameters, all type-hinted, no **kwargs, and the Channel options explicit."""
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    assert all(p.kind is p.KEYWORD_ONLY for p in params)
    hints = typing.get_type_hints(cls.__init__)
    assert all(p.name in hints for p in params)
    assert {"name", "min_severity", "kinds", "rate_limit_per_min"} <= {p.name for p in params}


def test_service_budgets() -> None:
    """Class attributes the dispatcher reads: rate limits and the Alertmanager re-send interval."""
    assert (20, 60, 120) == (WeCom.default_rate_limit_per_min, Slack.default_rate_limit_per_min, PagerDuty.default_rate_limit_per_min)
    assert 60.0 == Alertmanager.resend_interval_s
    assert 15.0 == Alertmanager(urls=["http://127.0.0.1:9093"], resend_interval_s=15).resend_interval_s


def test_config_builds_every_channel() -> None:
    """A TOML-shaped config builds each type; describe() works for check-config."""
    config = parse_config(
        {
            "channels": {
                "team-wecom": {"type": "wecom", "key": "k-1234567890", "mention_all_on_critical": True},
                "slack": {"type": "slack", "webhook_url": "https://hooks.slack.com/services/T1/B2/abcdefgh12345678", "min_severity": "warning"},
                "mail": {"type": "email", "host": "smtp.example.com", "sender": "a@example.com", "to": ["b@example.com"], "kinds": ["summary"]},
                "hook": {"type": "webhook", "url": "https://example.com/hook", "headers": {"X-Team": "ml"}, "secret": "s3cret-value"},
                "oncall": {"type": "pagerduty", "routing_key": "a" * 32, "min_severity": "critical"},
                "am": {"type": "alertmanager", "urls": ["http://127.0.0.1:9093"], "resend_interval_s": 30, "labels": {"team": "ml"}},
            }
        }
    )
    assert {"team-wecom", "slack", "mail", "hook", "oncall", "am"} == {c.name for c in config.channels}
    assert config.describe()["channels"]["oncall"]["routing_key"] == "***"


def test_config_error_is_prefixed_with_the_channel() -> None:
    """A channel's ConfigError comes out as channels.<name>.<field>."""
    with pytest.raises(ConfigError) as info:
        parse_config({"channels": {"oncall": {"type": "pagerduty", "routing_key": "short"}}})
    assert "channels.oncall.routing_key" == info.value.field


def test_import_alertcb_does_not_load_channel_modules() -> None:
    """`import alertcb` loads no channel module besides the console (they load on first use)."""
    import subprocess
    import sys

    code = "import sys, alertcb; alertcb.Notifier; print(sorted(m for m in sys.modules if m.startswith('alertcb.channels.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['alertcb.channels.base', 'alertcb.channels.console']"


def test_chat_service_budgets() -> None:
    """The documented per-service budgets (SERVICES-2.md) the dispatcher's bucket uses."""
    budgets = {cls.type: (cls.default_rate_limit_per_min, cls.default_burst) for cls in (DingTalk, Feishu, Lark, Teams, Discord, Telegram)}
    assert {"dingtalk": (20, 1), "feishu": (100, 5), "lark": (100, 5), "teams": (60, 4), "discord": (30, 5), "telegram": (20, 3)} == budgets


def test_toml_and_environment_build_the_chat_channels() -> None:
    """TOML `type = "dingtalk"` etc. and ALERTCB_<TYPE>_<FIELD> both build them; secrets stay masked."""
    from alertcb.config import config_from_env

    config = parse_config(
        {
            "channels": {
                "dt": {"type": "dingtalk", "access_token": "tok-1234567890", "secret": "SECabc123", "at_mobiles": ["138"], "at_all_on_critical": True},
                "fs": {"type": "feishu", "webhook_url": "https://open.feishu.cn/open-apis/bot/v2/hook/abc-123-def", "keyword": "alertcb"},
                "lk": {"type": "lark", "webhook_url": "https://open.larksuite.com/open-apis/bot/v2/hook/abc-123-def"},
                "ms": {"type": "teams", "webhook_url": "https://x.logic.azure.com/workflows/1/invoke?sv=1.0&sig=abcdefgh123"},
                "dc": {"type": "discord", "webhook_url": "https://discord.com/api/webhooks/1/abcdefghijklmnop1234", "mention_user_ids": ["42"]},
                "tg": {"type": "telegram", "bot_token": "123456:" + "A" * 30, "chat_id": -1001234},
                "ap": {"type": "apprise", "urls": ["jsons://hooks.example.com/alertcb"], "max_attempts": 5},
            }
        }
    )
    described = json.dumps(config.describe())
    assert "tok-1234567890" not in described and "abcdefgh123" not in described and "A" * 30 not in described
    assert {"dingtalk", "feishu", "lark", "teams", "discord", "telegram", "apprise"} == {c.type for c in config.channels}
    env = {
        "ALERTCB_DINGTALK_WEBHOOK_URL": "https://oapi.dingtalk.com/robot/send?access_token=tok-1234567890",
        "ALERTCB_DINGTALK_AT_ALL_ON_CRITICAL": "true",
        "ALERTCB_TELEGRAM_BOT_TOKEN": "123456:" + "B" * 30,
        "ALERTCB_TELEGRAM_CHAT_ID": "-100777",
        "ALERTCB_APPRISE_URLS": "jsons://a.example.com/x,jsons://b.example.com/y",
        "ALERTCB_DISCORD_MENTION_USER_IDS": "1,2",
    }
    with pytest.raises(ConfigError) as info:
        config_from_env(env)
    assert "ALERTCB_DISCORD_WEBHOOK_URL" == info.value.field
    del env["ALERTCB_DISCORD_MENTION_USER_IDS"]
    built = {c.type: c for c in config_from_env(env).channels}
    assert built["dingtalk"].at_all_on_critical is True  # type: ignore[attr-defined]
    assert "-100777" == built["telegram"].chat_id  # type: ignore[attr-defined]
    assert 2 == len(built["apprise"].describe()["urls"])
