"""Tiny models and data for the Keras integration tests (both flavours)."""

from __future__ import annotations

from typing import Any

import numpy as np

from alertcb.keras._compat import FLAVOUR
from alertcb.keras._compat import keras_module as keras

__all__ = ["FLAVOUR", "keras", "regression", "mlp", "fit", "LrAt"]


def regression(n: int = 512, seed: int = 0, features: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    w = rng.normal(size=(features, 1)).astype("float32")
    y = (x @ w + 0.3 * rng.normal(size=(n, 1))).astype("float32")
    return x, y


def mlp(
    features: int = 8,
    outputs: int = 1,
    activation: str | None = None,
    lr: float = 0.01,
    loss: str = "mse",
    optimizer: str = "sgd",
    **compile_kwargs: Any,
) -> Any:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((features,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(outputs, activation=activation),
        ]
    )
    opt = {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam}[optimizer](learning_rate=lr)
    model.compile(optimizer=opt, loss=loss, **compile_kwargs)
    return model


def fit(model: Any, x: np.ndarray, y: np.ndarray, callbacks: list[Any], **kwargs: Any) -> Any:
    kwargs.setdefault("batch_size", 16)
    kwargs.setdefault("epochs", 1)
    return model.fit(x, y, callbacks=callbacks, verbose=0, shuffle=False, **kwargs)


class LrAt(keras.callbacks.Callback):
    """Multiplies the learning rate by ``factor`` when global step ``step`` begins."""

    def __init__(self, step: int, factor: float, steps_per_epoch: int) -> None:
        super().__init__()
        self.step, self.factor, self.steps_per_epoch = step, factor, steps_per_epoch
        self.epoch = 0

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.epoch = epoch

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        if self.epoch * self.steps_per_epoch + batch == self.step:
            lr = self.model.optimizer.learning_rate
            lr.assign(float(np.asarray(lr)) * self.factor)
