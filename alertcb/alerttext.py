"""What an alert says: readable evidence from an event's details, for every channel's template.

`alert_view` turns an `Event` into plain pieces that templates only escape and lay out:
the lead sentence, the culprit frame (the innermost frame of *user* code: the
``time.sleep(...)`` a hang is stuck in, the line a crash raised at), labelled facts
(never a raw dict), stacks with library frames collapsed to a count (each stack once),
and one "what to check" line per kind (`CHECKS`, defined here once).

It reads details defensively: detectors may add, drop or reshape keys, and anything
it does not know is still shown, as ``label: readable value``.

Example:
    >>> view = alert_view(Event(kind="spike", title="loss spike", details={"value": 7656.0, "median": 2.08}))
    >>> view["facts"][0][1]
    "7,656 (the batch's own loss, de-averaged from Keras' running mean) = 3,681× the baseline 2.08 (median of the recent batches)"
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from alertcb.events import Event
from alertcb.filters import fmt_duration, fmt_number, strip_control
from alertcb.stacks import collapse, culprit, frame_text, parse_frames

#: One "what to check" line per kind, shown at the end of every channel's alert.
CHECKS: dict[str, str] = {
    "nonfinite": "the data (NaN/Inf in inputs or targets, a bad shard) and the learning rate (too high, or a schedule that jumped)",
    "hang": "the frame it is stuck in (shown first), the input pipeline (generator, tf.data, file or network reads) "
    "and any collective/all-reduce waiting for another worker",
    "divergence": "the learning rate and its schedule (warm-up too short, a jump), then gradient clipping",
    "spike": "the data of that batch (outliers, wrong labels, a corrupt shard); repeated spikes: the learning rate",
    "plateau": "the learning rate (too low, or decayed too early) and whether the model still has capacity to learn",
    "threshold": "the metric against the threshold you configured, and what changed since it was last met",
    "val_anomaly": "the validation data (a changed split, leakage, preprocessing that differs from training)",
    "overfitting": "regularisation (dropout, weight decay), early stopping and the size of the training set",
    "crash": "the frame it raised in (shown first) and the exception; resume from the last checkpoint once fixed",
    "interrupted": "preemption or cancellation by the scheduler (spot/preemptible node, time limit, a kill); "
    "resume from the last checkpoint",
    "stalled": "whether the process is still alive (OOM killer, lost node) and its last log lines",
    "registry_error": "the model registry's address and credentials, and whether it is reachable from the node",
    "early_stop": "whether stopping here was expected (patience, the monitored metric)",
    "custom": "the message above",
}
DEFAULT_CHECK = "the message above and the run's logs"
MAX_FACTS = 100  # a sanity cap; byte-limited formats fit the evidence to their budget

# --- readable values ----------------------------------------------------------------------


def readable(value: Any, key: str = "", limit: int = 300) -> str:
    """A value as a person reads it: ``{'loss': nan}`` → ``loss = NaN``; ``12.5`` s → ``12.5 s``."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and (key == "epoch" or key.endswith("_epoch")):
        return f"{value + 1:,}"  # events count epochs from 0; people (and Keras' progress bar) from 1
    if isinstance(value, (int, float)):
        if key.endswith("_s") or key in ("seconds", "duration"):
            return fmt_duration(value)
        return fmt_number(value)
    if isinstance(value, Mapping):
        text = ", ".join(f"{strip_control(k)} = {readable(v, str(k), 80)}" for k, v in list(value.items())[:20])
        more = len(value) - 20
        return _cut(text + (f", … (+{more})" if more > 0 else ""), limit)
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
        text = ", ".join(readable(v, key, 80) for v in items[:20])
        return _cut(text + (f", … (+{len(items) - 20})" if len(items) > 20 else ""), limit)
    return _cut(" ".join(strip_control(value).split()), limit)


def label_of(key: str) -> str:
    """``batches_above`` → ``batches above``; ``idle_s`` → ``idle``."""
    key = strip_control(key)
    return (key[:-2] if key.endswith("_s") and len(key) > 2 else key).replace("_", " ")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def _is_long(value: Any) -> bool:
    return isinstance(value, str) and (len(value) >= 200 or "\n" in value)


def _num(details: Mapping[str, Any], key: str) -> float | None:
    value = details.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


# --- per kind -----------------------------------------------------------------------------


def _monitor(event: Event, suffix: str) -> str:
    monitor = event.details.get("monitor")
    if isinstance(monitor, str) and monitor:
        return monitor
    title = event.title or ""
    return title[: -len(suffix)].strip() if title.endswith(suffix) and title[: -len(suffix)].strip() else "loss"


def _lr(event: Event) -> str | None:
    for key in ("lr", "learning_rate"):
        value = event.details.get(key)
        if value is None:
            value = event.metrics.get(key)
        if value is not None:
            return readable(value, key)
    return None


def _window(details: Mapping[str, Any]) -> str:
    window = details.get("window")
    return f"the last {window} batches" if isinstance(window, int) and not isinstance(window, bool) else "the recent batches"


