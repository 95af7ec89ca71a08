"""A child that trains with alertcb inside and SIGKILLs itself mid-fit: ``python train.py``."""

from __future__ import annotations

import os
import signal

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

import alertcb
import alertcb.keras
from alertcb.keras._compat import keras_module as keras

notifier = alertcb.Notifier.from_env()
rng = np.random.default_rng(0)
x = rng.normal(size=(64, 4)).astype("float32")
y = x.sum(axis=1, keepdims=True)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")


class KillMidFit(keras.callbacks.Callback):
    def on_train_batch_end(self, batch: int, logs: object = None) -> None:
        if self.params and batch == 2 and getattr(self, "epoch", 0) == 1:
            os.kill(os.getpid(), signal.SIGKILL)

    def on_epoch_begin(self, epoch: int, logs: object = None) -> None:
        self.epoch = epoch
        if epoch == 1:
            import time

            time.sleep(1.5)  # let the dispatcher's heartbeat record the position


model.fit(x, y, epochs=3, batch_size=8, verbose=0,
          callbacks=[*alertcb.keras.default_callbacks(notifier), KillMidFit()])
