"""Argument checks shared by constructors: a clear `ConfigError` naming the field.

Validation happens once, here, called by the constructors; `alertcb.config` only
converts environment/TOML strings to the annotated types.
"""

from __future__ import annotations

import math
import os
import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alertcb.errors import ConfigError
from alertcb.events import Severity

if TYPE_CHECKING:
    from alertcb.channels.base import Channel
    from alertcb.render import Renderer


def check_severity(field: str, value: Any) -> Severity:
    """``"info"``, ``"warning"`` or ``"critical"`` (or a `Severity`), else a `ConfigError` naming ``field``."""
    try:
        return Severity.parse(value)
    except ValueError as exc:
        raise ConfigError(field, str(exc)) from None


def check_number(
    field: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    strict_minimum: bool = False,
    allow_none: bool = False,
    integer: bool = False,
) -> Any:
    """Validate a numeric constructor argument, raising `ConfigError` naming ``field``."""
    if value is None:
        if allow_none:
            return None
        raise ConfigError(field, "expected a number, got None")
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(field, f"expected {kind}, got {value!r}")
    if integer and not isinstance(value, int):
        if not float(value).is_integer():
            raise ConfigError(field, f"expected {kind}, got {value!r}")
        value = int(value)
    if not math.isfinite(value):
        raise ConfigError(field, f"expected a finite number, got {value!r}")
    if minimum is not None and (value < minimum or (strict_minimum and value == minimum)):
        bound = f"> {minimum:g}" if strict_minimum else f">= {minimum:g}"
        raise ConfigError(field, f"expected {kind} {bound}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ConfigError(field, f"expected {kind} <= {maximum:g}, got {value!r}")
    return value


# ---------------------------------------------------------------- durations
_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|d|h|m|s)", re.IGNORECASE)


def parse_duration(field: str, value: Any) -> float:
    """Seconds from a number or a duration string: ``90``, ``"90"``, ``"90s"``, ``"15m"``,
    ``"1h30m"``, ``"1.5h"``, ``"2d"``, ``"1500ms"`` (case and spaces ignored).

    Every ``*_s`` option of alertcb accepts these (docs/configuration.md).

    Raises:
        ConfigError: naming ``field``, for anything else (negative, NaN and bounds are
            checked by `check_duration`).
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        try:
            return float(text)
        except ValueError:
            parts = _PART.findall(text)
            if parts and "".join(n + u for n, u in parts) == text:
                return sum(float(n) * _UNITS[u.lower()] for n, u in parts)
    raise ConfigError(field, f"expected seconds or a duration like '90s', '15m', '1h30m', got {value!r}")


def check_duration(
    field: str,
    value: Any,
    *,
    minimum: float = 0.0,
    strict_minimum: bool = False,
    allow_none: bool = False,
) -> Any:
    """`parse_duration` then `check_number`: a duration in seconds (float), or None if allowed."""
    if value is None and allow_none:
        return None
    if value is None:
        raise ConfigError(field, "expected a duration in seconds, got None")
    seconds = parse_duration(field, value)
    return float(check_number(field, seconds, minimum=minimum, strict_minimum=strict_minimum))


# ---------------------------------------------------------------- links and files
def check_link(field: str, value: Any, *, allow_none: bool = True) -> str | None:
    """An ``http(s)://`` link shown to people (no ``javascript:``/``data:``, no spaces)."""
    if value is None or (value == "" and allow_none):
        return None
    if not isinstance(value, str):
        raise ConfigError(field, f"expected an http(s) URL string, got {type(value).__name__}")
    if any(ch.isspace() or ord(ch) < 32 for ch in value):
        raise ConfigError(field, "expected a URL without spaces or control characters (write %20)")
    try:
        parts = urllib.parse.urlsplit(value)
    except ValueError:
        raise ConfigError(field, "expected a valid URL (could not parse it)") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ConfigError(field, f"expected an http:// or https:// URL with a host, got scheme {parts.scheme!r}")
    return value


