"""Both Keras flavours: Keras 3 here, tf_keras in a subprocess (TF_USE_LEGACY_KERAS=1)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from alertcb.keras import default_callbacks
from alertcb.keras._compat import select_flavour
from tests.keras.helpers import FLAVOUR, keras

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.core
def test_callbacks_subclass_the_selected_flavour(notifier: Any) -> None:
    """Every callback is an instance of the selected flavour's Callback and accepts tensor logs."""
    for cb in default_callbacks(notifier):
        assert isinstance(cb, keras.callbacks.Callback)
        assert cb._supports_tf_logs is True


@pytest.mark.parametrize(
    ("environ", "flavour"),
    [
        ({}, "keras"),
        ({"TF_USE_LEGACY_KERAS": "1"}, "tf_keras"),
        ({"TF_USE_LEGACY_KERAS": "1", "ALERTCB_KERAS": "keras"}, "keras"),
        ({"ALERTCB_KERAS": "tf_keras"}, "tf_keras"),
    ],
)
def test_flavour_selection(environ: dict[str, str], flavour: str) -> None:
    """ALERTCB_KERAS wins; otherwise TF_USE_LEGACY_KERAS=1 selects tf_keras."""
    assert flavour == select_flavour(environ)


def test_core_cases_pass_under_tf_keras() -> None:
    """The core cases (NaN, silent NaN, spike, plateau, hang, summary) also pass with tf_keras."""
    env = {k: v for k, v in os.environ.items() if k != "ALERTCB_KERAS"}
    env["TF_USE_LEGACY_KERAS"] = "1"
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/keras",
            "-m",
            "core",
            "-q",
            "-p",
            "no:cacheprovider",
            "-x",
            "-k",
            "not flavour_selection",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    tail = (result.stdout + result.stderr)[-3000:]
    assert 0 == result.returncode, tail
    assert " passed" in result.stdout and "failed" not in result.stdout, tail
    if FLAVOUR == "keras":
        assert "deselected" in result.stdout
