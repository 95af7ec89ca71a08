"""Summary statuses, and what a ``crash`` / ``interrupted`` event says about the end of a run.

Status rules (the worst wins, in this order)::

    crashed > interrupted > diverged > incomplete > stopped_early > completed

- ``crashed`` / ``interrupted``: a ``crash`` / ``interrupted`` event was seen while
  training was active (the summary is emitted right away), or ``train_end`` was
  called with that status.
- ``diverged``: at the end a ``divergence`` alert is still firing (not resolved), or
  the last epoch's ``loss`` (or the monitored metric) is NaN/Inf.
- ``stopped_early``: ``train_end(stopped_early=True)`` (EarlyStopping, a policy), or an
  ``early_stop`` event was seen.
- ``completed``: none of the above.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from alertcb.events import Event, Severity

logger = logging.getLogger("alertcb")

#: Summary statuses, least to most severe. ``incomplete`` is used for a run whose
#: log has no summary (``alertcb report`` on a run that died without one).
STATUS_RANK = {
    "completed": 0,
    "stopped_early": 1,
    "incomplete": 2,
    "diverged": 3,
    "interrupted": 4,
    "crashed": 5,
}
STATUS_SEVERITY = {
    "completed": Severity.INFO,
    "stopped_early": Severity.WARNING,
    "incomplete": Severity.WARNING,
    "diverged": Severity.CRITICAL,
    "interrupted": Severity.CRITICAL,
    "crashed": Severity.CRITICAL,
}
STATUS_ICON = {
    "completed": "✅",
    "stopped_early": "🟠",
    "incomplete": "❔",
    "diverged": "🔴",
    "interrupted": "⛔",
    "crashed": "💥",
}
STATUS_TEXT = {
    "completed": "completed",
    "stopped_early": "stopped early",
    "incomplete": "incomplete",
    "diverged": "diverged",
    "interrupted": "interrupted",
    "crashed": "crashed",
}
MAX_MESSAGE_CHARS = 500
MAX_TRACEBACK_CHARS = 6000

#: Event kinds that are not alerts (never counted as "alerts raised").
NOT_ALERTS = frozenset({"summary", "progress", "test", "started"})
#: Alert kinds that can make a run "diverged" when still firing at the end.
DIVERGENT_KINDS = frozenset({"divergence"})


def terminal_status(event: Event) -> str:
    """``crashed`` for a crash, ``interrupted`` for an interrupt (Ctrl-C counts as one)."""
    if event.kind == "interrupted" or event.details.get("exception") == "KeyboardInterrupt":
        return "interrupted"
    return "crashed"


def error_info(event: Event) -> dict[str, Any]:
    """What a ``crash`` / ``interrupted`` event tells the summary (traceback cut to its end)."""
    details = event.details
    traceback = ""
    for key in ("traceback", "stack", "exc_text"):
        value = details.get(key)
        if isinstance(value, str) and value:
            traceback = value
            break
        if isinstance(value, (list, tuple)) and value:
            traceback = "\n".join(str(v) for v in value)
            break
    if len(traceback) > MAX_TRACEBACK_CHARS:
        traceback = "…\n" + traceback[-MAX_TRACEBACK_CHARS:]
    exc_type = details.get("exception") or details.get("exception_type") or details.get("type") or ""
    return {
        "status": terminal_status(event),
        "kind": event.kind,
        "title": event.title,
        "type": str(exc_type)[:200],
        "message": event.message[:MAX_MESSAGE_CHARS],
        "epoch": event.epoch,
        "step": event.step,
        "traceback": traceback,
    }


def decide_status(
    status: Any,
    *,
    stopped_early: bool,
    error: Mapping[str, Any] | None,
    firing: list[Mapping[str, Any]],
    last_logs: Mapping[str, float],
    monitor: str,
) -> tuple[str, str]:
    """``(status, reason)``: the worst of ``status`` and what the run showed (see the module docstring)."""
    base = str(status) if status is not None else "completed"
    reasons: list[str] = []
    if base not in STATUS_RANK:
        logger.warning("alertcb: unknown summary status %r, reporting it as given", base)
    if stopped_early and base == "completed":
        base = "stopped_early"
    candidates = [base]
    if error is not None:
        candidates.append(str(error["status"]))
    divergent = [f for f in firing if f["kind"] in DIVERGENT_KINDS]
    if divergent:
        candidates.append("diverged")
        reasons.append(f"{divergent[0]['kind']} alert still firing: {divergent[0]['title']}")
    for key in dict.fromkeys(("loss", monitor)):
        value = last_logs.get(key)
        if value is not None and not math.isfinite(value):
            candidates.append("diverged")
            reasons.append(f"final {key} is {value}")
            break
    worst = max(candidates, key=lambda s: STATUS_RANK.get(s, 1))
    return worst, "; ".join(dict.fromkeys(reasons))
