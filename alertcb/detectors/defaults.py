"""Every detector default, defined once (the detectors, `Monitor` and the Keras presets import these).

Epochs in events are 0-based (``Event.epoch``, ``details["best_epoch"]``); every text a
person reads counts epochs from 1 (`human_epoch`).
"""

from __future__ import annotations

# --- spike (SpikeDetector / LossSpikeAlert) -------------------------------------------------
SPIKE_SENSITIVITY = 2.2
SPIKE_MIN_RATIO = 3.0
SPIKE_WINDOW = 300
SPIKE_LEVEL_WINDOW = 20
SPIKE_MAX_WINDOW = 100
SPIKE_TAIL_QUANTILE = 0.98
SPIKE_WARMUP_STEPS = 20
SPIKE_RESOLVE_STEPS = 5
FLOOR_FRACTION = 1e-3

# --- divergence (DivergenceDetector / DivergenceAlert) --------------------------------------
DIVERGENCE_FACTOR = 3.0
DIVERGENCE_PATIENCE = 5
DIVERGENCE_WINDOW = 5
DIVERGENCE_BASELINE_WINDOW = 50
DIVERGENCE_WARMUP_STEPS = 20

# --- silent NaN: the weight check (WeightCheckSchedule / NonFiniteAlert) ---------------------
WEIGHTS_BUDGET = 0.005  # of the measured step time
WEIGHTS_TARGET_BATCHES = 5
WEIGHTS_TARGET_S = 1.0

# --- epoch-level anomalies (ValAnomalyDetector / OverfittingDetector) -----------------------
VAL_MONITOR = "val_loss"
VAL_SENSITIVITY = 6.0
VAL_MIN_RATIO = 1.5
VAL_MIN_EPOCHS = 3
OVERFIT_PATIENCE = 4
OVERFIT_MIN_RISE = 0.05


def human_epoch(epoch: int | None) -> str:
    """A 0-based epoch index as a person reads it (1-based): ``human_epoch(0) == "1"``."""
    return "?" if epoch is None else str(epoch + 1)
