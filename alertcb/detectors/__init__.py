"""Framework-independent detectors: plain floats in, `alertcb.Event` objects out.

Nothing here imports TensorFlow or Keras; `alertcb.keras` adapts these to callbacks,
and `Monitor` adapts them to a custom training loop.
"""

from alertcb.detectors.base import Detector
from alertcb.detectors.divergence import DivergenceDetector
from alertcb.detectors.hang import HangMonitor, schedule_hang_check
from alertcb.detectors.monitor import Monitor
from alertcb.detectors.nonfinite import NonFiniteDetector, NonFiniteError
from alertcb.detectors.plateau import PlateauDetector, infer_mode
from alertcb.detectors.spike import RunningMeanDecoder, SpikeDetector
from alertcb.detectors.threshold import ThresholdDetector

__all__ = [
    "Detector",
    "DivergenceDetector",
    "HangMonitor",
    "Monitor",
    "NonFiniteDetector",
    "NonFiniteError",
    "PlateauDetector",
    "RunningMeanDecoder",
    "SpikeDetector",
    "ThresholdDetector",
    "infer_mode",
    "schedule_hang_check",
]
