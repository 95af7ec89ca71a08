"""Jinja filters and text helpers for the channels' limits and escaping rules."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from typing import Any

ELLIPSIS = "…"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def strip_control(text: Any) -> str:
    """Remove control characters (keeps tab and newlines) and lone surrogates."""
    text = _CONTROL.sub("", str(text))
    return text.encode("utf-8", "replace").decode("utf-8") if _has_surrogates(text) else text


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def truncate_chars(text: Any, limit: int, marker: str = ELLIPSIS) -> str:
    """Cut ``text`` to at most ``limit`` characters, ending with ``marker`` when cut."""
    text = str(text)
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(marker))] + marker


def truncate_bytes(text: Any, limit: int, marker: str = ELLIPSIS) -> str:
    """Cut ``text`` to at most ``limit`` UTF-8 bytes on a code-point boundary.

    Example:
        >>> truncate_bytes("训练失败", 7)
        '训练…'
    """
    text = strip_control(text)
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    marker_bytes = len(marker.encode("utf-8"))
    if limit < marker_bytes:  # no room for the marker itself
        return raw[: max(0, limit)].decode("utf-8", "ignore")
    return raw[: limit - marker_bytes].decode("utf-8", "ignore") + marker


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def slack_escape(text: Any) -> str:
    """Escape exactly ``&``, ``<`` and ``>`` for Slack mrkdwn."""
    return strip_control(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def md_escape(text: Any) -> str:
    """Neutralise markdown/HTML specials for WeCom markdown (backslash escapes, no tags)."""
    text = strip_control(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([\\`*_\[\]#|~])", r"\\\1", text)


def fmt_number(value: Any, digits: int = 4) -> str:
    """Format a metric: ``1,234``, ``0.0931``, ``3.4e-07``, ``NaN``, ``inf``."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    if number == 0:
        return "0"
    magnitude = abs(number)
    if magnitude >= 1e6 or magnitude < 1e-3:
        return f"{number:.{max(1, digits - 1)}e}"
    if magnitude >= 1000:
        return f"{number:,.0f}"
    return f"{number:.{digits}g}"


