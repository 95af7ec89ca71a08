"""Keras callbacks that alert when training goes wrong (the only module importing Keras).

Works with Keras 3 (``keras``) and legacy Keras 2 (``tf_keras``): set
``TF_USE_LEGACY_KERAS=1`` (what makes ``tf.keras`` resolve to tf_keras) or
``ALERTCB_KERAS=tf_keras`` before importing. ``FLAVOUR`` says which one is in use.

Example:
    >>> import alertcb, alertcb.keras
    >>> notifier = alertcb.Notifier(run_name="exp42")  # doctest: +SKIP
    >>> model.fit(x, y, callbacks=alertcb.keras.default_callbacks(notifier))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from alertcb.detectors.nonfinite import NonFiniteError
from alertcb.errors import ConfigError
from alertcb.keras._base import AlertCallback
from alertcb.keras._compat import FLAVOUR
from alertcb.keras.hang import HangWatchdog
from alertcb.keras.nonfinite import NonFiniteAlert
from alertcb.keras.plateau import PlateauAlert
from alertcb.keras.spike import DivergenceAlert, LossSpikeAlert
from alertcb.keras.summary import TrainingSummary
from alertcb.keras.threshold import ThresholdAlert

Options = bool | Mapping[str, Any] | None


def _build(
    field: str, cls: type[AlertCallback], notifier: Any, options: Options, default: bool
) -> AlertCallback | None:
    if options is None:
        options = default
    if options is False:
        return None
    if options is True:
        kwargs: dict[str, Any] = {}
    elif isinstance(options, Mapping):
        kwargs = dict(options)
    else:
        raise ConfigError(
            field, f"expected True, False or a dict of {cls.__name__} arguments, got {options!r}"
        )
    try:
        return cls(notifier, **kwargs)
    except ConfigError as exc:
        raise exc.with_prefix(field) from None
    except TypeError as exc:
        raise ConfigError(field, f"bad arguments for {cls.__name__}: {exc}") from None


def default_callbacks(
    notifier: Any,
    *,
    nonfinite: Options = True,
    spike: Options = True,
    divergence: Options = True,
    hang: Options = True,
    summary: Options = True,
    plateau: Options = False,
    thresholds: Iterable[Mapping[str, Any]] = (),
) -> list[AlertCallback]:
    """The recommended set: `NonFiniteAlert`, `LossSpikeAlert`, `DivergenceAlert`,
    `HangWatchdog` and `TrainingSummary`; `PlateauAlert` and `ThresholdAlert` on request.

    Each keyword takes True (defaults), False (leave it out) or a dict of that
    callback's arguments.

    Args:
        notifier: the `alertcb.Notifier`.
        nonfinite: `NonFiniteAlert` options, e.g. ``{"on_nonfinite": "stop"}``.
        spike: `LossSpikeAlert` options, e.g. ``{"sensitivity": 2.5}``.
        divergence: `DivergenceAlert` options.
        hang: `HangWatchdog` options, e.g. ``{"timeout_s": 900}``.
        summary: `TrainingSummary` options, e.g. ``{"monitor": "val_accuracy"}``.
        plateau: `PlateauAlert` options (off by default), e.g. ``{"patience": 5}``.
        thresholds: `ThresholdAlert` argument dicts, e.g. ``[{"monitor": "val_loss", "above": 10}]``.

    Raises:
        ConfigError: naming the offending field, e.g. ``spike.sensitivity``.

    Example:
        >>> callbacks = default_callbacks(notifier, hang={"timeout_s": 600}, plateau={"patience": 3})  # doctest: +SKIP
    """
    built = [
        _build("nonfinite", NonFiniteAlert, notifier, nonfinite, True),
        _build("spike", LossSpikeAlert, notifier, spike, True),
        _build("divergence", DivergenceAlert, notifier, divergence, True),
        _build("plateau", PlateauAlert, notifier, plateau, False),
        _build("hang", HangWatchdog, notifier, hang, True),
    ]
    if isinstance(thresholds, Mapping) or isinstance(thresholds, (str, bytes)):
        raise ConfigError(
            "thresholds", "expected a list of dicts such as [{'monitor': 'val_loss', 'above': 10}]"
        )
    for i, options in enumerate(thresholds):
        if not isinstance(options, Mapping):
            raise ConfigError(
                f"thresholds[{i}]", f"expected a dict of ThresholdAlert arguments, got {options!r}"
            )
        built.append(_build(f"thresholds[{i}]", ThresholdAlert, notifier, options, True))
    # The summary last: it sees the other callbacks' decisions (stop_training) at train end.
    built.append(_build("summary", TrainingSummary, notifier, summary, True))
    return [cb for cb in built if cb is not None]


__all__ = [
    "FLAVOUR",
    "AlertCallback",
    "DivergenceAlert",
    "HangWatchdog",
    "LossSpikeAlert",
    "NonFiniteAlert",
    "NonFiniteError",
    "PlateauAlert",
    "ThresholdAlert",
    "TrainingSummary",
    "default_callbacks",
]