def check_existing(field: str, value: Any, *, kind: str = "file", allow_none: bool = True) -> str | None:
    """A path that must exist now (``kind`` ``"file"`` or ``"folder"``); returned as a string."""
    if value is None and allow_none:
        return None
    if not isinstance(value, (str, os.PathLike)) or not str(value):
        raise ConfigError(field, f"expected a path to an existing {kind}")
    path = Path(value)
    ok = path.is_file() if kind == "file" else path.is_dir()
    if not ok:
        raise ConfigError(field, f"expected an existing {kind}, {str(path)!r} is not one")
    return str(path)


def check_bool(field: str, value: Any, *, allow_none: bool = False) -> Any:
    """``True`` or ``False`` (or None if allowed); anything else is a `ConfigError`."""
    if value is None and allow_none:
        return None
    if not isinstance(value, bool):
        raise ConfigError(field, f"expected true or false, got {type(value).__name__}")
    return value


def check_optional_str(field: str, value: Any) -> str | None:
    """None or a non-empty string."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(field, f"expected a non-empty string, got {type(value).__name__}")
    return value


# ---------------------------------------------------------------- Notifier options
#: Durations (seconds or "15m"-style strings) and whether 0 is allowed.
_DURATIONS = {
    "group_wait_s": True,
    "repeat_interval_s": True,
    "flush_timeout_s": True,
    "attempt_timeout_s": False,
    "connect_timeout_s": False,
    "deadline_s": False,
    "retry_base_s": False,
    "retry_max_s": False,
    "max_retry_after_s": False,
}


def check_notifier_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Validate `Notifier` keyword options (all but ``channels``); return them with durations as floats.

    The one place Notifier options are checked: `alertcb.Notifier` calls it, and so does
    `alertcb.config` (``alertcb check-config``) before any Notifier exists.

    Raises:
        ConfigError: naming the option (the caller maps it to where it was set).
    """
    out = dict(options)
    if "queue_size" in out:
        check_number("queue_size", out["queue_size"], minimum=1, integer=True)
    for field, zero_ok in _DURATIONS.items():
        if field in out:
            out[field] = check_duration(field, out[field], strict_minimum=not zero_ok)
    if out.get("retry_max_s", math.inf) < out.get("retry_base_s", 0.0):
        raise ConfigError(
            "retry_max_s", f"expected >= retry_base_s ({out['retry_base_s']:g}), got {out['retry_max_s']:g}"
        )
    if out.get("send_from", "chief") not in ("chief", "all"):
        raise ConfigError("send_from", f"expected 'chief' or 'all', got {out['send_from']!r}")
    run_name = out.get("run_name")
    if run_name is not None and (not isinstance(run_name, str) or not run_name.strip()):
        raise ConfigError("run_name", f"expected a non-empty string, got {run_name!r}")
    labels = out.get("labels")
    if labels is not None and (
        not isinstance(labels, Mapping)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items())
    ):
        raise ConfigError("labels", "expected a table of string keys to string values")
    for field in ("rate_limits", "verify_tls", "handle_sigterm"):
        if field in out:
            check_bool(field, out[field])
    check_bool("console", out.get("console"), allow_none=True)
    for field in ("worker", "job"):
        check_optional_str(field, out.get(field))
    for field, allowed in (("run_dir", (False,)), ("outbox", (True, False))):
        value = out.get(field)
        if value is not None and not (value in allowed and isinstance(value, bool)) and (
            isinstance(value, bool) or not isinstance(value, (str, os.PathLike)) or not str(value)
        ):
            raise ConfigError(field, f"expected a path or {' or '.join(map(str, allowed)).lower()}")
    check_existing("template_dir", out.get("template_dir"), kind="folder")
    check_link("link_url", out.get("link_url"))
    return out


def check_template(renderer: Renderer, channel: Channel) -> None:
    """A channel's own ``template`` option must name a template that exists and compiles.

    Raises:
        ConfigError: naming ``channels.<name>.template``.
    """
    name = getattr(channel, "template", None)
    if not name:
        return
    import jinja2

    try:
        renderer.env.get_template(str(name))
    except jinja2.TemplateNotFound:
        problem = f"no template {str(name)!r} in template_dir or the packaged templates"
        raise ConfigError(f"channels.{channel.name}.template", problem) from None
    except jinja2.TemplateSyntaxError as exc:
        problem = f"template {str(name)!r} does not compile: {exc.message} (line {exc.lineno})"
        raise ConfigError(f"channels.{channel.name}.template", problem) from None
