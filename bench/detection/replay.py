"""Replay recorded traces through alertcb's detectors and two baselines, and score them.

Scoring (per run):

- A fault is *visible* at the first batch ``v`` of its window (the poisoned batches plus
  two, or 50 batches after a learning-rate blow-up) whose per-batch loss is non-finite
  or at least 3x the median of the 20 batches before it. Faults never visible in the
  per-batch loss are reported separately (silent NaN is scored from the recorded weight
  checks).
- A visible fault is *detected* when the system fires an alert in ``[onset, v + 50]``;
  delay = alert batch - ``v``.
- A *false alarm* is any alert on a clean run, or before the onset of a fault run;
  the rate is per 10,000 such clean batches.
"""

from __future__ import annotations

import functools
import json
import math
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alertcb.detectors import (
    RunningMeanDecoder,
    SpikeDetector,
)
from alertcb.detectors.spike import DEFAULT_SENSITIVITY
from bench.detection.tasks import RunSpec

VISIBLE_RATIO = 3.0
VISIBLE_LOOKBACK = 20
DETECT_TOLERANCE = 50
WEIGHT_CHECK_EVERY = 100
SENSITIVITIES = (1.0, 1.5, 1.8, 2.2, 3.0, 4.0)


@dataclass
class Trace:
    spec: RunSpec
    steps_per_epoch: int
    records: list[tuple[int, int, float]]  # epoch, batch, running mean
    weights_finite: dict[int, bool] | None
    wall_s: float = 0.0

    @property
    def step_s(self) -> float:
        """Measured seconds per batch of the recorded fit (compile time included)."""
        batches = len(self.records) * self.spec.steps_per_execution
        return self.wall_s / batches if batches and self.wall_s > 0 else 1e-3

    def global_step(self, epoch: int, batch: int) -> int:
        return epoch * self.steps_per_epoch + min(batch, self.steps_per_epoch - 1)


def load(path: Path) -> Trace:
    data = json.loads(path.read_text())
    records = [(int(e), int(b), float(m)) for e, b, m in data["steps"]]
    wf = data.get("weights_finite")
    return Trace(
        RunSpec.from_dict(data["spec"]),
        int(data["steps_per_epoch"]),
        records,
        {int(s): bool(f) for s, f in wf} if wf else None,
        float(data.get("wall_s") or 0.0),
    )


def decoded(trace: Trace) -> list[tuple[int, float]]:
    """(global step, per-batch or per-chunk loss) for every record."""
    decoder = RunningMeanDecoder(trace.steps_per_epoch)
    out = []
    for epoch, batch, mean in trace.records:
        result = decoder.decode(batch, mean, epoch=epoch)
        if result is not None:
            out.append((trace.global_step(epoch, batch), result[0]))
    return out


# --- systems: each maps a trace to a list of alert steps -----------------------------------


def alertcb_alerts(trace: Trace, spike_kwargs: dict[str, Any] | None = None) -> list[tuple[int, str]]:
    """alertcb's default engine (`Monitor`, as `default_callbacks` runs it), weight check on its budget."""
    from bench.detection.spec import engine_alerts

    return engine_alerts(trace, trace.step_s, spike_kwargs)


def spike_only_alerts(trace: Trace, spike_kwargs: dict[str, Any] | None = None) -> list[tuple[int, str]]:
    spike = SpikeDetector(**(spike_kwargs or {}))
    alerts = []
    for step, value in decoded(trace):
        event = spike.update(step, value)
        if event is not None and not event.resolved:
            alerts.append((step, event.title))
    return alerts


def terminate_on_nan_alerts(trace: Trace) -> list[tuple[int, str]]:
    """``keras.callbacks.TerminateOnNaN``: ``logs["loss"]`` is NaN or Inf (it stops at the first)."""
    for epoch, batch, mean in trace.records:
        if math.isnan(mean) or math.isinf(mean):
            return [(trace.global_step(epoch, batch), "nan")]
    return []


def ema_zscore_alerts(
    trace: Trace, alpha: float = 0.1, z: float = 3.0, warmup: int = 20
) -> list[tuple[int, str]]:
    """Naive: z-score of ``logs["loss"]`` (the running mean) against its EMA; one alert per excursion."""
    mean = var = None
    alerts = []
    active = False
    for i, (epoch, batch, value) in enumerate(trace.records):
        step = trace.global_step(epoch, batch)
        if not math.isfinite(value):
            if not active:
                alerts.append((step, "nonfinite"))
                active = True
            continue
        if mean is None or var is None:
            mean, var = value, 0.0
            continue
        score = (value - mean) / math.sqrt(var) if var > 0 else 0.0
        if i >= warmup and score > z:
            if not active:
                alerts.append((step, "zscore"))
            active = True
        else:
            active = False
        diff = value - mean
        mean += alpha * diff
        var = (1 - alpha) * (var + alpha * diff * diff)
    return alerts


