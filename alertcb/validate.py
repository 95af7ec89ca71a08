"""Argument checks shared by constructors: a clear `ConfigError` naming the field."""

from __future__ import annotations

import math
from typing import Any

from alertcb.errors import ConfigError


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
