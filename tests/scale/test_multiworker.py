"""Distributed training: run-level alerts once per run, worker-local trouble named by its worker.

(a) Two real worker processes on loopback with ``TF_CONFIG`` and
``MultiWorkerMirroredStrategy`` under tf_keras (``TF_USE_LEGACY_KERAS=1``; Keras 3.15's
``fit`` fails under MWMS), each with its own `Notifier` (``send_from="chief"``) posting
to one webhook receiver. One run injects a NaN batch (both workers see the NaN loss:
gradients are all-reduced) and then makes worker 1's input pipeline sleep. With MWMS
collectives, worker 0 blocks in the next all-reduce waiting for worker 1, so *both*
watchdogs fire and both workers send a ``hang`` alert (worker-local kinds are sent by
every worker), each naming itself. Which worker is the cause is in the alert: worker 1's
carries the stack of the sleeping input function, worker 0's does not.

(b) One process, ``MirroredStrategy`` over two logical CPU devices, Keras 3.

Workers run in subprocesses (``python -m tests.scale.test_multiworker MODE ARGS``): the
Keras flavour and the logical devices are fixed when TensorFlow starts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest_services import Receiver, free_port

ROOT = Path(__file__).resolve().parents[2]
NAN_BATCH = 3  # global batch index (epoch 0) whose inputs are NaN
HANG_AT_ELEMENT = 12  # worker 1's input pipeline sleeps before this batch (epoch 1)
HANG_S = 8.0
HANG_TIMEOUT_S = 2.0
WORKER_TIMEOUT_S = 240


# ---------------------------------------------------------------- helpers (test side)
def _events(receiver: Receiver) -> list[dict[str, Any]]:
    """Every event of every webhook notification received, in arrival order."""
    return [event for body in receiver.bodies() for event in body["events"]]


def _firing(receiver: Receiver, kind: str) -> list[dict[str, Any]]:
    return [e for e in _events(receiver) if e["kind"] == kind and e["status"] == "firing"]


def _launch(mode: str, args: dict[str, Any], log: Path, extra_env: dict[str, str]) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "TF_USE_LEGACY_KERAS", "ALERTCB_KERAS")}
    env.update(extra_env, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.scale.test_multiworker", mode, json.dumps(args)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Worker processes started by a test; killed (whole process group) if still running at the end."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait(procs: list[subprocess.Popen[bytes]], logs: list[Path]) -> list[dict[str, Any]]:
    deadline = time.monotonic() + WORKER_TIMEOUT_S
    for proc, log in zip(procs, logs, strict=True):
        try:
            proc.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pytest.fail(f"worker timed out; log:\n{log.read_text(errors='replace')[-4000:]}")
        assert proc.returncode == 0, log.read_text(errors="replace")[-4000:]
    return [json.loads(log.with_suffix(".json").read_text()) for log in logs]


# ---------------------------------------------------------------- the tests
@pytest.mark.slow
def test_multiworker_mirrored_tf_keras_one_nan_alert_hang_named_summary_once(
    tmp_path: Path, receiver: Receiver, processes: list[subprocess.Popen[bytes]]
) -> None:
    """MWMS, 2 worker processes: one NaN alert, worker 1's hang alert names worker 1 (with its stack), one summary."""
    ports = [free_port(), free_port()]
    logs = [tmp_path / f"worker-{i}.log" for i in (0, 1)]
    started = time.monotonic()
    for index in (0, 1):
        tf_config = {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}
        args = {"url": receiver.url, "run_dir": str(tmp_path / "runs"), "result": str(logs[index].with_suffix(".json"))}
        processes.append(
            _launch("mwms", args, logs[index], {"TF_CONFIG": json.dumps(tf_config), "TF_USE_LEGACY_KERAS": "1"})
        )
    results = _wait(processes, logs)
    elapsed = time.monotonic() - started

    assert [r["flavour"] for r in results] == ["tf_keras", "tf_keras"]
    assert [r["worker"] for r in results] == ["worker:0", "worker:1"]
    assert [r["epochs"] for r in results] == [2, 2]  # both trained through the hang
    assert all(r["batches"] > HANG_AT_ELEMENT for r in results)
    assert all(r["pending"] == 0 for r in results)

    (nan_alert,) = _firing(receiver, "nonfinite")
    assert nan_alert["run"]["worker"] == "worker:0"  # the chief; worker 1 saw it too but did not send
    assert results[1]["not_sent_by_this_worker"] >= 2  # worker 1's own NaN and summary events, filtered
    assert nan_alert["step"] is not None and nan_alert["step"] >= NAN_BATCH

    hangs = {e["run"]["worker"]: e for e in _firing(receiver, "hang")}
    assert "worker:1" in hangs, [(e["run"]["worker"], e["status"]) for e in _events(receiver)]
    assert len(_firing(receiver, "hang")) == len(hangs)  # one alert per stuck worker, not a stream
    assert "_slow_input" in hangs["worker:1"]["message"]  # the cause: worker 1's sleeping input function
    if "worker:0" in hangs:  # blocked in the all-reduce, waiting for worker 1: stuck, but not the cause
        assert "_slow_input" not in hangs["worker:0"]["message"]
    resolved = {e["run"]["worker"] for e in _events(receiver) if e["kind"] == "hang" and e["status"] == "resolved"}
    assert resolved == set(hangs)

    (summary,) = [e for e in _events(receiver) if e["kind"] == "summary"]
    assert summary["run"]["worker"] == "worker:0"
    print(f"MWMS run: {elapsed:.1f} s wall, hang alerts from {sorted(hangs)}")


