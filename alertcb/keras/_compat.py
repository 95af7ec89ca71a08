"""Which Keras: Keras 3 (``keras``) or legacy Keras 2 (``tf_keras``), chosen once at import.

``ALERTCB_KERAS=keras|tf_keras`` chooses explicitly; otherwise ``TF_USE_LEGACY_KERAS=1``
(which makes ``tf.keras`` resolve to ``tf_keras``) selects ``tf_keras``, else Keras 3.
Callbacks must subclass the chosen flavour's ``Callback``: tf_keras's ``CallbackList``
calls methods only its own base class has.
"""

from __future__ import annotations

import os
from typing import Any

from alertcb.errors import ConfigError

_TRUE = ("1", "true", "yes", "on")


def select_flavour(environ: Any = None) -> str:
    """``"keras"`` or ``"tf_keras"`` from the environment (see the module docstring)."""
    env = os.environ if environ is None else environ
    explicit = str(env.get("ALERTCB_KERAS", "")).strip().lower().replace("-", "_")
    if explicit in ("tf_keras", "legacy", "keras2"):
        return "tf_keras"
    if explicit in ("keras", "keras3"):
        return "keras"
    if explicit:
        raise ConfigError("ALERTCB_KERAS", f"expected 'keras' or 'tf_keras', got {explicit!r}")
    if str(env.get("TF_USE_LEGACY_KERAS", "")).strip().lower() in _TRUE:
        return "tf_keras"
    return "keras"


FLAVOUR = select_flavour()

if FLAVOUR == "tf_keras":
    import tf_keras as keras_module  # type: ignore[import-not-found,unused-ignore]

    CallbackBase: Any = keras_module.callbacks.Callback
    BACKEND = "tensorflow"
else:
    import keras as keras_module  # type: ignore[no-redef,unused-ignore]

    CallbackBase = keras_module.callbacks.Callback
    BACKEND = str(keras_module.backend.backend())

__all__ = ["BACKEND", "FLAVOUR", "CallbackBase", "keras_module", "select_flavour"]