def sigma_rule_alerts(trace: Trace, window: int = 128, sigmas: float = 6.0) -> list[tuple[int, str]]:
    """A large-codebase rule on the per-batch loss: mean + 6 sigma of the last 128 batches."""
    recent: list[float] = []
    alerts = []
    active = False
    for step, value in decoded(trace):
        if not math.isfinite(value):
            if not active:
                alerts.append((step, "nonfinite"))
            active = True
            continue
        if len(recent) >= 20:
            mu = statistics.fmean(recent)
            sd = statistics.pstdev(recent, mu)
            if value > mu + sigmas * sd:
                if not active:
                    alerts.append((step, "sigma"))
                active = True
            else:
                active = False
                recent.append(value)
        else:
            recent.append(value)
        if len(recent) > window:
            recent.pop(0)
    return alerts


SYSTEMS: dict[str, Callable[[Trace], list[tuple[int, str]]]] = {
    "alertcb (defaults)": alertcb_alerts,
    "TerminateOnNaN": terminate_on_nan_alerts,
    "EMA z-score on logs['loss']": ema_zscore_alerts,
    "mean+6σ/128 on per-batch loss": sigma_rule_alerts,
}


# --- scoring ------------------------------------------------------------------------------


@dataclass
class FaultCase:
    run: str
    type: str
    split: str
    onset: int
    end: int  # last batch that may still count as detecting this fault
    visible_at: int | None
    ratio: float
    silent_nan_at: int | None  # weights non-finite while the loss is finite


@dataclass
class Score:
    detected: int = 0
    visible: int = 0
    delays: list[int] = field(default_factory=list)
    false_alarms: int = 0
    clean_steps: int = 0
    missed: list[str] = field(default_factory=list)
    false_runs: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.detected / self.visible if self.visible else math.nan

    @property
    def fa_per_10k(self) -> float:
        return 1e4 * self.false_alarms / self.clean_steps if self.clean_steps else math.nan


def fault_cases(trace: Trace) -> list[FaultCase]:
    """One case per injected fault, with where (if anywhere) it shows in the per-batch loss."""
    values = decoded(trace)
    spe = trace.spec.steps_per_execution
    faults = sorted(trace.spec.faults, key=lambda f: f.step)
    means = {trace.global_step(e, b): m for e, b, m in trace.records}
    cases = []
    for k, fault in enumerate(faults):
        next_onset = faults[k + 1].step if k + 1 < len(faults) else None
        window_end = fault.step + (50 if fault.type == "lr_blowup" else fault.n_batches - 1 + 2) + spe - 1
        visible_at = None
        ratio = 0.0
        for i, (step, value) in enumerate(values):
            if step < fault.step or step > window_end:
                continue
            if not math.isfinite(value):
                visible_at, ratio = step, math.inf
                break
            previous = [v for _, v in values[max(0, i - VISIBLE_LOOKBACK) : i] if math.isfinite(v)]
            if previous:
                med = statistics.median(previous)
                r = value / med if med > 0 else math.inf
                ratio = max(ratio, r)
                if r >= VISIBLE_RATIO:
                    visible_at = step
                    break
        end = (visible_at if visible_at is not None else window_end) + DETECT_TOLERANCE
        if next_onset is not None:
            end = min(end, next_onset - 1)
        silent = None
        if trace.weights_finite is not None and fault.type in ("nan_input", "lr_blowup"):
            for step in sorted(trace.weights_finite):
                if step >= fault.step and not trace.weights_finite[step]:
                    if math.isfinite(means.get(step, math.nan)):
                        silent = step
                    break
        cases.append(
            FaultCase(
                trace.spec.name, fault.type, trace.spec.split, fault.step, end, visible_at, ratio, silent
            )
        )
    return cases


def clean_steps(trace: Trace) -> int:
    """Batches before the first fault (all of a clean run)."""
    spe = trace.spec.steps_per_execution
    onset = min((f.step for f in trace.spec.faults), default=None)
    return sum(spe for e, b, _ in trace.records if onset is None or trace.global_step(e, b) < onset)


def score(traces: Iterable[Trace], system: Callable[[Trace], list[tuple[int, str]]]) -> dict[str, Score]:
    """Scores per split ("calibration", "holdout", "all")."""
    scores = {"calibration": Score(), "holdout": Score(), "all": Score()}
    for trace in traces:
        alerts = system(trace)
        cases = fault_cases(trace)
        onset = min((c.onset for c in cases), default=None)
        false = [s for s, _ in alerts if onset is None or s < onset]
        for key in (trace.spec.split, "all"):
            sc = scores.setdefault(key, Score())
            sc.clean_steps += clean_steps(trace)
            sc.false_alarms += len(false)
            if false:
                sc.false_runs.append(f"{trace.spec.name}@{false[0]}")
            for case in cases:
                if case.visible_at is None:
                    continue
                sc.visible += 1
                hits = [s for s, _ in alerts if case.onset <= s <= case.end]
                if hits:
                    sc.detected += 1
                    sc.delays.append(max(0, hits[0] - case.visible_at))
                else:
                    sc.missed.append(f"{case.run}:{case.type}@{case.onset} ({case.ratio:.1f}x)")
    return scores


