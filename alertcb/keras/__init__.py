"""Keras callbacks that alert when training goes wrong (the only module importing Keras).

Works with Keras 3 (``keras``) and legacy Keras 2 (``tf_keras``): set
``TF_USE_LEGACY_KERAS=1`` (what makes ``tf.keras`` resolve to tf_keras) or
``ALERTCB_KERAS=tf_keras`` before importing. ``FLAVOUR`` says which one is in use.

All callbacks are one engine (`AlertEngine` driving `alertcb.detectors.Monitor`);
the named ones are presets with one detector enabled. `default_callbacks` gives one
engine with every default detector, so each batch is looked at once.

Example:
    >>> import alertcb, alertcb.keras
    >>> notifier = alertcb.Notifier(run_name="exp42")  # doctest: +SKIP
    >>> model.fit(x, y, callbacks=alertcb.keras.default_callbacks(notifier))  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from alertcb.detectors.monitor import Monitor
from alertcb.detectors.nonfinite import NonFiniteError
from alertcb.errors import ConfigError
from alertcb.keras import epoch as _epoch
from alertcb.keras import hang as _hang
from alertcb.keras import nonfinite as _nonfinite
from alertcb.keras import plateau as _plateau
from alertcb.keras import spike as _spike
from alertcb.keras import summary as _summary
from alertcb.keras import threshold as _threshold
from alertcb.keras._base import AlertCallback, check_notifier
from alertcb.keras._compat import FLAVOUR
from alertcb.keras._preset import merge
from alertcb.keras.engine import AlertEngine
from alertcb.keras.epoch import OverfittingAlert, ValAnomalyAlert
from alertcb.keras.hang import HangWatchdog
from alertcb.keras.nonfinite import NonFiniteAlert
from alertcb.keras.plateau import PlateauAlert
from alertcb.keras.spike import DivergenceAlert, LossSpikeAlert
from alertcb.keras.summary import TrainingSummary
from alertcb.keras.threshold import ThresholdAlert

Options = bool | Mapping[str, Any] | None


def _build(
    field: str, make: Callable[..., dict[str, Any]], notifier: Any, options: Options, default: bool
) -> dict[str, Any] | None:
    if options is None:
        options = default
    if options is False:
        return None
    if options is True:
        kwargs: dict[str, Any] = {}
    elif isinstance(options, Mapping):
        kwargs = dict(options)
    else:
        raise ConfigError(field, f"expected True, False or a dict of {field} arguments, got {options!r}")
    try:
        return make(notifier, **kwargs)
    except ConfigError as exc:
        raise exc.with_prefix(field) from None
    except TypeError as exc:
        raise ConfigError(field, f"bad arguments for {field}: {exc}") from None


def default_callbacks(
    notifier: Any,
    *,
    nonfinite: Options = True,
    spike: Options = True,
    divergence: Options = True,
    hang: Options = True,
    summary: Options = True,
    val_anomaly: Options = True,
    overfitting: Options = False,
    plateau: Options = False,
    thresholds: Iterable[Mapping[str, Any]] = (),
    progress: Mapping[str, Any] | None = None,
    lifecycle: bool = True,
    verbose: int = 0,
) -> list[AlertCallback]:
    """The recommended set as one `AlertEngine` (one pass over the logs per batch).

    Each detector keyword takes True (defaults), False (leave it out) or a dict of the
    matching callback's arguments (the same names as `NonFiniteAlert`, `LossSpikeAlert`,
    `DivergenceAlert`, `HangWatchdog`, `TrainingSummary`, `ValAnomalyAlert`,
    `OverfittingAlert`, `PlateauAlert`).

    Args:
        notifier: the `alertcb.Notifier`.
        nonfinite: e.g. ``{"on_nonfinite": "stop"}``.
        spike: e.g. ``{"sensitivity": 2.5}``.
        divergence: e.g. ``{"factor": 5}``.
        hang: e.g. ``{"timeout_s": 900}``.
        summary: e.g. ``{"monitor": "val_accuracy"}``.
        val_anomaly: on by default for ``val_loss`` when validation runs; e.g. ``{"monitor": "val_accuracy"}``.
        overfitting: off by default; e.g. ``{"patience": 5}``.
        plateau: off by default; e.g. ``{"patience": 5}``.
        thresholds: `ThresholdAlert` argument dicts, e.g. ``[{"monitor": "val_loss", "above": 10}]``.
        progress: `alertcb.report.digest.ProgressDigest` arguments (e.g. ``{"every": "1h"}``)
            for periodic progress digests fed by the engine's summary tracker; None: none.
        lifecycle: append ``alertcb.keras.lifecycle.LifecycleAlert(notifier)`` (early stop,
            learning-rate changes, checkpoints) when that module is installed. Defaults to True.
        verbose: 1 also logs alerts. Defaults to 0.

    Returns:
        A list: the engine first, then the epoch-level extras (lifecycle). Batch hooks
        run once per batch whatever is enabled; ``+ [...]`` appends your own callbacks.

    Raises:
        ConfigError: naming the offending field, e.g. ``spike.sensitivity``.

    Example:
        >>> callbacks = default_callbacks(notifier, hang={"timeout_s": 600}, plateau={"patience": 3})  # doctest: +SKIP
    """
    check_notifier(notifier)
    if isinstance(thresholds, Mapping) or isinstance(thresholds, (str, bytes)):
        raise ConfigError(
            "thresholds", "expected a list of dicts such as [{'monitor': 'val_loss', 'above': 10}]"
        )
    built = [
        _build("nonfinite", _nonfinite.parts, notifier, nonfinite, True),
        _build("spike", _spike.spike_parts, notifier, spike, True),
        _build("divergence", _spike.divergence_parts, notifier, divergence, True),
        _build("val_anomaly", _epoch.val_anomaly_parts, notifier, val_anomaly, True),
        _build("overfitting", _epoch.overfitting_parts, notifier, overfitting, False),
        _build("plateau", _plateau.parts, notifier, plateau, False),
        _build("hang", _hang.parts, notifier, hang, True),
    ]
    for i, options in enumerate(thresholds):
        if not isinstance(options, Mapping):
            raise ConfigError(f"thresholds[{i}]", f"expected a dict of ThresholdAlert arguments, got {options!r}")
        built.append(_build(f"thresholds[{i}]", _threshold.parts, notifier, options, True))
    if summary is not False:
        built.append(_build("summary", _summary.parts, notifier, summary, True))
    kwargs = merge([part for part in built if part is not None])
    check_weights = bool(kwargs.pop("check_weights", True))
    engine = AlertEngine(notifier, engine=_engine(notifier, kwargs), check_weights=check_weights, verbose=verbose)
    if progress is not None:
        engine.add_progress(progress)
    callbacks: list[AlertCallback] = [engine]
    if lifecycle:
        callbacks.extend(_lifecycle(notifier))
    return callbacks


def _engine(notifier: Any, kwargs: dict[str, Any]) -> Monitor:
    try:
        return Monitor(notifier, running_mean=True, autostart=False, **kwargs)
    except TypeError as exc:
        raise ConfigError("default_callbacks", f"bad arguments: {exc}") from None


def _lifecycle(notifier: Any) -> list[AlertCallback]:
    """Helper ``ops``' `LifecycleAlert`, if ``alertcb.keras.lifecycle`` exists (guarded import)."""
    try:
        module = importlib.import_module("alertcb.keras.lifecycle")
    except ImportError:
        return []
    factory = getattr(module, "LifecycleAlert", None)
    return [factory(notifier)] if factory is not None else []


__all__ = [
    "FLAVOUR",
    "AlertCallback",
    "AlertEngine",
    "DivergenceAlert",
    "HangWatchdog",
    "LossSpikeAlert",
    "Monitor",
    "NonFiniteAlert",
    "NonFiniteError",
    "OverfittingAlert",
    "PlateauAlert",
    "ThresholdAlert",
    "TrainingSummary",
    "ValAnomalyAlert",
    "default_callbacks",
]
