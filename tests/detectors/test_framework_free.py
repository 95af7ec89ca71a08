"""The detector core never imports a deep-learning framework."""

from __future__ import annotations

import subprocess
import sys


def test_importing_detectors_imports_no_framework() -> None:
    """``import alertcb.detectors`` loads neither TensorFlow, Keras, tf_keras, JAX nor torch."""
    code = (
        "import sys, alertcb.detectors\n"
        "bad = [m for m in ('tensorflow', 'keras', 'tf_keras', 'jax', 'torch') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert 0 == result.returncode, result.stderr
    assert "" == result.stdout.strip()
