"""The public surface: one sorted __all__, every name reachable, no heavy imports."""

from __future__ import annotations

import subprocess
import sys

import alertcb


def test_all_is_sorted_and_resolvable() -> None:
    """Every name in alertcb.__all__ resolves; __all__ is sorted (dunder last)."""
    names = [n for n in alertcb.__all__ if not n.startswith("__")]
    assert names == sorted(names)
    for name in alertcb.__all__:
        assert getattr(alertcb, name) is not None
    assert set(alertcb.__all__) <= set(dir(alertcb))


def test_import_loads_neither_tensorflow_nor_heavy_modules() -> None:
    """`import alertcb` and even building a Notifier import no TensorFlow, Keras, matplotlib or httpx."""
    code = (
        "import sys, alertcb; n = alertcb.Notifier(run_dir=False, outbox=False); n.close(0);"
        "print(sorted(m for m in ('tensorflow', 'keras', 'tf_keras', 'matplotlib', 'httpx', 'jinja2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['jinja2']"  # the renderer is built with the Notifier; httpx only when sending