def _spike(event: Event, view: dict[str, Any]) -> set[str]:
    d = event.details
    value = _num(d, "value")
    median = _num(d, "baseline") if _num(d, "baseline") is not None else _num(d, "median")
    monitor = _monitor(event, "spike")
    if value is None or median is None or event.resolved:
        return {"baseline"} if median is not None and "median" in d else set()
    ratio = value / median if median > 0 else None
    text = f"{fmt_number(value)} (the batch's own {monitor}, de-averaged from Keras' running mean)"
    text += f" = {fmt_number(ratio)}×" if ratio is not None else " vs"
    text += f" the baseline {fmt_number(median)} (median of {_window(d)})"
    view["facts"].append((f"batch {monitor}", text))
    threshold = _num(d, "threshold")
    if threshold is not None:
        note = "two batches in a row above it" if d.get("persisted") else "one batch above it"
        peak = _num(d, "recent_max")
        note += f"; recent batches peaked at {fmt_number(peak)}" if peak is not None else ""
        view["facts"].append(("alert threshold", f"{fmt_number(threshold)} ({note})"))
    view["lead"] = ""
    view["hide_metrics"].add(monitor)
    return {"value", "median", "baseline", "ratio", "threshold", "typical_high", "recent_max", "score", "persisted", "window", "monitor"}


def _divergence(event: Event, view: dict[str, Any]) -> set[str]:
    d = event.details
    level = _num(d, "level")
    best = _num(d, "baseline") if _num(d, "baseline") is not None else _num(d, "best")
    monitor = _monitor(event, "diverging")
    if level is None or best is None:
        return set()
    view["hide_metrics"].add(monitor)
    if event.resolved:
        return {"value", "level", "best", "baseline", "ratio", "monitor", "window"}
    ratio = _num(d, "ratio")
    text = f"{fmt_number(level)} (median of {_window(d)}' own {monitor} values, not Keras' running mean) = "
    text += f"{fmt_number(ratio)}× " if ratio is not None else ""
    text += f"the baseline {fmt_number(best)} (its lowest level so far"
    best_step = d.get("best_step")
    text += f", at step {readable(best_step)})" if isinstance(best_step, int) else ")"
    view["facts"].append((f"{monitor} level", text))
    factor, above = _num(d, "above") or _num(d, "factor"), d.get("batches_above")
    if factor is not None and isinstance(above, int):
        view["facts"].append((f"above {fmt_number(factor)}× the baseline", f"for {above:,} batches in a row"))
    view["lead"] = ""
    return {"value", "level", "best", "baseline", "best_step", "ratio", "factor", "above", "batches_above", "monitor", "window"}


def _nonfinite(event: Event, view: dict[str, Any]) -> set[str]:
    d = event.details
    used = {"metric", "value"} if isinstance(d.get("metric"), str) else set()
    bad = d.get("nonfinite")
    if isinstance(bad, Mapping) and bad:
        view["facts"].append(("non-finite", readable(bad)))
        used.add("nonfinite")
    if d.get("weights_finite") is False:
        silent = " while the loss still looks finite" if d.get("silent") else ""
        view["facts"].append(("model weights", f"contain NaN/Inf{silent}"))
        used |= {"weights_finite", "silent"}
    elif d.get("weights_finite") is True:
        used |= {"weights_finite", "silent"}
    return used


