"""Configuration: TOML and ALERTCB_* variables; every mistake names its field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from alertcb import ConfigError, Notifier
from alertcb.config import config_from_env, env_variable_names, load_config, parse_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "alertcb.toml"
    path.write_text(text)
    return path


def test_full_file_builds_channels_with_interpolated_secrets(tmp_path: Path, canary: str) -> None:
    """A valid file builds every channel; ${VAR} comes from the environment."""
    path = write(
        tmp_path,
        """
[alertcb]
run_name = "exp42"
flush_timeout_s = 3
group_wait_s = 0
labels = { team = "vision" }

[channels.team-wecom]
type = "wecom"
key = "${WECOM_KEY}"
min_severity = "warning"

[channels.ops-slack]
type = "slack"
webhook_url = "https://hooks.slack.com/services/T0/B0/${SLACK_TOKEN}"
kinds = ["summary", "crash"]
""",
    )
    config = load_config(path, environ={"WECOM_KEY": canary, "SLACK_TOKEN": canary})
    assert [c.name for c in config.channels] == ["team-wecom", "ops-slack"]
    assert config.notifier == {"run_name": "exp42", "flush_timeout_s": 3.0, "group_wait_s": 0.0,
                               "labels": {"team": "vision"}}
    assert canary not in repr(config.describe())
    assert canary not in repr(config.channels)


@pytest.mark.parametrize(
    ("text", "field", "expected"),
    [
        ('[channels.x]\ntype = "pager"\n', "channels.x.type", "unknown channel type"),
        ("[channels.x]\nmin_severity = 'info'\n", "channels.x.type", "missing"),
        ('[channels.x]\ntype = "slack"\n', "channels.x.webhook_url", "missing required"),
        ('[channels.x]\ntype = "slack"\nwebhook_url = "https://h/x"\nwebhok = 1\n', "channels.x.webhok", "unknown field"),
        ('[channels.x]\ntype = "slack"\nwebhook_url = 5\n', "channels.x.webhook_url", "expected"),
        ('[channels.x]\ntype = "slack"\nwebhook_url = "ftp://h/x"\n', "channels.x.webhook_url", "http"),
        ('[channels.x]\ntype = "slack"\nwebhook_url = "http://example.com/x"\n', "channels.x.webhook_url", "http://"),
        ('[channels.x]\ntype = "slack"\nwebhook_url = "https://h/x"\nmin_severity = "loud"\n',
         "channels.x.min_severity", "expected one of"),
        ('[channels.x]\ntype = "slack"\nwebhook_url = "https://h/x"\nkinds = ["nan"]\n', "channels.x.kinds", "unknown kind"),
        ('[channels.x]\ntype = "wecom"\n', "channels.x.key", "key"),
        ('[channels.x]\ntype = "webhook"\nurl = "${NOPE}"\n', "channels.x.url", "NOPE is not set"),
        ("[alertcb]\nflush_timeout = 3\n", "alertcb.flush_timeout", "unknown field"),
        ('[alertcb]\nqueue_size = "big"\n', "alertcb.queue_size", "expected an integer"),
        ("[alertcb]\nrate_limits = 1\n", "alertcb.rate_limits", "expected true or false"),
        ("[alertcb]\nsend_from = 'everyone'\n", "alertcb.send_from", "'chief'"),
        ("[notifier]\nx = 1\n", "notifier", "unknown top-level"),
    ],
)
def test_every_mistake_names_its_field(tmp_path: Path, text: str, field: str, expected: str) -> None:
    """Each configuration mistake raises ConfigError naming the field and what was expected."""
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), environ={})
    assert info.value.field == field
    assert expected in info.value.problem


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    """Unreadable or malformed files are ConfigErrors too."""
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[alertcb\n"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml")


def test_bad_values_are_not_echoed_for_secret_fields(tmp_path: Path, canary: str) -> None:
    """An error about a secret-looking field never repeats the value."""
    path = write(tmp_path, f'[channels.x]\ntype = "slack"\nwebhook_url = "http://example.com/{canary}"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert canary not in str(info.value)
    with pytest.raises(ConfigError) as info:
        parse_config({"channels": {"x": {"type": "wecom", "key": 12345}}})
    assert "12345" not in str(info.value)


def test_env_variables_configure_notifier_and_channels(canary: str) -> None:
    """ALERTCB_<OPTION> and ALERTCB_<TYPE>_<FIELD> build the same things as a file."""
    config = config_from_env(
        {
            "ALERTCB_RUN_NAME": "envrun",
            "ALERTCB_FLUSH_TIMEOUT_S": "2.5",
            "ALERTCB_RATE_LIMITS": "false",
            "ALERTCB_WECOM_KEY": canary,
            "ALERTCB_WECOM_MENTIONED_LIST": "alice,bob",
            "ALERTCB_ALERTMANAGER_URLS": "http://127.0.0.1:9093,http://127.0.0.1:9094",
        }
    )
    assert config.notifier == {"run_name": "envrun", "flush_timeout_s": 2.5, "rate_limits": False}
    assert sorted(c.name for c in config.channels) == ["alertmanager", "wecom"]
    assert canary not in repr(config.describe())


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"ALERTCB_FLUSH_TIMEOUT_S": "soon"}, "ALERTCB_FLUSH_TIMEOUT_S"),
        ({"ALERTCB_SLAK_WEBHOOK_URL": "https://x/y"}, "ALERTCB_SLAK_WEBHOOK_URL"),
        ({"ALERTCB_SLACK_WEBHOK_URL": "https://x/y"}, "ALERTCB_SLACK_WEBHOK_URL"),
        ({"ALERTCB_SLACK_WEBHOOK_URL": "http://example.com/x"}, "ALERTCB_SLACK_WEBHOOK_URL"),
    ],
)
def test_env_mistakes_name_the_variable(env: dict[str, str], field: str) -> None:
    """A bad ALERTCB_* variable raises ConfigError naming that variable."""
    with pytest.raises(ConfigError) as info:
        config_from_env(env)
    assert info.value.field == field


def test_notifier_constructor_validates_arguments(tmp_path: Path) -> None:
    """Bad Notifier arguments fail at construction, naming the argument."""
    for kwargs, field in [
        ({"queue_size": 0}, "queue_size"),
        ({"flush_timeout_s": -1}, "flush_timeout_s"),
        ({"channels": ["slack"]}, "channels"),
        ({"run_name": ""}, "run_name"),
        ({"labels": {"a": 1}}, "labels"),
    ]:
        with pytest.raises(ConfigError) as info:
            Notifier(run_dir=tmp_path, **kwargs)
        assert info.value.field == field


def test_from_config_builds_a_working_notifier(tmp_path: Path) -> None:
    """Notifier.from_config applies file options (overridable by keywords)."""
    path = write(tmp_path, '[alertcb]\nrun_name = "fromfile"\n[channels.c]\ntype = "console"\n')
    notifier = Notifier.from_config(path, run_dir=tmp_path)
    assert notifier.run.name == "fromfile"
    assert [c.name for c in notifier.channels] == ["c"]
    notifier.close()


def test_env_variable_names_cover_channel_fields() -> None:
    """The documented variable list is derived from the real schema."""
    names = env_variable_names()
    assert {"ALERTCB_SLACK_WEBHOOK_URL", "ALERTCB_WECOM_KEY", "ALERTCB_RUN_NAME", "ALERTCB_CONFIG"} <= names


def test_check_config_cli_prints_redacted_config(tmp_path: Path, canary: str) -> None:
    """`alertcb check-config` validates and prints without secrets; errors exit 2 naming the field."""
    good = write(tmp_path, f'[channels.w]\ntype = "wecom"\nkey = "{canary}"\n')
    run = subprocess.run([sys.executable, "-m", "alertcb", "check-config", str(good)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert '"wecom"' in run.stdout and canary not in run.stdout + run.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text(f'[channels.w]\ntype = "slack"\nwebhook_url = "http://example.com/{canary}"\n')
    run = subprocess.run([sys.executable, "-m", "alertcb", "check-config", str(bad)], capture_output=True, text=True)
    assert run.returncode == 2
    assert "channels.w.webhook_url" in run.stderr and canary not in run.stdout + run.stderr


def test_variables_of_other_parts_are_not_config_errors() -> None:
    """ALERTCB_KERAS (read by alertcb.keras) does not break Notifier.from_env()."""
    config = config_from_env({"ALERTCB_KERAS": "tf_keras", "ALERTCB_RUN_NAME": "r"})
    assert config.notifier == {"run_name": "r"}
    assert "ALERTCB_KERAS" in env_variable_names()