@pytest.mark.slow
def test_mirrored_two_logical_cpus_keras3_one_nan_alert_summary_once(
    tmp_path: Path, receiver: Receiver, processes: list[subprocess.Popen[bytes]]
) -> None:
    """MirroredStrategy over 2 logical CPUs with Keras 3: the NaN alert and the summary arrive once each."""
    log = tmp_path / "mirrored.log"
    args = {"url": receiver.url, "run_dir": str(tmp_path / "runs"), "result": str(log.with_suffix(".json"))}
    processes.append(_launch("mirrored", args, log, {}))
    (result,) = _wait(processes, [log])
    assert result["flavour"] == "keras"
    assert result["replicas"] == 2
    assert result["pending"] == 0
    (nan_alert,) = _firing(receiver, "nonfinite")
    assert nan_alert["step"] is not None and nan_alert["step"] >= NAN_BATCH
    assert len([e for e in _events(receiver) if e["kind"] == "summary"]) == 1


# ---------------------------------------------------------------- the workers (subprocess side)
def _data(np: Any) -> tuple[Any, Any]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0], dtype="float32"))[:, None]
    x[NAN_BATCH * 8 : (NAN_BATCH + 1) * 8] = np.nan  # every replica's share of that global batch
    return x, y


def _report(notifier: Any, path: str, **fields: Any) -> None:
    pending = notifier.close(20)
    stats = notifier.stats()
    Path(path).write_text(json.dumps({
        "pending": pending,
        "worker": notifier.run.worker,
        "not_sent_by_this_worker": stats["not_sent_by_this_worker"],
        "dropped": stats["dropped"],
        **fields,
    }))


def _callbacks(notifier: Any) -> list[Any]:
    import alertcb.keras

    return alertcb.keras.default_callbacks(
        notifier,
        hang={"timeout_s": HANG_TIMEOUT_S, "interval_s": 0.25, "first_step_timeout_s": 120},
    )


def _notifier(args: dict[str, Any]) -> Any:
    from alertcb import Notifier
    from alertcb.channels import Webhook

    return Notifier([Webhook(url=args["url"])], run_name="dist", run_dir=args["run_dir"], group_wait_s=0)


def _mwms_worker(args: dict[str, Any]) -> None:
    import numpy as np
    import tensorflow as tf

    import alertcb.keras

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    notifier = _notifier(args)
    calls = {"n": 0}

    def _slow_input(x: Any, y: Any) -> tuple[Any, Any]:
        calls["n"] += 1
        if index == 1 and calls["n"] == HANG_AT_ELEMENT + 1:
            time.sleep(HANG_S)  # worker 1 only: its input pipeline stalls once
        return x, y

    def pipeline(x: Any, y: Any) -> Any:
        xs, ys = tf.py_function(_slow_input, [x, y], [tf.float32, tf.float32])
        return tf.ensure_shape(xs, [None, 4]), tf.ensure_shape(ys, [None, 1])

    x, y = _data(np)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(8).map(pipeline).with_options(options)
    keras = tf.keras  # tf_keras, because TF_USE_LEGACY_KERAS=1
    with strategy.scope():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
    with notifier.watch():
        history = model.fit(dataset, epochs=2, callbacks=_callbacks(notifier), verbose=0)
    _report(notifier, args["result"], flavour=alertcb.keras.FLAVOUR, keras=keras.__name__,
            epochs=len(history.epoch), batches=calls["n"])


def _mirrored_worker(args: dict[str, Any]) -> None:
    import numpy as np
    import tensorflow as tf

    (cpu,) = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras

    import alertcb.keras

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    notifier = _notifier(args)
    x, y = _data(np)
    with strategy.scope():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
    with notifier.watch():
        model.fit(x, y, batch_size=8, epochs=2, callbacks=_callbacks(notifier), verbose=0, shuffle=False)
    _report(notifier, args["result"], flavour=alertcb.keras.FLAVOUR, replicas=strategy.num_replicas_in_sync)


if __name__ == "__main__":
    mode, raw = sys.argv[1], json.loads(sys.argv[2])
    {"mwms": _mwms_worker, "mirrored": _mirrored_worker}[mode](raw)
    sys.stdout.flush()
    os._exit(0)  # skip TensorFlow's collective teardown at interpreter exit (it can block)