def fmt_int(value: Any) -> str:
    """``1234`` → ``1,234``."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


def fmt_duration(seconds: Any) -> str:
    """``3725`` → ``1h 2m 5s``; ``0.25`` → ``250 ms``."""
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        return str(seconds)
    if not math.isfinite(s):
        return "—"
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 60:
        return f"{s:.1f} s"
    whole = int(round(s))
    days, whole = divmod(whole, 86400)
    hours, whole = divmod(whole, 3600)
    minutes, secs = divmod(whole, 60)
    parts = [f"{days}d"] if days else []
    if hours or days:
        parts.append(f"{hours}h")
    parts.append(f"{minutes}m")
    if not days:
        parts.append(f"{secs}s")
    return " ".join(parts)


def fmt_relative(timestamp: Any, now: float | None = None) -> str:
    """``time.time() - 90`` → ``1m 30s ago``."""
    try:
        delta = (time.time() if now is None else now) - float(timestamp)
    except (TypeError, ValueError):
        return str(timestamp)
    if delta < 0:
        return "in " + fmt_duration(-delta)
    return fmt_duration(delta) + " ago"


def fmt_time(timestamp: Any) -> str:
    """Unix time → ``2026-11-26 20:31:05 UTC``."""
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(timestamp)))
    except (TypeError, ValueError, OverflowError, OSError):
        return str(timestamp)


def tail_lines(text: Any, lines: int = 20) -> str:
    """The last ``lines`` lines of ``text`` (tracebacks: the end matters most)."""
    parts = str(text).splitlines()
    if len(parts) <= lines:
        return "\n".join(parts)
    return f"… ({len(parts) - lines} lines omitted)\n" + "\n".join(parts[-lines:])


def fmt_metrics(metrics: Any, limit: int = 12) -> str:
    """``{"loss": 0.5, "acc": 0.9}`` → ``loss=0.5, acc=0.9`` (at most ``limit`` entries)."""
    items = list(dict(metrics or {}).items())
    text = ", ".join(f"{strip_control(k)}={fmt_number(v)}" for k, v in items[:limit])
    if len(items) > limit:
        text += f", … (+{len(items) - limit})"
    return text


def pluck(epochs: Any, key: str) -> list[Any]:
    """``[{"metrics": {"loss": 1}}, {"metrics": {}}] | pluck("loss")`` → ``[1, None]``.

    Rows are dicts or objects with a ``metrics`` dict (a summary's `EpochRow`).
    """
    out: list[Any] = []
    for row in epochs or ():
        metrics = row.get("metrics") if isinstance(row, dict) else getattr(row, "metrics", None)
        out.append(metrics.get(key) if isinstance(metrics, dict) else None)
    return out


#: Mention syntax of the chat services: Slack ``<!here>``/``<!channel>``/``<@U123>``/``<!subteam^S1>``,
#: WeCom markdown ``<@userid>``, Feishu/Teams ``<at ...>``, and bare ``@all``/``@here``/``@channel``/``@everyone``,
#: also in their HTML-escaped forms (``&lt;@all&gt;``).
_MENTION = re.compile(r"(?:<|&lt;|&#60;|&#x3c;)(?=[@!]|at[\s>])|(?<![\w.])@(?=(?:all|here|channel|everyone)\b)", re.IGNORECASE)
NO_MENTION = "\u2060"  # WORD JOINER: invisible, and no service parses a mention through it


def no_mentions(text: Any) -> str:
    """Make mention syntax in ``text`` inert (a word joiner after ``<`` or ``@``), in any format.

    Text from metrics, titles, messages and exceptions must never ping anyone; the
    channels apply this to everything they render, then add the configured mentions.

    Example:
        >>> no_mentions("<!channel> @all") == "<\u2060!channel> @\u2060all"
        True
    """
    return _MENTION.sub(lambda m: m.group(0) + NO_MENTION, str(text))


def fit_bytes(text: Any, limit: int) -> str:
    """Cut ``text`` to ``limit`` UTF-8 bytes at a line boundary, closing an open ``` fence.

    For the middle of a message with a byte limit, so that what follows it (the
    "what to check" line, where to look) always fits.
    """
    text = str(text)
    if utf8_len(text) <= limit:
        return text
    tail = "\n" + ELLIPSIS
    head = truncate_bytes(text, max(0, limit - utf8_len(tail) - 4), marker="")
    if "\n" in head:
        head = head[: head.rindex("\n")]
    head += tail
    return head + "\n```" if head.count("```") % 2 else head


FILTERS: dict[str, Callable[..., Any]] = {
    "clean": strip_control,
    "truncate_chars": truncate_chars,
    "truncate_bytes": truncate_bytes,
    "slack_escape": slack_escape,
    "md_escape": md_escape,
    "num": fmt_number,
    "thousands": fmt_int,
    "duration": fmt_duration,
    "relative": fmt_relative,
    "time": fmt_time,
    "tail_lines": tail_lines,
    "metrics": fmt_metrics,
    "pluck": pluck,
    "no_mentions": no_mentions,
    "fit_bytes": fit_bytes,
}


# --- report helpers (summaries and progress digests) ---------------------------------------

SPARK_CHARS = "▁▂▃▄▅▆▇█"


def sparkline(values: Any, width: int = 40) -> str:
    """``[3, 2, 1.5, 1]`` → ``█▄▂▁``: a one-line picture of a series (NaN/None as a space).

    Longer series are averaged down to ``width`` characters.
    """
    numbers: list[float | None] = []
    for value in list(values or []):
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        numbers.append(number if math.isfinite(number) else None)
    if not numbers or width <= 0:
        return ""
    if len(numbers) > width:
        buckets: list[float | None] = []
        for i in range(width):
            chunk = [v for v in numbers[i * len(numbers) // width : (i + 1) * len(numbers) // width] if v is not None]
            buckets.append(sum(chunk) / len(chunk) if chunk else None)
        numbers = buckets
    finite = [v for v in numbers if v is not None]
    if not finite:
        return " " * len(numbers)
    low, high = min(finite), max(finite)
    span = high - low
    top = len(SPARK_CHARS) - 1
    return "".join(
        " " if v is None else SPARK_CHARS[int(round((v - low) / span * top)) if span > 0 else top // 2]
        for v in numbers
    )


def epoch_rows(rows: Any, limit: int = 20, best_epoch: Any = None) -> list[Any]:
    """At most ``limit`` rows of a per-epoch table, keeping the first, the best and the last ones.

    Each returned row is a copy with ``omitted`` (how many rows were left out just
    before it, 0 when none) so templates can print "… 412 epochs …" gaps. Rows are
    dicts or a summary's `EpochRow` dataclasses.
    """
    import dataclasses

    def epoch_of(row: Any) -> Any:
        return row.get("epoch") if isinstance(row, dict) else getattr(row, "epoch", None)

    def with_gap(row: Any, omitted: int) -> Any:
        return dict(row, omitted=omitted) if isinstance(row, dict) else dataclasses.replace(row, omitted=omitted)

    items = [r for r in list(rows or []) if isinstance(r, dict) or dataclasses.is_dataclass(r)]
    limit = max(1, int(limit))
    if len(items) <= limit:
        return [with_gap(r, 0) for r in items]
    n = len(items)
    priority: list[int] = [0, n - 1]
    priority += [i for i, row in enumerate(items) if best_epoch is not None and epoch_of(row) == best_epoch]
    tail = max(1, limit // 2)
    priority += range(n - 1, n - 1 - tail, -1)
    spread = max(1, limit - tail)
    priority += [int(k * (n - tail) / spread) for k in range(1, spread)]
    chosen = sorted(list(dict.fromkeys(i for i in priority if 0 <= i < n))[:limit])
    out: list[Any] = []
    previous = -1
    for i in chosen:
        out.append(with_gap(items[i], i - previous - 1))
        previous = i
    return out


def percent(value: Any, total: Any) -> str:
    """``percent(3, 10)`` → ``30%`` (``—`` when unknown)."""
    try:
        share = float(value) / float(total)
    except (TypeError, ValueError, ZeroDivisionError):
        return "—"
    return f"{share * 100:.0f}%" if math.isfinite(share) else "—"


FILTERS.update(
    {
        "sparkline": sparkline,
        "epoch_rows": epoch_rows,
        "percent": percent,
    }
)
