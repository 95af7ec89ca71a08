"""Lenient conversions for reading summary and progress details written by any version.

Every function accepts anything and never raises: a summary from an older alertcb, a
hand-made event or a corrupted log line still renders.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from alertcb.events import parse_number as as_float
from alertcb.events import to_float

__all__ = ["as_float", "as_int", "as_list", "as_mapping", "as_str", "float_map"]


def as_int(value: Any) -> int | None:
    """An int from an int, a float or a numeric string; None for anything else (bools too)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    number = to_float(value)
    if number is None or not math.isfinite(number):
        return None
    return int(number)


def as_mapping(value: Any) -> dict[str, Any]:
    return {str(k): v for k, v in value.items()} if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else []


def as_str(value: Any, default: str = "") -> str:
    return default if value is None else str(value)


def float_map(value: Any) -> dict[str, float | None]:
    """``{"loss": "0.5"}`` → ``{"loss": 0.5}`` (keys as strings, values via `as_float`)."""
    return {k: as_float(v) for k, v in as_mapping(value).items()}
