"""Unseen families of the detection benchmark: never used to choose or tune anything.

Added for issue 12's second pass, after the detectors' defaults were fixed, to check
them on architectures, optimizers and schedules they were not built on: an LSTM, a
residual MLP, a Conv1D motif classifier and a 10-class GELU MLP with dropout and label
noise; SGD with momentum, RMSprop, AdamW and Adam; batch sizes 16-64; constant,
warm-up + cosine, staircase and ``ReduceLROnPlateau`` schedules. Split ``unseen``
(recorded runs) and ``unseen_injected`` (faults injected at replay into their clean
traces), reported apart from everything else.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import numpy as np

from bench.detection.tasks import SCHEDULES, Fault, RunSpec

UNSEEN_TASKS = ("lstm", "resmlp", "conv1d", "mlp10")
CLASSES = {"lstm": 3, "conv1d": 3, "mlp10": 10}
OPTIMIZERS = (("sgdm", 0.02), ("rmsprop", 1e-3), ("adamw", 1e-3), ("adam", 2e-3))


def make_data(task: str, seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(100 + seed)
    if task == "lstm":  # which of 3 features has the largest sum over 10 steps
        x = rng.normal(size=(n, 10, 3))
        y = np.argmax(x.sum(axis=1) + rng.normal(size=(n, 3)) * 0.8, axis=1)
        return x.astype("float32"), y.astype("int32")
    if task == "resmlp":  # noisy smooth regression
        x = rng.normal(size=(n, 16))
        w = rng.normal(size=(16, 8)) / 4.0
        y = np.sin(x @ w).sum(axis=1, keepdims=True) + 0.2 * rng.normal(size=(n, 1))
        return x.astype("float32"), y.astype("float32")
    if task == "conv1d":  # which of 3 motifs is hidden in a noisy sequence of 32
        motifs = rng.normal(size=(3, 5)) * 1.5
        y = rng.integers(0, 3, size=n)
        x = rng.normal(size=(n, 32))
        at = rng.integers(0, 27, size=n)
        for i in range(n):
            x[i, at[i] : at[i] + 5] += motifs[y[i]]
        return x[..., None].astype("float32"), y.astype("int32")
    # mlp10: 10 Gaussian blobs in 30 dimensions, 10% of labels wrong
    centers = rng.normal(size=(10, 30)) * 0.6
    y = rng.integers(0, 10, size=n)
    x = centers[y] + rng.normal(size=(n, 30))
    noisy = rng.random(n) < 0.1
    y[noisy] = rng.integers(0, 10, size=int(noisy.sum()))
    return x.astype("float32"), y.astype("int32")


def build(task: str, keras: Any) -> tuple[Any, Any]:
    """(model, loss) of an unseen family."""
    layers = keras.layers
    xent = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if task == "lstm":
        return keras.Sequential([keras.Input((10, 3)), layers.LSTM(12), layers.Dense(3)]), xent
    if task == "resmlp":
        inputs = keras.Input((16,))
        h = layers.Dense(32, activation="relu")(inputs)
        for _ in range(2):
            h = layers.Add()([h, layers.Dense(32, activation="relu")(h)])
            h = layers.LayerNormalization()(h)
        return keras.Model(inputs, layers.Dense(1)(h)), "mse"
    if task == "conv1d":
        model = keras.Sequential(
            [
                keras.Input((32, 1)),
                layers.Conv1D(8, 5, activation="relu"),
                layers.GlobalMaxPooling1D(),
                layers.Dense(3),
            ]
        )
        return model, xent
    model = keras.Sequential(
        [keras.Input((30,)), layers.Dense(64, activation="gelu"), layers.Dropout(0.2), layers.Dense(10)]
    )
    return model, xent


def optimizer(name: str, lr: float, keras: Any) -> Any | None:
    if name == "sgdm":
        return keras.optimizers.SGD(learning_rate=lr, momentum=0.9)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate=lr, weight_decay=1e-2)
    return None


def unseen_plan(
    quick: bool = False,
    *,
    tasks: tuple[str, ...] = UNSEEN_TASKS,
    split: str = "unseen",
    seeds: tuple[int, ...] = (0, 1, 2),
    optimizers: tuple[tuple[str, float], ...] = OPTIMIZERS,
    regression: tuple[str, ...] = ("resmlp",),
    tokens: tuple[str, ...] = (),
    clean_steps: int = 2000,
) -> list[RunSpec]:
    """Per family and seed: a long clean run, early poisons (from batch 30), a late poison,
    a slow LR ramp, NaN targets (regression) or inputs (classifiers; an LR blow-up x1000
    for ``tokens`` tasks, whose integer inputs cannot hold NaN), and an LR blow-up."""
    runs: list[RunSpec] = []
    for i, task in enumerate(tasks):
        for seed in seeds[:1] if quick else seeds:
            rng = random.Random(f"{split}-{task}-{seed}")
            opt, lr = optimizers[(i + seed) % len(optimizers)]
            base = RunSpec(
                f"{task}-s{seed}-clean", task, seed, (16, 32, 48, 64)[(i + 2 * seed) % 4], opt, lr, 0, 2048,
                1, (), split, SCHEDULES[(2 * i + seed) % len(SCHEDULES)],
            )

            def spec(kind: str, total: int, faults: tuple[Fault, ...], base: RunSpec = base) -> RunSpec:
                return dataclasses.replace(
                    base, name=f"{base.task}-s{base.seed}-{kind}", total_steps=total, faults=faults
                )

            poison = "scale_targets" if task in regression else "flip_labels"
            runs.append(spec("clean", clean_steps, ()))
            t1 = rng.randrange(30, 70)
            t2 = t1 + rng.randrange(150, 300)
            early = (
                Fault("scale_inputs", t1, rng.randint(1, 3), rng.choice([3.0, 10.0, 100.0])),
                Fault(poison, t2, rng.randint(1, 3), rng.choice([3.0, 10.0])),
            )
            runs.append(spec("early", t2 + 100, early))
            t = rng.randrange(300, 900)
            late = Fault(poison if rng.random() < 0.5 else "scale_inputs", t, rng.randint(1, 3), 10.0)
            runs.append(spec("late", t + 100, (late,)))
            t = rng.randrange(40, 250)
            runs.append(spec("lr_ramp", t + 200, (Fault("lr_ramp", t, 1, rng.choice([1.02, 1.04, 1.06])),)))
            t = rng.randrange(30, 300)
            kind = "nan_target" if task in regression else "nan_input"  # integer labels cannot be NaN
            if task in tokens:  # integer tokens and labels: no NaN to inject, blow the LR up instead
                runs.append(spec("lr_blowup1000", t + 60, (Fault("lr_blowup", t, 1, 1000.0),)))
            else:
                runs.append(spec(kind, t + 40, (Fault(kind, t),)))
            t = rng.randrange(30, 400)
            runs.append(spec("lr_blowup", t + 60, (Fault("lr_blowup", t, 1, rng.choice([30.0, 300.0])),)))
    return runs
