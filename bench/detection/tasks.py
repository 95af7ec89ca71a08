"""The small synthetic tasks and the run plan of the detection benchmark.

Each `RunSpec` is one real Keras training: a task, a seed, a batch size, an optimizer,
a learning rate, and zero or more injected faults. Per task and seed there is one
clean run, one run with two transient faults (poisoned batches, far apart), one with
NaN inputs and one with a learning-rate blow-up. The plan is fixed (seeded), so a
recording is reproducible; ``split`` marks the held-out runs that were never used to
tune the detectors.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

TASKS = ("mlp_cls", "mlp_bin", "mlp_reg", "cnn", "gru")
#: Families added for issue 12 (short recordings, LR schedules, faults from batch 30 on).
NEW_TASKS = ("attention", "bn_cnn", "autoencoder", "imbalanced")
SCHEDULES = ("constant", "warmup_cosine", "staircase", "plateau")

#: Tasks and seeds used to calibrate the detectors; everything else is held out.
CALIBRATION_TASKS = ("mlp_cls", "mlp_reg", "cnn")
CALIBRATION_SEEDS = (0, 1, 2)

FAULTS = (
    "scale_targets",
    "scale_inputs",
    "flip_labels",
    "nan_input",
    "nan_target",
    "lr_blowup",
    "lr_ramp",
)


@dataclasses.dataclass(frozen=True)
class Fault:
    """One injected fault.

    Args:
        type: one of `FAULTS`.
        step: 0-based global batch index of the first faulty batch.
        n_batches: how many consecutive batches are poisoned (1-3).
        factor: scale factor (targets, inputs, learning rate; per batch for ``lr_ramp``).
    """

    type: str
    step: int
    n_batches: int = 1
    factor: float = 1.0


@dataclasses.dataclass(frozen=True)
class RunSpec:
    name: str
    task: str
    seed: int
    batch_size: int
    optimizer: str
    lr: float
    total_steps: int
    samples: int
    steps_per_execution: int = 1
    faults: tuple[Fault, ...] = ()
    split: str = "calibration"
    schedule: str = "constant"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSpec:
        faults = tuple(Fault(**f) for f in data.get("faults") or ())
        return cls(**{**data, "faults": faults})


def _split(task: str, seed: int) -> str:
    return "calibration" if task in CALIBRATION_TASKS and seed in CALIBRATION_SEEDS else "holdout"


def _optimizer_for(rng: random.Random) -> tuple[str, float]:
    choice = rng.choice(["adam", "adam", "sgd", "rmsprop"])
    if choice == "sgd":
        return choice, rng.choice([0.02, 0.05, 0.1])
    if choice == "rmsprop":
        return choice, rng.choice([3e-4, 1e-3])
    return choice, rng.choice([3e-4, 1e-3, 3e-3])


def _poison(task: str, rng: random.Random, step: int, kind: str) -> Fault:
    n = rng.randint(1, 3)
    if kind == "inputs":
        return Fault("scale_inputs", step, n, rng.choice([3.0, 10.0, 100.0]))
    if task == "mlp_reg":
        return Fault("scale_targets", step, n, rng.choice([2.0, 4.0, 10.0, 100.0]))
    return Fault("flip_labels", step, n, 1.0)


def plan(quick: bool = False) -> list[RunSpec]:
    """The benchmark's runs."""
    runs: list[RunSpec] = []
    for task in TASKS:
        seeds = (0, 1) if task in ("mlp_bin", "gru") else (0, 1, 2, 3)
        for seed in seeds[:1] if quick else seeds:
            rng = random.Random(f"{task}-{seed}")
            batch_size = (16, 32, 64, 16)[seed % 4] if task != "gru" else (32, 16)[seed % 2]
            optimizer, lr = _optimizer_for(rng)
            if task == "mlp_cls" and seed % 2:
                optimizer, lr = "adam", 3e-3  # separable data: drive the loss to ~0 (heavy-tailed batches)
            samples = 2048 if task in ("cnn", "gru") else 4096
            split = _split(task, seed)
            spe = 4 if (task, seed) in (("mlp_reg", 3), ("mlp_bin", 1)) else 1
            clean_steps, first, last = {"gru": (800, 150, 500), "cnn": (1500, 200, 1000)}.get(
                task, (2000, 200, 1400)
            )
            base = RunSpec(
                f"{task}-s{seed}-clean", task, seed, batch_size, optimizer, lr, 0, samples, spe, (), split
            )

            def spec(kind: str, total: int, faults: tuple[Fault, ...], base: RunSpec = base) -> RunSpec:
                name = f"{base.task}-s{base.seed}-{kind}"
                return dataclasses.replace(base, name=name, total_steps=total, faults=faults)

            runs.append(spec("clean", clean_steps, ()))
            frng = random.Random(f"{task}-{seed}-faults")
            # Two transient faults in one run, far enough apart for the model to recover.
            t1 = frng.randrange(first, (first + last) // 2)
            t2 = t1 + frng.randrange(300, 500)
            kinds = ["labels", "inputs"] if frng.random() < 0.5 else ["inputs", "labels"]
            transient = (_poison(task, frng, t1, kinds[0]), _poison(task, frng, t2, kinds[1]))
            runs.append(spec("poison", t2 + 100, transient))
            t = frng.randrange(first, last)
            runs.append(spec("nan_input", t + 100, (Fault("nan_input", t),)))
            t = frng.randrange(first, last)
            runs.append(
                spec("lr_blowup", t + 60, (Fault("lr_blowup", t, 1, frng.choice([30.0, 100.0, 1000.0])),))
            )
    return runs


def new_plan(quick: bool = False) -> list[RunSpec]:
    """The issue-12 families: per family and seed a long-ish clean run, two early transient
    poisons (the first from batch 30), a slow LR ramp, and NaN targets/inputs; held out."""
    runs: list[RunSpec] = []
    for i, task in enumerate(NEW_TASKS):
        for seed in (0,) if quick else (0, 1):
            rng = random.Random(f"{task}-{seed}-v2")
            batch_size = rng.choice([16, 32, 64])
            schedule = SCHEDULES[(i + 2 * seed) % len(SCHEDULES)]
            optimizer, lr = ("adam", rng.choice([1e-3, 3e-3])) if task != "bn_cnn" else ("sgd", 0.05)
            base = RunSpec(
                f"{task}-s{seed}-clean", task, seed, batch_size, optimizer, lr, 0, 2048, 1, (), "holdout", schedule
            )

            def spec(kind: str, total: int, faults: tuple[Fault, ...], base: RunSpec = base) -> RunSpec:
                return dataclasses.replace(
                    base, name=f"{base.task}-s{base.seed}-{kind}", total_steps=total, faults=faults
                )

            runs.append(spec("clean", 1200, ()))
            t1 = rng.randrange(30, 80)
            t2 = t1 + rng.randrange(150, 250)
            first = Fault("scale_inputs", t1, rng.randint(1, 3), rng.choice([3.0, 10.0, 100.0]))
            if task == "attention":  # integer tokens cannot be scaled
                first = Fault("flip_labels", t1, rng.randint(1, 3), 1.0)
            second = Fault("scale_targets" if task == "autoencoder" else "flip_labels", t2, rng.randint(1, 3), 10.0)
            runs.append(spec("early", t2 + 80, (first, second)))
            t = rng.randrange(40, 200)
            runs.append(spec("lr_ramp", t + 150, (Fault("lr_ramp", t, 1, rng.choice([1.03, 1.06])),)))
            t = rng.randrange(30, 200)
            if task == "attention":  # integer tokens and labels: no NaN to inject, blow the LR up instead
                runs.append(spec("lr_blowup", t + 60, (Fault("lr_blowup", t, 1, 300.0),)))
            else:
                kind = "nan_target" if seed == 0 and task in ("autoencoder", "imbalanced") else "nan_input"
                runs.append(spec(kind, t + 40, (Fault(kind, t),)))
    return runs
