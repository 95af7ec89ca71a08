"""alertcb: alerts for Keras training that never slow it down.

``import alertcb`` never imports TensorFlow or Keras; only ``alertcb.keras`` does.

Example:
    >>> import alertcb
    >>> notifier = alertcb.Notifier(run_name="exp42")  # console + ./alertcb-runs/exp42/
    >>> notifier.alert("hello", "it works")
    True
"""

from alertcb._version import __version__
from alertcb.errors import AlertcbError, ConfigError, DeliveryError
from alertcb.events import Event, RunInfo, Severity
from alertcb.notifier import Notifier
from alertcb.redact import Secret, install_log_filter

install_log_filter()

__all__ = [
    "AlertcbError",
    "ConfigError",
    "DeliveryError",
    "Event",
    "Notifier",
    "RunInfo",
    "Secret",
    "Severity",
    "__version__",
]
