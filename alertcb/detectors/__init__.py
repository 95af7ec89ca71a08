"""Framework-independent detectors: plain floats in, `alertcb.Event` objects out.

Nothing here imports TensorFlow or Keras. `Monitor` is the one detection engine: it
runs every enabled detector for a custom training loop, and `alertcb.keras` drives it
from Keras hooks. Every default is defined once, in `alertcb.detectors.defaults`.
"""

from alertcb.detectors.base import Detector
from alertcb.detectors.decoder import RunningMeanDecoder
from alertcb.detectors.divergence import DivergenceDetector
from alertcb.detectors.epoch import OverfittingDetector, ValAnomalyDetector
from alertcb.detectors.hang import HangMonitor, schedule_hang_check
from alertcb.detectors.monitor import Monitor
from alertcb.detectors.nonfinite import NonFiniteDetector, NonFiniteError
from alertcb.detectors.plateau import PlateauDetector, infer_mode
from alertcb.detectors.spike import SpikeDetector
from alertcb.detectors.threshold import ThresholdDetector
from alertcb.detectors.weights import WeightCheckSchedule

__all__ = [
    "Detector",
    "DivergenceDetector",
    "HangMonitor",
    "Monitor",
    "NonFiniteDetector",
    "NonFiniteError",
    "OverfittingDetector",
    "PlateauDetector",
    "RunningMeanDecoder",
    "SpikeDetector",
    "ThresholdDetector",
    "ValAnomalyDetector",
    "WeightCheckSchedule",
    "infer_mode",
    "schedule_hang_check",
]
