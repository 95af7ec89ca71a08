"""Record the per-batch logs of real Keras trainings into JSON traces.

One trace per `RunSpec`: what ``on_train_batch_end`` received (epoch, batch index and
the running-mean loss, exactly as Keras hands it to callbacks), the epoch logs, and,
for runs with a NaN or learning-rate fault, whether the weights were all finite after
every batch (one on-device reduction), so the silent-NaN check can be replayed at any
interval.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.detection import families, fresh
from bench.detection.tasks import RunSpec

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _teacher(rng: np.random.Generator, x: np.ndarray, out: int) -> np.ndarray:
    w1 = rng.normal(size=(x.shape[1], 16)) / math.sqrt(x.shape[1])
    w2 = rng.normal(size=(16, out)) / 4.0
    out_: np.ndarray = np.tanh(x @ w1) @ w2
    return out_


def make_data(spec: RunSpec) -> tuple[np.ndarray, np.ndarray]:
    """The task's training set (``spec.samples`` rows)."""
    if spec.task in families.UNSEEN_TASKS:
        return families.make_data(spec.task, spec.seed, spec.samples)
    if spec.task in fresh.FRESH_TASKS:
        return fresh.make_data(spec.task, spec.seed, spec.samples)
    rng = np.random.default_rng(spec.seed)
    n = spec.samples
    if spec.task in ("mlp_cls", "mlp_bin", "mlp_reg"):
        x = rng.normal(size=(n, 20))
        if spec.task == "mlp_cls" and spec.seed % 2:
            # linearly separable, no label noise: the loss heads to ~0 with heavy tails
            x = x[: n // 4]
            w = rng.normal(size=(20, 4))
            return x.astype("float32"), np.argmax(x @ w, axis=1).astype("int32")
        if spec.task == "mlp_reg" and spec.seed % 2 == 0:
            # noise-free linear target: the student fits it almost exactly
            w = rng.normal(size=(20, 1)) / 2.0
            return x.astype("float32"), (x @ w).astype("float32")
        if spec.task == "mlp_reg":
            y = _teacher(rng, x, 1) * 3.0 + rng.normal(size=(n, 1)) * (0.1 if spec.seed % 2 else 0.0)
        elif spec.task == "mlp_bin":
            logits = _teacher(rng, x, 1)[:, 0] * 6.0
            y = (logits + rng.logistic(size=n) * 0.3 > 0).astype("float32")[:, None]
        else:
            logits = _teacher(rng, x, 4) * 6.0
            y = np.argmax(logits + rng.gumbel(size=logits.shape) * 0.3, axis=1)
        return x.astype("float32"), y.astype("float32" if spec.task != "mlp_cls" else "int32")
    if spec.task == "attention":
        # which of 4 "keyword" tokens is most frequent in a sequence of 16 tokens
        tokens = rng.integers(4, 50, size=(n, 16))
        labels = rng.integers(0, 4, size=n)
        for i in range(n):
            tokens[i, rng.choice(16, size=4, replace=False)] = labels[i]
        tokens[rng.random(size=tokens.shape) < 0.05] = rng.integers(0, 4)
        return tokens.astype("int32"), labels.astype("int32")
    if spec.task == "bn_cnn":
        labels = rng.integers(0, 4, size=n)
        patterns = rng.normal(size=(4, 12, 12))
        x = patterns[labels] * 0.6 + rng.normal(size=(n, 12, 12))
        return x[..., None].astype("float32"), labels.astype("int32")
    if spec.task == "autoencoder":
        z = rng.normal(size=(n, 4))
        x = np.tanh(z @ rng.normal(size=(4, 24))) + 0.05 * rng.normal(size=(n, 24))
        return x.astype("float32"), x.astype("float32")
    if spec.task == "imbalanced":
        x = rng.normal(size=(n, 20))
        score = _teacher(rng, x, 1)[:, 0]
        y = (score > np.quantile(score, 0.95)).astype("float32")  # 5% positives
        return x.astype("float32"), y[:, None]
    if spec.task == "cnn":
        labels = rng.integers(0, 4, size=n)
        patterns = rng.normal(size=(4, 8, 8))
        x = patterns[labels] * 0.8 + rng.normal(size=(n, 8, 8))
        return x[..., None].astype("float32"), labels.astype("int32")
    # gru: which of two features has the larger sum over a short sequence
    x = rng.normal(size=(n, 8, 3))
    y = (x[:, :, 0].sum(axis=1) + rng.normal(size=n) * 0.5 > x[:, :, 1].sum(axis=1)).astype("float32")
    return x.astype("float32"), y[:, None]


def build_model(spec: RunSpec) -> Any:
    import keras

    keras.utils.set_random_seed(spec.seed)
    layers = keras.layers
    if spec.task in families.UNSEEN_TASKS:
        model, loss = families.build(spec.task, keras)
    elif spec.task in fresh.FRESH_TASKS:
        model, loss = fresh.build(spec.task, keras)
    elif spec.task == "mlp_cls":
        model = keras.Sequential([keras.Input((20,)), layers.Dense(32, activation="relu"), layers.Dense(4)])
        loss: Any = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    elif spec.task == "mlp_bin":
        # Activations sanitised with nan_to_num (as some code bases do to "fix" NaN):
        # a NaN input then leaves NaN weights behind a finite loss (silent NaN).
        model = keras.Sequential(
            [
                keras.Input((20,)),
                layers.Dense(32, activation="relu"),
                layers.Lambda(lambda t: keras.ops.nan_to_num(t, nan=0.0)),
                layers.Dense(1, activation="sigmoid"),
            ]
        )
        loss = "binary_crossentropy"
    elif spec.task == "mlp_reg":
        model = keras.Sequential([keras.Input((20,)), layers.Dense(32, activation="relu"), layers.Dense(1)])
        loss = "mse"
    elif spec.task == "attention":
        inputs = keras.Input((16,), dtype="int32")
        h = layers.Embedding(50, 16)(inputs)
        h = layers.MultiHeadAttention(num_heads=2, key_dim=8)(h, h) + h
        h = layers.LayerNormalization()(h)
        outputs = layers.Dense(4)(layers.GlobalAveragePooling1D()(h))
        model = keras.Model(inputs, outputs)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    elif spec.task == "bn_cnn":
        model = keras.Sequential(
            [
                keras.Input((12, 12, 1)),
                layers.Conv2D(8, 3),
                layers.BatchNormalization(),
                layers.ReLU(),
                layers.MaxPooling2D(2),
                layers.Dropout(0.2),
                layers.Flatten(),
                layers.Dense(16, activation="relu"),
                layers.Dropout(0.2),
                layers.Dense(4),
            ]
        )
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    elif spec.task == "autoencoder":
        model = keras.Sequential(
            [keras.Input((24,)), layers.Dense(12, activation="relu"), layers.Dense(4), layers.Dense(12, activation="relu"), layers.Dense(24)]
        )
        loss = "mse"
    elif spec.task == "imbalanced":
        model = keras.Sequential([keras.Input((20,)), layers.Dense(32, activation="relu"), layers.Dense(1, activation="sigmoid")])
        loss = "binary_crossentropy"
    elif spec.task == "cnn":
        model = keras.Sequential(
            [
                keras.Input((8, 8, 1)),
                layers.Conv2D(8, 3, activation="relu"),
                layers.MaxPooling2D(2),
                layers.Flatten(),
                layers.Dense(4),
            ]
        )
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    else:
        model = keras.Sequential(
            [keras.Input((8, 3)), layers.GRU(8, unroll=True), layers.Dense(1, activation="sigmoid")]
        )
        loss = "binary_crossentropy"
    optimizer = families.optimizer(spec.optimizer, spec.lr, keras) or fresh.optimizer(spec.optimizer, spec.lr, keras) or {
        "adam": keras.optimizers.Adam,
        "sgd": keras.optimizers.SGD,
        "rmsprop": keras.optimizers.RMSprop,
    }[spec.optimizer](learning_rate=spec.lr)
    model.compile(optimizer=optimizer, loss=loss, steps_per_execution=spec.steps_per_execution)
    return model


def make_stream(spec: RunSpec, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Every batch of the run in order (a fresh permutation per epoch), with the fault applied."""
    rng = np.random.default_rng(1000 + spec.seed)
    steps_per_epoch = len(x) // spec.batch_size
    epochs = -(-spec.total_steps // steps_per_epoch)
    order = np.concatenate(
        [rng.permutation(len(x))[: steps_per_epoch * spec.batch_size] for _ in range(epochs)]
    )
    xs, ys = x[order].copy(), y[order].copy()
    for fault in spec.faults:
        if fault.type in ("lr_blowup", "lr_ramp"):
            continue
        lo = fault.step * spec.batch_size
        hi = (fault.step + fault.n_batches) * spec.batch_size
        if fault.type == "scale_targets":
            ys[lo:hi] *= fault.factor
        elif fault.type == "scale_inputs" and xs.dtype.kind == "i":  # token ids: scrambled instead
            xs[lo:hi] = (xs[lo:hi] * int(fault.factor) + 7) % (int(x.max()) + 1)
        elif fault.type == "scale_inputs":
            xs[lo:hi] *= fault.factor
        elif fault.type == "nan_input":
            xs[lo:hi] = np.nan
        elif fault.type == "nan_target":
            ys[lo:hi] = np.nan
        elif fault.type == "flip_labels":
            if spec.task in ("mlp_bin", "gru", "imbalanced", "multilabel", "denoise"):
                ys[lo:hi] = 1.0 - ys[lo:hi]
            else:
                k = {**families.CLASSES, **fresh.CLASSES}.get(spec.task, 4)
                ys[lo:hi] = (ys[lo:hi] + 1 + rng.integers(0, k - 1, size=hi - lo)) % k
    return xs, ys, steps_per_epoch


def _schedule(spec: RunSpec, total: int) -> Any:
    """Warm-up + cosine or staircase decay, computed per batch (so LR faults can multiply it)."""
    if spec.schedule == "warmup_cosine":
        warm = 100

        def warmup_cosine(step: int) -> float:
            if step < warm:
                return spec.lr * (0.1 + 0.9 * step / warm)
            return spec.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))

        return warmup_cosine
    if spec.schedule == "staircase":
        return lambda step: spec.lr * 0.5 ** (step // 300)
    return None


def record_run(spec: RunSpec) -> dict[str, Any]:
    """Train ``spec`` once and return its trace."""
    import keras
    import tensorflow as tf

    x, y = make_data(spec)
    xs, ys, steps_per_epoch = make_stream(spec, x, y)
    model = build_model(spec)
    dataset = tf.data.Dataset.from_tensor_slices((xs, ys)).batch(spec.batch_size)
    epochs = -(-spec.total_steps // steps_per_epoch)
    watch_weights = any(f.type in ("nan_input", "nan_target", "lr_blowup", "lr_ramp") for f in spec.faults)
    blowups = {f.step: f.factor for f in spec.faults if f.type == "lr_blowup"}
    ramps = [(f.step, f.factor) for f in spec.faults if f.type == "lr_ramp"]
    schedule = _schedule(spec, spec.total_steps)
    steps: list[list[Any]] = []
    epoch_logs: list[dict[str, float]] = []
    weights_finite: list[list[int]] = []
    check_weights: Any = None
    if watch_weights:
        variables = model.trainable_variables

        @tf.function
        def check_weights() -> Any:
            return tf.reduce_all([tf.reduce_all(tf.math.is_finite(v)) for v in variables])

    class Recorder(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.epoch = 0
            self.nonfinite = 0

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.epoch = epoch

        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            step = self.epoch * steps_per_epoch + batch
            lr_var = model.optimizer.learning_rate
            ramp = 1.0
            for at, factor in ramps:
                if step >= at:
                    ramp *= factor ** (step - at + 1)
            if schedule is not None:
                lr_var.assign(schedule(step) * ramp)
            elif ramps and ramp > 1.0:
                lr_var.assign(spec.lr * ramp)
            for at in [at for at in blowups if at <= step + spec.steps_per_execution - 1]:
                lr_var.assign(spec.lr * blowups.pop(at))

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            loss = float((logs or {}).get("loss", math.nan))
            step = self.epoch * steps_per_epoch + batch
            steps.append([self.epoch, batch, loss if math.isfinite(loss) else str(loss)])
            if check_weights is not None:
                weights_finite.append([step, int(bool(check_weights()))])
            self.nonfinite = self.nonfinite + 1 if not math.isfinite(loss) else 0
            # Nothing more to learn once the loss has been NaN for a while (and NaN
            # arithmetic is slow on CPU for recurrent layers).
            if step + spec.steps_per_execution >= spec.total_steps or self.nonfinite >= 20:
                model.stop_training = True

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            epoch_logs.append({k: float(v) for k, v in (logs or {}).items()})

    callbacks: list[Any] = [Recorder()]
    if spec.schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_lr=1e-5))
    begin = time.perf_counter()
    model.fit(
        dataset,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
        verbose=0,
        shuffle=False,
    )
    return {
        "spec": spec.to_dict(),
        "steps_per_epoch": steps_per_epoch,
        "steps": steps,
        "epoch_logs": [{k: (v if math.isfinite(v) else str(v)) for k, v in e.items()} for e in epoch_logs],
        "weights_finite": weights_finite if watch_weights else None,
        "wall_s": time.perf_counter() - begin,
    }


def record_all(specs: list[RunSpec], out_dir: Path, log: Any = None) -> None:
    """Record every spec whose trace is missing from ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    begin = time.perf_counter()
    for i, spec in enumerate(specs):
        path = out_dir / f"{spec.name}.json"
        if path.exists():
            continue
        trace = record_run(spec)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(trace))
        tmp.replace(path)
        if log is not None:
            log(
                f"[{i + 1}/{len(specs)}] {spec.name}: {len(trace['steps'])} records in {trace['wall_s']:.1f}s "
                f"(total {time.perf_counter() - begin:.0f}s)"
            )
