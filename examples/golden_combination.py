"""The "golden combination" with alertcb added: checkpoint + early stop + LR cut, all reported.

Run:  python examples/golden_combination.py [--run-dir DIR] [--started]

A tiny regression whose validation targets are half the training targets, so val_loss
improves for five epochs and then gets worse: ModelCheckpoint(save_best_only=True)
writes five times, ReduceLROnPlateau halves the rate and EarlyStopping stops at epoch 6,
restoring the weights of epoch 5. alertcb prints each event on the console, writes
``<run dir>/checkpoints.jsonl`` (one line per real write, with its SHA-256) and ends with a
summary whose timeline lists them (``report.html`` has the loss curve and the checkpoints).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

import alertcb
import alertcb.keras
from alertcb.keras._compat import keras_module as keras  # keras or tf_keras, as alertcb chose


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", default=None, help="run directory root (default: a temporary folder)")
    parser.add_argument("--started", action="store_true", help="also send the opt-in 'training started' event")
    args = parser.parse_args()
    root = Path(args.run_dir or tempfile.mkdtemp(prefix="alertcb-golden-"))

    rng = np.random.default_rng(0)
    w = np.array([[1.0], [-2.0], [0.5], [1.5]], "float32")
    x, xv = rng.normal(size=(64, 4)).astype("float32"), rng.normal(size=(32, 4)).astype("float32")
    y, yv = x @ w, xv @ w * 0.5
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, kernel_initializer="zeros")])
    model.compile(optimizer=keras.optimizers.SGD(0.02), loss="mse")

    # The article's combination, built as usual ...
    golden = [
        keras.callbacks.ModelCheckpoint(str(root / "best.keras"), save_best_only=True),
        keras.callbacks.EarlyStopping(patience=1, restore_best_weights=True),
        keras.callbacks.ReduceLROnPlateau(patience=1, factor=0.5),
    ]
    # ... with alertcb added as the README says (no config: console + run dir + checkpoints.jsonl).
    notifier = alertcb.Notifier(run_name="golden", run_dir=root, group_wait_s=0)
    callbacks = alertcb.keras.default_callbacks(notifier, progress={"every": "1h"})
    if args.started:
        from alertcb.keras.lifecycle import LifecycleAlert

        callbacks = [*callbacks[:-1], LifecycleAlert(notifier, started=True)]
    with notifier, notifier.watch():
        model.fit(x, y, validation_data=(xv, yv), epochs=20, batch_size=16, verbose=0, shuffle=False,
                  callbacks=golden + callbacks)

    run_dir = notifier.run_dir
    assert run_dir is not None
    print(f"\ncheckpoints.jsonl ({run_dir / 'checkpoints.jsonl'}):")
    print((run_dir / "checkpoints.jsonl").read_text().strip())
    print(f"report: {run_dir / 'report.html'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
