"""Fresh families of the detection benchmark: recorded after every detector change, never read.

Added on 2026-12-03 (issue 12, third pass) because the ``unseen`` families had been read
to find the misses fixed in the second pass. These four were recorded after this pass's
changes and are reported as split ``fresh`` (recorded runs) and ``fresh_injected``
(faults injected at replay into their clean traces): a dilated causal Conv1D forecaster
(Huber loss), a 5-label sigmoid classifier (6 tanh layers with BatchNorm), a convolutional
denoising autoencoder (binary cross-entropy on pixels) and a bag-of-embeddings text
classifier; Nadam, SGD with Nesterov momentum, Adamax and Adagrad.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.detection.families import unseen_plan
from bench.detection.tasks import RunSpec

FRESH_TASKS = ("tcn", "multilabel", "denoise", "bag")
CLASSES = {"bag": 5}
REGRESSION = ("tcn",)
OPTIMIZERS = (("nadam", 1e-3), ("sgdn", 0.01), ("adamax", 2e-3), ("adagrad", 0.05))


def make_data(task: str, seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(200 + seed)
    if task == "tcn":  # the next value of a noisy sum of two sines
        t = rng.uniform(0, 100, size=(n, 1)) + np.arange(49)[None, :] * 0.3
        f = rng.uniform(0.5, 1.5, size=(n, 1))
        series = np.sin(f * t) + 0.5 * np.sin(2.3 * f * t + 1.0) + 0.1 * rng.normal(size=t.shape)
        return series[:, :48, None].astype("float32"), series[:, 48:].astype("float32")
    if task == "multilabel":  # 5 overlapping labels from thresholded projections
        x = rng.normal(size=(n, 24))
        w = rng.normal(size=(24, 5))
        y = (x @ w + rng.normal(size=(n, 5)) > 0.5).astype("float32")
        return x.astype("float32"), y
    if task == "denoise":  # 8x8 bars and blobs in [0, 1]; the model sees a noisy copy
        img = np.zeros((n, 8, 8), dtype="float32")
        rows, cols = rng.integers(0, 8, size=n), rng.integers(0, 8, size=n)
        img[np.arange(n), rows, :] = 1.0
        img[np.arange(n), :, cols] = np.maximum(img[np.arange(n), :, cols], 0.6)
        return img[..., None], img[..., None].copy()
    # bag: 5 topics, each a distribution over a 200-word vocabulary; 20 words per document
    topics = rng.dirichlet(np.full(200, 0.1), size=5)
    y = rng.integers(0, 5, size=n)
    x = np.stack([rng.choice(200, size=20, p=topics[k]) for k in y])
    return x.astype("int32"), y.astype("int32")


def build(task: str, keras: Any) -> tuple[Any, Any]:
    """(model, loss) of a fresh family."""
    layers = keras.layers
    if task == "tcn":
        model = keras.Sequential(
            [
                keras.Input((48, 1)),
                layers.Conv1D(8, 3, dilation_rate=1, padding="causal", activation="relu"),
                layers.Conv1D(8, 3, dilation_rate=2, padding="causal", activation="relu"),
                layers.Conv1D(8, 3, dilation_rate=4, padding="causal", activation="relu"),
                layers.Lambda(lambda t: t[:, -1, :]),
                layers.Dense(1),
            ]
        )
        return model, keras.losses.Huber()
    if task == "multilabel":
        stack: list[Any] = [keras.Input((24,))]
        for _ in range(6):
            stack += [layers.Dense(24, activation="tanh"), layers.BatchNormalization()]
        return keras.Sequential([*stack, layers.Dense(5, activation="sigmoid")]), "binary_crossentropy"
    if task == "denoise":
        model = keras.Sequential(
            [
                keras.Input((8, 8, 1)),
                layers.GaussianNoise(0.3),
                layers.Conv2D(8, 3, padding="same", activation="relu"),
                layers.MaxPooling2D(2),
                layers.Conv2D(4, 3, padding="same", activation="relu"),
                layers.UpSampling2D(2),
                layers.Conv2D(1, 3, padding="same", activation="sigmoid"),
            ]
        )
        return model, "binary_crossentropy"
    model = keras.Sequential(
        [keras.Input((20,), dtype="int32"), layers.Embedding(200, 16), layers.GlobalAveragePooling1D(),
         layers.Dense(16, activation="relu"), layers.Dense(5)]
    )
    return model, keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def optimizer(name: str, lr: float, keras: Any) -> Any | None:
    if name == "nadam":
        return keras.optimizers.Nadam(learning_rate=lr)
    if name == "sgdn":
        return keras.optimizers.SGD(learning_rate=lr, momentum=0.9, nesterov=True)
    if name == "adamax":
        return keras.optimizers.Adamax(learning_rate=lr)
    if name == "adagrad":
        return keras.optimizers.Adagrad(learning_rate=lr)
    return None


def fresh_plan(quick: bool = False) -> list[RunSpec]:
    """The unseen plan's six runs per family and seed, on the fresh families (seeds 0 and 1)."""
    return unseen_plan(
        quick,
        tasks=FRESH_TASKS,
        split="fresh",
        seeds=(0, 1),
        optimizers=OPTIMIZERS,
        regression=REGRESSION,
        tokens=("bag",),
        clean_steps=1500,
    )
