"""Issue 13 #9: settings that would break delivery are rejected at construction, and every
ConfigError names where the field was set (keyword, TOML path or environment variable)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alertcb import Notifier
from alertcb.channels import Console, Email, Slack, Webhook
from alertcb.config import config_from_env, load_config
from alertcb.errors import ConfigError
from alertcb.validate import check_duration, parse_duration

BAD_NOTIFIER_OPTIONS = [
    ("attempt_timeout_s", 0, "> 0"),
    ("connect_timeout_s", 0, "> 0"),
    ("retry_base_s", 0, "> 0"),
    ("deadline_s", 0, "> 0"),
    ("flush_timeout_s", -1, ">= 0"),
    ("group_wait_s", "soon", "duration"),
    ("link_url", "javascript:alert(1)", "http"),
    ("link_url", "data:text/html,hi", "http"),
    ("link_url", "https://dash.example.com/a b", "spaces"),
    ("template_dir", "/nonexistent/templates", "existing folder"),
    ("rate_limits", 1, "true or false"),
    ("queue_size", "big", "integer"),
    ("send_from", "everyone", "'chief'"),
]


@pytest.mark.parametrize(("field", "value", "expected"), BAD_NOTIFIER_OPTIONS)
def test_bad_notifier_keyword_names_the_keyword(tmp_path: Path, field: str, value: Any, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        Notifier(run_dir=tmp_path, outbox=False, **{field: value})
    assert (field, f"{field}=") == (info.value.field, info.value.where)
    assert str(info.value).startswith(f"{field}=: ")
    assert expected in info.value.problem


@pytest.mark.parametrize(("field", "value", "expected"), BAD_NOTIFIER_OPTIONS)
def test_bad_notifier_option_in_toml_names_the_toml_path(
    tmp_path: Path, field: str, value: Any, expected: str
) -> None:
    path = tmp_path / "alertcb.toml"
    path.write_text(f"[alertcb]\n{field} = {value!r}\n".replace("'", '"'), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert f"alertcb.{field}" == info.value.field
    assert str(info.value).startswith(f"alertcb.{field}: ")
    assert expected in info.value.problem


#: In the environment "1" is a valid boolean (true).
BAD_ENV_OPTIONS = [case for case in BAD_NOTIFIER_OPTIONS if case[0] != "rate_limits"] + [
    ("rate_limits", "maybe", "true or false"),
]


@pytest.mark.parametrize(("field", "value", "expected"), BAD_ENV_OPTIONS)
def test_bad_notifier_option_in_env_names_the_variable(field: str, value: Any, expected: str) -> None:
    var = f"ALERTCB_{field.upper()}"
    with pytest.raises(ConfigError) as info:
        config_from_env({var: str(value)})
    assert var == info.value.field
    assert str(info.value).startswith(f"{var}: ")
    assert expected in info.value.problem


def test_retry_max_below_retry_base_is_rejected_everywhere(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^retry_max_s=: expected >= retry_base_s \(2\)"):
        Notifier(run_dir=False, outbox=False, retry_base_s=2, retry_max_s=1)
    with pytest.raises(ConfigError) as info:
        config_from_env({"ALERTCB_RETRY_BASE_S": "2", "ALERTCB_RETRY_MAX_S": "1"})
    assert "ALERTCB_RETRY_MAX_S" == info.value.field
    path = tmp_path / "a.toml"
    path.write_text("[alertcb]\nretry_base_s = 2\nretry_max_s = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert "alertcb.retry_max_s" == info.value.field


def test_from_config_names_the_file_field_and_overrides_the_keyword(tmp_path: Path) -> None:
    """Errors raised by the constructor are mapped back to the TOML path; an override stays a keyword."""
    path = tmp_path / "a.toml"
    path.write_text("[alertcb]\nflush_timeout_s = 1\nrun_dir = false\noutbox = false\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        Notifier.from_config(path, flush_timeout_s=-5)
    assert "flush_timeout_s=" == info.value.where


@pytest.mark.parametrize(
    ("build", "field", "expected"),
    [
        (lambda tmp: Slack(webhook_url="https://hooks.slack.com/services/a b"), "webhook_url", "spaces"),
        (lambda tmp: Webhook(url="https://h.example.com/\tx"), "url", "spaces"),
        (lambda tmp: Email(host="smtp.example.com", sender="a@example.com", to=["b@example.com"],
                           ca_file=str(tmp / "missing.pem")), "ca_file", "existing file"),
    ],
    ids=["url-with-space", "url-with-tab", "missing-ca-file"],
)
def test_bad_channel_settings_are_rejected(tmp_path: Path, build: Any, field: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        build(tmp_path)
    assert (field, f"{field}=") == (info.value.field, info.value.where)
    assert expected in info.value.problem


def test_bad_channel_settings_in_toml_and_env_name_their_location(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_text('[channels.ops]\ntype = "webhook"\nurl = "https://h.example.com/a b"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert "channels.ops.url" == info.value.field
    with pytest.raises(ConfigError) as info:
        config_from_env({"ALERTCB_WEBHOOK_URL": "https://h.example.com/a b"})
    assert "ALERTCB_WEBHOOK_URL" == info.value.field


def test_missing_channel_template_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        Notifier([Console(template="console/nope.txt.j2", name="con")], run_dir=False, outbox=False)
    assert "channels.con.template" == info.value.field
    assert "no template" in info.value.problem
    (tmp_path / "mine.txt.j2").write_text("{{ event.title }", encoding="utf-8")
    with pytest.raises(ConfigError, match="does not compile"):
        Notifier([Console(template="mine.txt.j2")], run_dir=False, outbox=False, template_dir=tmp_path)


def test_good_values_are_accepted(tmp_path: Path) -> None:
    """The checks reject only what breaks delivery: durations as strings, https links, real files."""
    (tmp_path / "mine.txt.j2").write_text("{{ event.title }}", encoding="utf-8")
    notifier = Notifier(
        [Console(template="mine.txt.j2")], run_dir=False, outbox=False, template_dir=tmp_path,
        link_url="https://dash.example.com/run?id=1", flush_timeout_s="1m30s", retry_base_s="500ms",
        retry_max_s="1m", group_wait_s=0,
    )
    try:
        assert 90.0 == notifier.flush_timeout_s
    finally:
        notifier.close(1)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(90, 90.0), (2.5, 2.5), ("90", 90.0), ("90s", 90.0), ("15m", 900.0), ("1h30m", 5400.0),
     ("1.5h", 5400.0), ("2d", 172800.0), ("1500ms", 1.5), (" 2 M ", 120.0), ("1H", 3600.0)],
)
def test_parse_duration(value: Any, seconds: float) -> None:
    assert seconds == parse_duration("every", value)


@pytest.mark.parametrize("value", ["", "abc", "1x", "h", "1h-", True, None, [1], "1h 30"])
def test_parse_duration_rejects_nonsense(value: Any) -> None:
    with pytest.raises(ConfigError, match="^every=: expected seconds or a duration"):
        parse_duration("every", value)


@pytest.mark.parametrize("value", [-1, "-5", float("nan"), float("inf")])
def test_check_duration_rejects_negative_and_non_finite(value: Any) -> None:
    with pytest.raises(ConfigError, match="every="):
        check_duration("every", value)


def test_env_durations_accept_units() -> None:
    config = config_from_env({"ALERTCB_FLUSH_TIMEOUT_S": "2m", "ALERTCB_GROUP_WAIT_S": "0"})
    assert {"flush_timeout_s": 120.0, "group_wait_s": 0.0} == config.notifier


@pytest.mark.parametrize(
    ("text", "where"),
    [("[notifier]\nx = 1\n", "[notifier]"), ("alertcb = 3\n", "[alertcb]"), ("channels = 3\n", "[channels]"),
     ("[channels]\nops = 3\n", "channels.ops")],
)
def test_toml_table_mistakes_name_the_table(tmp_path: Path, text: str, where: str) -> None:
    """A wrong table is shown as a TOML table, never as if it were a keyword argument."""
    path = tmp_path / "a.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert str(info.value).startswith(f"{where}: ")
