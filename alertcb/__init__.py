"""alertcb: alerts for Keras training that never slow it down.

``import alertcb`` is cheap and never imports TensorFlow or Keras (only ``alertcb.keras``
does); the public names below load their modules on first use.

Example:
    >>> import alertcb
    >>> notifier = alertcb.Notifier(run_name="exp42")  # console + ./alertcb-runs/exp42/
    >>> notifier.alert("hello", "it works")
    True
"""

import importlib as _importlib
import typing as _typing

from alertcb._version import __version__
from alertcb.redact import install_log_filter as _install_log_filter

if _typing.TYPE_CHECKING:
    from alertcb.errors import AlertcbError, ConfigError, NonFiniteError
    from alertcb.events import Event, RunInfo, Severity
    from alertcb.notifier import Notifier
    from alertcb.redact import Secret

_install_log_filter()

#: The one table of exports: public name → the module that defines it (imported on first
#: access). ``__all__`` below lists the same names; tests/core/test_exports.py checks that
#: they agree with each module's own ``__all__`` and the TYPE_CHECKING imports above.
_EXPORTS = {
    "AlertcbError": "alertcb.errors",
    "ConfigError": "alertcb.errors",
    "Event": "alertcb.events",
    "NonFiniteError": "alertcb.errors",
    "Notifier": "alertcb.notifier",
    "RunInfo": "alertcb.events",
    "Secret": "alertcb.redact",
    "Severity": "alertcb.events",
}


def __getattr__(name: str) -> _typing.Any:
    if name in _EXPORTS:
        value = getattr(_importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later lookups skip __getattr__
        return value
    raise AttributeError(f"module 'alertcb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = [
    "AlertcbError",
    "ConfigError",
    "Event",
    "NonFiniteError",
    "Notifier",
    "RunInfo",
    "Secret",
    "Severity",
    "__version__",
]