def _median(values: list[int]) -> str:
    return f"{statistics.median(values):g}" if values else "–"


def report(specs: list[RunSpec], traces_dir: Path) -> str:
    traces = [load(traces_dir / f"{s.name}.json") for s in specs if (traces_dir / f"{s.name}.json").exists()]
    cases = [c for t in traces for c in fault_cases(t)]
    clean_runs = sum(1 for t in traces if not t.spec.faults)
    total_steps = sum(len(t.records) * t.spec.steps_per_execution for t in traces)
    lines = [
        f"{len(traces)} runs, {total_steps:,} batches ({clean_runs} clean runs; {len(cases)} injected faults, "
        f"{sum(1 for c in cases if c.visible_at is not None)} of them visible in the per-batch loss, "
        f"{sum(1 for c in cases if c.silent_nan_at is not None)} silent NaN)",
        "",
        "| detector | split | recall (visible faults) | median delay (batches) | false alarms / 10k clean steps |",
        "|---|---|---|---|---|",
    ]
    details = []
    for name, system in SYSTEMS.items():
        scores = score(traces, system)
        for split in ("calibration", "holdout", "all"):
            sc = scores[split]
            lines.append(
                f"| {name} | {split} | {sc.detected}/{sc.visible} = {sc.recall:.3f} | {_median(sc.delays)} | "
                f"{sc.false_alarms} in {sc.clean_steps:,} = {sc.fa_per_10k:.2f} |"
            )
        if scores["all"].missed or scores["all"].false_runs:
            details.append(
                f"- {name}: missed {scores['all'].missed[:6]}; false alarms in {scores['all'].false_runs[:6]}"
            )
    lines += [
        "",
        "Per fault type (alertcb defaults, all runs):",
        "",
        "| fault | injected | visible | detected | median delay |",
        "|---|---|---|---|---|",
    ]
    by_type: dict[str, list[FaultCase]] = {}
    for c in cases:
        by_type.setdefault(c.type, []).append(c)
    traces_by_name = {t.spec.name: t for t in traces}
    alerts_by_run = {t.spec.name: alertcb_alerts(t) for t in traces}
    for ftype, group in sorted(by_type.items()):
        visible = [c for c in group if c.visible_at is not None]
        delays = []
        for c in visible:
            hits = [s for s, _ in alerts_by_run[c.run] if c.onset <= s <= c.end]
            if hits:
                delays.append(max(0, hits[0] - (c.visible_at or 0)))
        lines.append(f"| {ftype} | {len(group)} | {len(visible)} | {len(delays)} | {_median(delays)} |")
    silent = [c for c in cases if c.silent_nan_at is not None]
    if silent:
        found = []
        for c in silent:
            hits = [
                s
                for s, title in alerts_by_run[c.run]
                if title == "model weights are not finite" and s >= (c.silent_nan_at or 0)
            ]
            found.append(hits[0] - (c.silent_nan_at or 0) if hits else None)
        got = [d for d in found if d is not None]
        tn = sum(1 for c in silent if terminate_on_nan_alerts(traces_by_name[c.run]))
        lines += [
            "",
            f"Silent NaN (weights non-finite while the logged loss is finite; the model sanitises activations "
            f"with nan_to_num): weight check on the cost budget detects {len(got)}/{len(silent)}, "
            f"median delay {_median(got)} batches; TerminateOnNaN {tn}/{len(silent)}.",
        ]
    lines += [
        "",
        "Spike sensitivity (alertcb with `LossSpikeAlert(sensitivity=...)`, all runs):",
        "",
        "| sensitivity | recall | false alarms / 10k clean steps |",
        "|---|---|---|",
    ]
    for sensitivity in SENSITIVITIES:
        sc = score(traces, functools.partial(alertcb_alerts, spike_kwargs={"sensitivity": sensitivity}))[
            "all"
        ]
        mark = " (default)" if sensitivity == DEFAULT_SENSITIVITY else ""
        lines.append(
            f"| {sensitivity:g}{mark} | {sc.detected}/{sc.visible} = {sc.recall:.3f} | {sc.fa_per_10k:.2f} |"
        )
    if details:
        lines += ["", "Misses and false alarms:", "", *details]
    return "\n".join(lines)