def _stack_kinds(event: Event, view: dict[str, Any]) -> set[str]:
    """hang, crash, interrupted: the culprit frame first, each stack once, library frames collapsed."""
    d = event.details
    stacks: list[tuple[str, list[dict[str, Any]]]] = []
    used: set[str] = set()
    main_name = {"crash": "Traceback", "interrupted": "Main thread", "hang": "Training thread"}[event.kind]
    for key in ("traceback", "stack"):
        if isinstance(d.get(key), str):
            used.add(key)
            frames = parse_frames(d[key])
            if frames:
                stacks.append((main_name, frames))
    threads = d.get("threads")
    if isinstance(threads, Mapping):
        used.add("threads")
        for name, text in threads.items():
            text = text.get("stack", "") if isinstance(text, Mapping) else text
            frames = parse_frames(text)
            if frames:
                stacks.append((_thread_name(name, frames), frames))
    elif isinstance(threads, (list, tuple)):
        used.add("threads")
        for i, item in enumerate(threads):
            if isinstance(item, Mapping):
                frames = parse_frames(item.get("stack", ""))
                if frames:
                    stacks.append((_thread_name(item.get("name", i), frames), frames))
    lead = str(event.message or "")
    paragraphs = lead.split("\n\n")
    if len(paragraphs) > 1 and any('File "' in p for p in paragraphs[1:]):
        view["lead"] = paragraphs[0].strip()  # the rest is the stacks, shown below (once)
        if not stacks:
            for paragraph in paragraphs[1:]:
                head, _, body = paragraph.partition("\n")
                frames = parse_frames(body)
                if frames:
                    stacks.append((head.rstrip(":").strip() or main_name, frames))
    found = culprit(stacks)
    if found is not None:
        thread, frame, is_user = found
        label = {"hang": "stuck in", "crash": "raised in", "interrupted": "was in"}[event.kind]
        if not is_user:
            label += " (library code)"
        if not event.resolved:
            view["culprit"] = {"label": label, "text": frame_text(frame), "thread": thread.lower() if len(stacks) > 1 else ""}
    if found is not None:  # the stack holding the culprit first
        stacks.sort(key=lambda item: item[0] != found[0])
    for name, frames in stacks:
        view["stacks"].append({"title": f"{name} (innermost first)", "lines": collapse(frames)})
    if event.kind == "hang":
        used |= {"idle_s", "timeout_s", "last_step", "phase", "stalled_s"}
        step_time = _num(d, "step_time_s")
        if step_time is not None:
            view["facts"].append(("a step usually takes", fmt_duration(step_time)))
        used.add("step_time_s")
        if not view["lead"] and _num(d, "idle_s") is not None:
            view["lead"] = f"no progress for {fmt_duration(d['idle_s'])}" + (
                f" (timeout {fmt_duration(d['timeout_s'])})" if _num(d, "timeout_s") is not None else ""
            )
        if d.get("phase") not in (None, "train"):
            view["facts"].append(("phase", readable(d["phase"])))
    if event.kind in ("crash", "interrupted"):
        used |= {"exception", "signal"}
        shown = f"{event.title} {view['lead']}"
        final = _final_line(d.get("traceback"))
        if final and final not in shown:
            view["lead"] = f"{view['lead']}\n{final}".strip()
            shown += final
        for key in ("exception", "signal"):
            if isinstance(d.get(key), str) and d[key] not in shown:
                view["facts"].insert(0, (key, readable(d[key])))
    return used


def _final_line(traceback: Any) -> str:
    """``ValueError: bad size``: the last line of a traceback, when it names the exception."""
    lines = [line for line in str(traceback or "").splitlines() if line.strip()]
    last = lines[-1].strip() if lines else ""
    return last if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit|Warning)\b", last) else ""


def _thread_name(name: Any, frames: list[dict[str, Any]]) -> str:
    role = ""
    if any("from_generator_op" in f["file"] or "data_adapters" in f["file"] for f in frames):
        role = ", the tf.data generator"
    elif any(f["library"] == "multiprocessing" for f in frames):
        role = ", a multiprocessing worker"
    return f"Thread {strip_control(name)}{role}"


_HANDLERS = {
    "spike": _spike,
    "divergence": _divergence,
    "nonfinite": _nonfinite,
    "hang": _stack_kinds,
    "crash": _stack_kinds,
    "interrupted": _stack_kinds,
}


def what_to_check(kind: str) -> str:
    """The one "what to check" line for ``kind`` (`CHECKS`, else a generic line)."""
    return CHECKS.get(kind, DEFAULT_CHECK)


def alert_view(event: Any) -> dict[str, Any]:
    """The readable pieces of one alert (see the module docstring); templates escape them.

    Returns:
        A dict with ``lead`` (str), ``culprit`` (``{label, text, thread}`` or None),
        ``facts`` (``[(label, text)]``), ``metrics`` (``[(name, text)]``), ``metrics_label``,
        ``stacks`` (``[{title, lines}]``), ``blocks`` (``[(label, text)]``: other long text)
        and ``check`` ("" for a resolve).
    """
    if not isinstance(event, Event):
        raise TypeError(f"alert_view: expected an Event, got {type(event).__name__}")
    view: dict[str, Any] = {
        "lead": str(event.message or "").strip(),
        "culprit": None,
        "facts": [],
        "metrics": [],
        "metrics_label": "metrics",
        "stacks": [],
        "blocks": [],
        "check": "" if event.resolved else what_to_check(event.kind),
        "hide_metrics": set(),
    }
    handler = _HANDLERS.get(event.kind)
    used = handler(event, view) if handler is not None else set()
    lr = _lr(event)
    if lr is not None:
        view["facts"].append(("learning rate", lr))
        used |= {"lr", "learning_rate"}
    for key, value in event.details.items():
        if key in used:
            continue
        if _is_long(value):
            view["blocks"].append((label_of(str(key)), str(value)))
        else:
            view["facts"].append((label_of(str(key)), readable(value, str(key))))
    del view["facts"][MAX_FACTS:]
    hidden = view.pop("hide_metrics") | ({"lr", "learning_rate"} if lr is not None else set())
    view["metrics"] = [(strip_control(k), fmt_number(v)) for k, v in event.metrics.items() if k not in hidden]
    if hidden & set(event.metrics):
        view["metrics_label"] = "epoch running means"
    return view


def join_facts(facts: Iterable[tuple[str, str]], sep: str = "; ") -> str:
    """``[("a", "1"), ("b", "2")]`` → ``a: 1; b: 2`` (for one-line formats)."""
    return sep.join(f"{label}: {text}" for label, text in facts)
