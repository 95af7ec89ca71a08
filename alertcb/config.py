"""Configuration from a TOML file and ``ALERTCB_*`` environment variables.

The schema is not written twice: the accepted fields are the keyword parameters
of `alertcb.Notifier` and of each channel class, with their type hints. Every
mistake raises `ConfigError` naming the field (``channels.ops.webhook_url``) and
what was expected. ``${VAR}`` in a string is replaced by the environment
variable ``VAR`` (``$${`` is a literal ``${``), so secrets stay out of the file.

File layout (see docs/configuration.md)::

    [alertcb]                 # Notifier options
    run_name = "exp42"
    flush_timeout_s = 20

    [channels.team-wecom]     # one table per destination; the key is its name
    type = "wecom"
    key = "${WECOM_KEY}"
    min_severity = "warning"
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
import sys
import types
import typing
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, TypeVar

from alertcb.channels.base import Channel
from alertcb.errors import ConfigError
from alertcb.redact import Secret, scrub
from alertcb.validate import check_notifier_options, parse_duration

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_T = TypeVar("_T")

ENV_PREFIX = "ALERTCB_"
_VAR = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: ``ALERTCB_*`` variables read elsewhere, not by the configuration loader.
OTHER_VARIABLES = frozenset({"ALERTCB_CONFIG", "ALERTCB_KERAS",  # + set by `alertcb run` for its child:
                             "ALERTCB_SUPERVISED", "ALERTCB_HEARTBEAT_FILE", "ALERTCB_HEARTBEAT_S"})
#: Notifier parameters that are not configuration (objects, not values).
_NOT_CONFIGURABLE = frozenset({"channels", "clock"})


def channel_types() -> dict[str, type[Channel]]:
    """``type`` name → channel class, for every built-in channel."""
    from alertcb import channels

    registry: dict[str, type[Channel]] = dict(getattr(channels, "CHANNEL_TYPES", {}))
    registry.setdefault("console", channels.Console)
    from alertcb.registry import JsonlRegistry

    registry.setdefault(JsonlRegistry.type, JsonlRegistry)
    return registry


@dataclasses.dataclass
class Config:
    """A validated configuration: Notifier options and built channels."""

    notifier: dict[str, Any]
    channels: list[Channel]
    source: str = ""
    #: Notifier option → where it was set (``alertcb.flush_timeout_s``, ``ALERTCB_FLUSH_TIMEOUT_S``).
    origins: dict[str, str] = dataclasses.field(default_factory=dict)

    def notifier_kwargs(self) -> dict[str, Any]:
        kwargs = dict(self.notifier)
        if self.channels:
            kwargs["channels"] = list(self.channels)
        return kwargs

    def locate(self, exc: ConfigError, *, overridden: Collection[str] = ()) -> ConfigError:
        """``exc`` about a Notifier option, renamed to where the option was set (file or variable)."""
        origin = self.origins.get(exc.field)
        if origin is None or exc.field in overridden:
            return exc
        return ConfigError(origin, exc.problem)

    def build_notifier(self, cls: Callable[..., _T], **overrides: Any) -> _T:
        """``cls(**options, **overrides)``; a `ConfigError` names where the option was set."""
        try:
            return cls(**{**self.notifier_kwargs(), **overrides})
        except ConfigError as exc:
            raise self.locate(exc, overridden=overrides) from None

    def check(self) -> Config:
        """Validate the Notifier options now (as the constructor will); return self."""
        try:
            self.notifier = check_notifier_options(self.notifier)
        except ConfigError as exc:
            raise self.locate(exc) from None
        return self

    def describe(self) -> dict[str, Any]:
        """The configuration with secrets redacted (for ``alertcb check-config``)."""
        return {
            "alertcb": {k: str(v) if isinstance(v, Secret) else v for k, v in self.notifier.items()},
            "channels": {c.name: c.describe() for c in self.channels},
        }


# ---------------------------------------------------------------- schema by introspection
@dataclasses.dataclass(frozen=True)
class FieldSpec:
    name: str
    hint: Any
    required: bool


def fields_of(func: Callable[..., Any]) -> dict[str, FieldSpec]:
    """The keyword parameters of ``func`` with resolved type hints."""
    hints = typing.get_type_hints(func)
    out: dict[str, FieldSpec] = {}
    for param in inspect.signature(func).parameters.values():
        if param.name == "self" or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        out[param.name] = FieldSpec(param.name, hints.get(param.name, Any), param.default is param.empty)
    return out


def channel_fields(cls: type[Channel]) -> dict[str, FieldSpec]:
    fields = fields_of(cls.__init__)
    if any(p.kind == p.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values()):
        for name, spec in fields_of(Channel.__init__).items():
            fields.setdefault(name, spec)
    return fields


def notifier_fields() -> dict[str, FieldSpec]:
    from alertcb.notifier import Notifier

    return {k: v for k, v in fields_of(Notifier.__init__).items() if k not in _NOT_CONFIGURABLE}


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(hint))
    if origin is typing.Literal:
        return " or ".join(repr(a) for a in typing.get_args(hint))
    if origin is os.PathLike or hint is os.PathLike:
        return "path"
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(hint))
        base = {list: "list", tuple: "list", dict: "table", Mapping: "table"}.get(origin, "list")
        return f"{base} of {args}" if args else base
    if hint is type(None):
        return "none"
    if hint is Secret:
        return "secret string"
    return getattr(hint, "__name__", str(hint))


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def coerce(field: str, value: Any, hint: Any, *, from_env: bool = False) -> Any:
    """Convert ``value`` to the annotated type where it is a string that stands for one.

    This is conversion only: environment strings become bools, numbers, lists and tables;
    ``*_s`` strings (TOML or environment) become seconds (`alertcb.validate.parse_duration`);
    strings for a `Secret` become Secrets. Every other value passes through unchanged and
    the constructor validates it (validation happens once, there).

    Raises:
        ConfigError: naming ``field``, when a string cannot be converted (never echoing
            a value that may be secret).
    """
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if not isinstance(value, str):
            return value  # TOML values already have their types; the constructor checks them
        if any(a is str or a is Any or _is_path(a) or typing.get_origin(a) is typing.Literal for a in args):
            return value  # a plain string is already acceptable
        first_error: ConfigError | None = None
        for arg in args:
            try:
                return coerce(field, value, arg, from_env=from_env)
            except ConfigError as exc:
                first_error = first_error or exc
        raise ConfigError(field, f"expected {_type_name(hint)}, got {_show(field, value)}") from first_error
    if hint is Secret:
        return Secret(value) if isinstance(value, str) else value
    if hint is float and isinstance(value, str) and _is_duration_field(field):
        return parse_duration(field, value)
    if origin in (list, tuple, typing.get_origin(typing.Sequence[str])):
        (item,) = typing.get_args(hint)[:1] or (Any,)
        if from_env and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, list):
            return [coerce(f"{field}[{i}]", v, item, from_env=from_env) for i, v in enumerate(value)]
        return value
    if origin in (dict, typing.get_origin(typing.Mapping[str, str])):
        _, value_hint = typing.get_args(hint) or (Any, Any)
        if from_env and isinstance(value, str):
            pairs = [p.split("=", 1) for p in value.split(",") if p.strip()]
            if not all(len(p) == 2 and p[0].strip() for p in pairs):
                raise ConfigError(field, "expected NAME=VALUE pairs separated by commas (value hidden)")
            value = {k.strip(): v.strip() for k, v in pairs}
        if isinstance(value, dict):
            return {k: coerce(f"{field}.{k}", v, value_hint, from_env=from_env) for k, v in value.items()}
        return value
    if not (from_env and isinstance(value, str)):
        return value
    text = value.strip()
    if hint is bool:
        if text.lower() in _TRUE + _FALSE:
            return text.lower() in _TRUE
    elif hint is int:
        if re.fullmatch(r"[-+]?\d+", text):
            return int(text)
    elif hint is float:
        try:
            return float(text)
        except ValueError:
            pass
    else:
        return value
    wanted = {bool: "true or false", int: "an integer", float: "a number"}[hint]
    raise ConfigError(field, f"expected {wanted}, got {_show(field, value)}")


def _is_path(hint: Any) -> bool:
    return hint is os.PathLike or typing.get_origin(hint) is os.PathLike or (
        isinstance(hint, type) and issubclass(hint, os.PathLike)
    )


def _is_duration_field(field: str) -> bool:
    return field.lower().rsplit(".", 1)[-1].removeprefix(ENV_PREFIX.lower()).endswith("_s")


_SECRET_FIELDS = re.compile(r"(?i)(key|token|secret|password|url|urls|headers|auth\w*)$")


def _show(field: str, value: Any) -> str:
    """Describe a bad value without echoing anything that may be a secret."""
    if _SECRET_FIELDS.search(field.rsplit(".", 1)[-1].split("[")[0]) or isinstance(value, Secret):
        return f"a {type(value).__name__} (value hidden)"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def interpolate(field: str, value: Any, environ: Mapping[str, str]) -> Any:
    """Replace ``${VAR}`` in strings (recursively in lists and tables)."""
    if isinstance(value, str):

        def repl(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${"
            var = match.group(1)
            if var not in environ:
                raise ConfigError(field, f"environment variable {var} is not set (referenced as ${{{var}}})")
            return environ[var]

        return _VAR.sub(repl, value)
    if isinstance(value, list):
        return [interpolate(f"{field}[{i}]", v, environ) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: interpolate(f"{field}.{k}", v, environ) for k, v in value.items()}
    return value


# ---------------------------------------------------------------- building
def build_channel(name: str, table: Mapping[str, Any], *, from_env: bool = False) -> Channel:
    """Build one channel from its table; errors are prefixed ``channels.<name>``."""
    prefix = f"channels.{name}"
    if not isinstance(table, Mapping):
        raise ConfigError(prefix, "expected a table with at least a 'type' field")
    kind = table.get("type")
    registry = channel_types()
    if kind is None:
        raise ConfigError(f"{prefix}.type", f"missing; expected one of {sorted(registry)}")
    if kind not in registry:
        raise ConfigError(f"{prefix}.type", f"unknown channel type {kind!r}; expected one of {sorted(registry)}")
    cls = registry[kind]
    fields = channel_fields(cls)
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        if key == "type":
            continue
        if key not in fields:
            raise ConfigError(f"{prefix}.{key}", f"unknown field for type {kind!r}; expected one of {sorted(fields)}")
        kwargs[key] = coerce(f"{prefix}.{key}", value, fields[key].hint, from_env=from_env)
    kwargs.setdefault("name", name)
    missing = [f for f, spec in fields.items() if spec.required and f not in kwargs]
    if missing:
        raise ConfigError(f"{prefix}.{missing[0]}", f"missing required field for type {kind!r}")
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        raise exc.with_prefix(prefix) from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(prefix, f"invalid settings for type {kind!r}: {scrub(str(exc))}") from None


def parse_config(data: Mapping[str, Any], *, environ: Mapping[str, str] | None = None, source: str = "") -> Config:
    """Validate a parsed TOML document and build the channels."""
    env = os.environ if environ is None else environ
    unknown = sorted(set(data) - {"alertcb", "channels"})
    if unknown:
        raise ConfigError(unknown[0], "unknown top-level table; expected [alertcb] and [channels.NAME]",
                          where=f"[{unknown[0]}]")
    settings = interpolate("alertcb", data.get("alertcb", {}), env)
    if not isinstance(settings, Mapping):
        raise ConfigError("alertcb", "expected a table of Notifier options", where="[alertcb]")
    allowed = notifier_fields()
    notifier: dict[str, Any] = {}
    for key, value in settings.items():
        if key not in allowed:
            raise ConfigError(f"alertcb.{key}", f"unknown field; expected one of {sorted(allowed)}")
        notifier[key] = coerce(f"alertcb.{key}", value, allowed[key].hint)
    origins = {key: f"alertcb.{key}" for key in notifier}
    tables = data.get("channels", {})
    if not isinstance(tables, Mapping):
        raise ConfigError("channels", "expected tables like [channels.NAME] with a 'type' field", where="[channels]")
    built = [build_channel(name, interpolate(f"channels.{name}", table, env)) for name, table in tables.items()]
    return Config(notifier=notifier, channels=built, source=source, origins=origins).check()


def load_config(path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate a TOML configuration file. Raises `ConfigError`."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("config", f"cannot read {str(file)!r}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config", f"{file.name} is not valid TOML: {exc}") from None
    return parse_config(data, environ=environ, source=str(file))


def config_from_env(environ: Mapping[str, str] | None = None) -> Config:
    """Build a configuration from ``ALERTCB_*`` variables, on top of ``$ALERTCB_CONFIG`` if set.

    ``ALERTCB_<OPTION>`` sets a Notifier option (``ALERTCB_RUN_NAME``, ``ALERTCB_FLUSH_TIMEOUT_S``);
    ``ALERTCB_<TYPE>_<FIELD>`` configures a channel named after its type
    (``ALERTCB_SLACK_WEBHOOK_URL``, ``ALERTCB_WECOM_KEY``, ``ALERTCB_EMAIL_TO=a@x,b@y``).
    """
    env = os.environ if environ is None else environ
    base = (
        load_config(env["ALERTCB_CONFIG"], environ=env)
        if env.get("ALERTCB_CONFIG")
        else Config(notifier={}, channels=[], source="environment")
    )
    allowed = notifier_fields()
    registry = channel_types()
    tables: dict[str, dict[str, Any]] = {}
    for var, value in env.items():
        if not var.startswith(ENV_PREFIX) or var in OTHER_VARIABLES:
            continue
        rest = var[len(ENV_PREFIX) :].lower()
        if rest in allowed:
            base.notifier[rest] = coerce(var, value, allowed[rest].hint, from_env=True)
            base.origins[rest] = var
            continue
        kind = next((t for t in sorted(registry, key=len, reverse=True) if rest.startswith(t + "_")), None)
        if kind is None:
            raise ConfigError(var, f"unknown variable; expected ALERTCB_<OPTION> ({', '.join(sorted(allowed))}) "
                              f"or ALERTCB_<TYPE>_<FIELD> with TYPE one of {sorted(registry)}")
        tables.setdefault(kind, {"type": kind})[rest[len(kind) + 1 :]] = value
    existing = {c.name for c in base.channels}
    for kind, table in tables.items():
        if kind in existing:
            raise ConfigError(f"ALERTCB_{kind.upper()}_*", f"a channel named {kind!r} is also in the config file")
        fields = channel_fields(registry[kind])
        for key in list(table):
            if key != "type" and key not in fields:
                raise ConfigError(f"ALERTCB_{kind.upper()}_{key.upper()}",
                                  f"unknown field for type {kind!r}; expected one of {sorted(fields)}")
        try:
            base.channels.append(build_channel(kind, table, from_env=True))
        except ConfigError as exc:
            raise ConfigError(exc.field.replace(f"channels.{kind}.", f"ALERTCB_{kind.upper()}_").upper()
                              if exc.field.startswith(f"channels.{kind}.") else exc.field, exc.problem) from None
    return base.check()


def env_variable_names() -> set[str]:
    """Every ``ALERTCB_*`` variable name alertcb understands (for deploy/ checks)."""
    names = set(OTHER_VARIABLES) | {f"ALERTCB_{k.upper()}" for k in notifier_fields()}
    for kind, cls in channel_types().items():
        names |= {f"ALERTCB_{kind.upper()}_{f.upper()}" for f in channel_fields(cls) if f != "name"}
    return names
