"""Representative alerts for the message tests and golden files, shaped like the detectors' events.

The stacks are those of a real hang (a Keras 3 fit whose data generator sleeps), with
the paths moved to a typical layout (/home/ml/proj, /opt/venv), and of a real crash.
"""

from __future__ import annotations

import math

from alertcb.events import Event, RunInfo
from alertcb.notification import Notification

RUN = RunInfo(name="exp42", host="gpu-07", pid=4242, worker="worker:0", job="sweep-3")
TIME = 1_764_187_200.0 + 3 * 3600 + 17 * 60  # 2025-11-26 23:17:00 UTC
SITE = "/opt/venv/lib/python3.11/site-packages"
TRAIN = "/home/ml/proj/train.py"


def stack(*frames: tuple[str, int, str, str]) -> str:
    """``traceback.format_stack`` text for ``(file, line, function, code)`` frames, outermost first."""
    return "\n".join(f'  File "{f}", line {n}, in {fn}\n    {code}' for f, n, fn, code in frames)


TRAINING_THREAD = stack(
    (TRAIN, 41, "<module>", "model.fit(batches(), steps_per_epoch=500, epochs=10, callbacks=callbacks)"),
    (f"{SITE}/keras/src/utils/traceback_utils.py", 117, "error_handler", "return fn(*args, **kwargs)"),
    (f"{SITE}/keras/src/backend/tensorflow/trainer.py", 399, "fit", "logs = self.train_function(iterator)"),
    (f"{SITE}/keras/src/backend/tensorflow/trainer.py", 241, "function", "opt_outputs = multi_step_on_iterator(iterator)"),
    (f"{SITE}/tensorflow/python/util/traceback_utils.py", 164, "error_handler", "return fn(*args, **kwargs)"),
    (f"{SITE}/tensorflow/python/eager/polymorphic_function/polymorphic_function.py", 833, "__call__", "result = self._call(*args, **kwds)"),
    (f"{SITE}/tensorflow/python/eager/polymorphic_function/polymorphic_function.py", 878, "_call", "results = tracing_compilation.call_function("),
    (f"{SITE}/tensorflow/python/eager/polymorphic_function/concrete_function.py", 1322, "_call_flat", "return self._inference_function.call_preflattened(args)"),
    (f"{SITE}/tensorflow/python/eager/polymorphic_function/atomic_function.py", 251, "call_flat", "outputs = self._bound_context.call_function("),
    (f"{SITE}/tensorflow/python/eager/context.py", 1688, "call_function", "outputs = execute.execute("),
    (f"{SITE}/tensorflow/python/eager/execute.py", 53, "quick_execute", "tensors = pywrap_tfe.TFE_Py_Execute(ctx._handle, device_name, op_name,"),
)
GENERATOR_THREAD = stack(
    (f"{SITE}/tensorflow/python/ops/script_ops.py", 269, "__call__", "ret = func(*args)"),
    (f"{SITE}/tensorflow/python/autograph/impl/api.py", 643, "wrapper", "return func(*args, **kwargs)"),
    (f"{SITE}/tensorflow/python/data/ops/from_generator_op.py", 198, "generator_py_func", "values = next(generator_state.get_iterator(iterator_id))"),
    (f"{SITE}/keras/src/trainers/data_adapters/generator_data_adapter.py", 60, "get_tf_iterator", "for batch in self.generator():"),
    (TRAIN, 23, "batches", "time.sleep(3600)"),
)
CRASH_TRACEBACK = (
    "Traceback (most recent call last):\n"
    + stack(
        (TRAIN, 41, "<module>", "model.fit(batches(), steps_per_epoch=500, epochs=10, callbacks=callbacks)"),
        (f"{SITE}/keras/src/utils/traceback_utils.py", 122, "error_handler", "raise e.with_traceback(filtered_tb) from None"),
        (f"{SITE}/keras/src/backend/tensorflow/trainer.py", 399, "fit", "logs = self.train_function(iterator)"),
        (f"{SITE}/tensorflow/python/framework/ops.py", 6006, "raise_from_not_ok_status", "raise core._status_to_exception(e) from None"),
        (TRAIN, 30, "augment", "return tf.image.resize(image, size) / scale"),
    )
    + "\nValueError: size must be a 1-D int32 Tensor of 2 elements: new_height, new_width"
)


def hang() -> Event:
    """The hang detector's event for a data generator stuck in ``time.sleep``."""
    message = (
        "no progress for 41m 3s after step 2,317 (timeout 2m 0s)\n\nTraining thread stack (innermost last):\n"
        + TRAINING_THREAD
        + "\n\nBusy thread thread-139641718036160:\n"
        + GENERATOR_THREAD
    )
    details = {
        "idle_s": 2463.2,
        "timeout_s": 120.0,
        "phase": "train",
        "last_step": 2317,
        "step_time_s": 0.182,
        "stack": TRAINING_THREAD,
        "threads": {"thread-139641718036160": GENERATOR_THREAD},
    }
    return Event(
        kind="hang", title="training hung", message=message, severity="critical", run=RUN, epoch=4, step=2317,
        details=details, time=TIME,
    )


def divergence() -> Event:
    """The divergence detector's event, with the learning rate, and Keras' running mean in metrics."""
    return Event(
        kind="divergence",
        title="loss diverging",
        message=(
            "loss level 14.21 (median of the last 20 batches) at step 3,040 is 6.8x its baseline 2.08 (lowest "
            "50-batch median, step 1,180) and has stayed above 3x for 30 batches"
        ),
        severity="critical",
        run=RUN,
        epoch=6,
        step=3040,
        metrics={"loss": 7656.0, "accuracy": 0.112},
        details={
            "value": 1.555, "level": 14.21, "baseline": 2.08, "best": 2.08, "best_step": 1180, "ratio": 6.83, "factor": 3.0,
            "batches_above": 30, "lr": 0.5,
        },
        time=TIME,
    )


def nonfinite() -> Event:
    """The non-finite detector's event: the loss became NaN."""
    return Event(
        kind="nonfinite",
        title="loss is NaN",
        message="loss became NaN at step 1,234 (also accuracy NaN)",
        severity="critical",
        run=RUN,
        epoch=2,
        step=1234,
        metrics={"loss": math.nan, "accuracy": math.nan, "val_loss": 0.52},
        details={"metric": "loss", "value": math.nan, "nonfinite": {"loss": math.nan, "accuracy": math.nan}},
        time=TIME,
    )


def crash() -> Event:
    """`Notifier.watch()`'s crash event, at the position the Keras callbacks last reported."""
    return Event(
        kind="crash",
        title="training crashed: ValueError",
        message="ValueError: size must be a 1-D int32 Tensor of 2 elements: new_height, new_width",
        severity="critical",
        run=RUN,
        epoch=3,
        step=1790,
        details={"exception": "ValueError", "traceback": CRASH_TRACEBACK},
        time=TIME,
    )


ALERTS = {"hang": hang, "divergence": divergence, "nonfinite": nonfinite, "crash": crash}


def note(event: Event) -> Notification:
    return Notification((event,), id="n-0001", created=TIME)
