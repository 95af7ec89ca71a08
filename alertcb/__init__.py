"""alertcb: alerts for Keras training that never slow it down.

``import alertcb`` never imports TensorFlow or Keras; only ``alertcb.keras`` does.
"""

from alertcb._version import __version__
from alertcb.errors import AlertcbError, ConfigError, DeliveryError
from alertcb.events import Event, RunInfo, Severity
from alertcb.redact import Secret, install_log_filter

install_log_filter()

__all__ = [
    "AlertcbError",
    "ConfigError",
    "DeliveryError",
    "Event",
    "RunInfo",
    "Secret",
    "Severity",
    "__version__",
]
