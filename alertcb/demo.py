"""``alertcb demo``: a short real Keras training with injected faults.

A small MLP regression trains for 4 epochs of 60 batches while the data generator
injects, in order: a poisoned batch (targets x 20: a loss spike), a stall of the
input pipeline longer than the hang timeout (a hang, reported while it is stuck),
and a batch with NaN inputs (NaN loss; training is stopped). Alerts go through the
embedded default: the console and ``<run_dir>/<run_name>/``.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger("alertcb")

# Global batch numbers (generated batches; the input pipeline may run a little ahead of training).
SPIKE_AT = 90
HANG_AT = 150
NAN_AT = 200
HANG_S = 3.0


def run_demo(steps: int = 60, run_dir: str | os.PathLike[str] = "alertcb-runs", epochs: int = 4) -> int:
    """Run the demo; returns the process exit status (0 when the expected alerts were raised)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.getLogger("alertcb").setLevel(logging.INFO)
    import numpy as np

    import alertcb
    import alertcb.keras
    from alertcb.keras._compat import keras_module as keras

    run_name = time.strftime("demo-%Y%m%d-%H%M%S")
    notifier = alertcb.Notifier(run_name=run_name, run_dir=run_dir, group_wait_s=0.5)
    rng = np.random.default_rng(0)
    batch_size = 32
    x_all = rng.normal(size=(steps * batch_size, 8)).astype("float32")
    w = rng.normal(size=(8, 1)).astype("float32")
    y_all = (x_all @ w + 0.1 * rng.normal(size=(steps * batch_size, 1))).astype("float32")

    def faulty_batches() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Batches of a regression task, with faults injected at fixed global batch numbers."""
        for batch in itertools.count():
            index = batch % steps
            sl = slice(index * batch_size, (index + 1) * batch_size)
            x, y = x_all[sl].copy(), y_all[sl].copy()
            if batch == SPIKE_AT:
                y *= 20.0  # a poisoned batch
            elif batch == HANG_AT:
                time.sleep(HANG_S)  # a stalled input pipeline
            elif batch == NAN_AT:
                x[0, 0] = np.nan  # a corrupt record
            yield x, y

    model = keras.Sequential([keras.Input(shape=(8,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.003), loss="mse")
    callbacks = alertcb.keras.default_callbacks(
        notifier,
        nonfinite={"on_nonfinite": "stop"},
        hang={"timeout_s": 1.5, "interval_s": 0.25},
    )
    logger.info("alertcb demo: training %d epochs x %d batches with injected faults (spike, hang, NaN)", epochs, steps)
    with notifier.watch():
        model.fit(faulty_batches(), steps_per_epoch=steps, epochs=epochs, callbacks=callbacks, verbose=0, shuffle=False)
    notifier.flush()
    kinds = {k for k in ("spike", "hang", "nonfinite") if _raised(notifier, k)}
    notifier.close()
    report = Path(run_dir) / run_name / "report.html"
    summary = f"alertcb demo: alerts raised: {', '.join(sorted(kinds)) or 'none'}"
    logger.info("%s", summary)
    if report.exists():
        logger.info("alertcb demo: summary report: %s", report.resolve())
    logger.info("alertcb demo: events: %s", (Path(run_dir) / run_name / "events.jsonl").resolve())
    return 0 if kinds == {"spike", "hang", "nonfinite"} else 1


def _raised(notifier: object, kind: str) -> bool:
    from alertcb.notifier import Notifier

    assert isinstance(notifier, Notifier)
    path = notifier.run_dir / "events.jsonl" if notifier.run_dir else None
    if path is None or not path.exists():
        return False
    return f'"kind": "{kind}"' in path.read_text(encoding="utf-8")
