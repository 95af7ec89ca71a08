"""The loss-curve picture of a training summary, drawn by matplotlib as PNG bytes.

The picture shows train and val loss per epoch, the downsampled per-batch loss, one
dashed line per alert (labelled ``kind (severity)`` in the legend), stretches where the
loss was NaN/Inf (shaded and labelled, not left blank), the lifecycle events
(``early_stop``, ``lr_change``, ``checkpoint``) and a star on the best epoch. The x axis
counts epochs from 1 (or steps when no epoch is known); an alert is drawn at its
``step`` (global batch), an epoch-level one without a usable step at its epoch's end.

matplotlib is imported here, lazily, only when a picture is drawn (on the dispatcher's
background thread at the end of training): ``import alertcb`` never imports it. It uses
``matplotlib.figure.Figure`` with ``FigureCanvasAgg`` directly, never ``pyplot`` (global
state, not safe from a background thread).

Example:
    >>> png = loss_curve_png(summary_event.details)  # doctest: +SKIP
    >>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"  # doctest: +SKIP
    True
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any

from alertcb.errors import ConfigError
from alertcb.report.summary import Summary

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DEFAULT_WIDTH_PX = 800
DEFAULT_HEIGHT_PX = 400
NAN_LABEL = "loss NaN/Inf"

COLORS = {
    "background": "#ffffff",
    "grid": "#e8eaed",
    "muted": "#5f6368",
    "batch": "#bdc1c6",
    "train": "#1a73e8",
    "val": "#e8710a",
    "critical": "#d93025",
    "warning": "#f9ab00",
    "info": "#1e8e3e",
    "nan": "#fad2cf",
    "early_stop": "#5f6368",
    "lr_change": "#9334e6",
    "checkpoint": "#188038",
}
_LIFECYCLE_STYLE = {"early_stop": "-.", "lr_change": ":"}


def _finite(y: float | None) -> bool:
    return y is not None and math.isfinite(y)


class CurveData:
    """What the picture shows, in plot coordinates (x in epochs, 1-based, or in steps).

    Args:
        details: a summary event's ``details`` (any version) or a `Summary`.
    """

    def __init__(self, details: Any) -> None:
        s = Summary.from_dict(details)
        self.title = " · ".join(x for x in (s.run_name, s.status_text) if x)
        spe = s.steps_per_epoch
        if not spe and s.epochs_done and s.steps_done:
            spe = max(1, round(s.steps_done / s.epochs_done))
        self.spe = spe
        self.x_label = "epoch" if s.epochs or spe else "step"
        self.train = [(float(r.epoch + 1), _nan(r.metrics.get("loss"))) for r in s.epochs]
        self.val = [(float(r.epoch + 1), _nan(r.metrics.get("val_loss"))) for r in s.epochs]
        self.nan_spans: list[tuple[float, float]] = [
            (float(r.epoch), float(r.epoch + 1)) for r in s.epochs if _nonfinite(r.metrics.get("loss"))
        ]
        if not any(math.isfinite(y) for _, y in self.val):
            self.val = []
        if not any(math.isfinite(y) for _, y in self.train):
            self.train = []
        stride = s.batch_loss.stride
        self.batch: list[tuple[float, float]] = []
        for step, value in zip(s.batch_loss.steps, s.batch_loss.values, strict=False):
            end = self.x(step + stride - 1, None)
            self.batch.append((end, _nan(value)))
            if not _finite(value):
                self.nan_spans.append((self.x(step - 1, None), end))
        self.nan_spans = _merge(self.nan_spans)
        self.markers = [
            (x, m.kind, m.severity, m.title) for m in s.markers if math.isfinite(x := self.x(m.step, m.epoch))
        ]
        self.lifecycle: list[tuple[float, str, bool]] = []  # (x, kind, is_best)
        for entry in s.timeline:
            x = self.x(entry.step, entry.epoch)
            if math.isfinite(x):
                self.lifecycle.append((x, entry.kind, entry.details.get("is_best") is True))
        m = s.monitor
        self.best: tuple[float, float] | None = None
        if m.best_number is not None and _finite(m.best_value) and m.name in ("loss", "val_loss"):
            self.best = (float(m.best_number), float(m.best_value or 0.0))

    def x(self, step: int | None, epoch: int | None) -> float:
        """The x of a global batch ``step`` (its end), or of an epoch's end when the step is unusable."""
        spe = self.spe
        if step is not None and spe and (epoch is None or step + 1 > epoch * spe):
            return (step + 1) / spe
        if step is not None and self.x_label == "step":
            return float(step + 1)
        if epoch is not None:
            return float(epoch + 1)
        return math.nan

    @property
    def empty(self) -> bool:
        return not (self.train or self.val or any(math.isfinite(y) for _, y in self.batch))

    def ys(self) -> list[float]:
        return [y for _, y in (*self.train, *self.val, *self.batch) if math.isfinite(y)]

    def log_scale(self) -> bool:
        ys = self.ys()
        return bool(ys) and min(ys) > 0 and max(ys) / min(ys) > 100

    def y_at(self, x: float) -> float | None:
        """The val (else train) loss at the epoch nearest ``x``, for placing a checkpoint mark."""
        for series in (self.val, self.train):
            near = [(abs(px - x), py) for px, py in series if math.isfinite(py)]
            if near:
                return min(near)[1]
        return None


def _nan(value: float | None) -> float:
    return value if value is not None else math.nan


def _nonfinite(value: float | None) -> bool:
    return value is not None and not math.isfinite(value)


def _merge(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for low, high in sorted(s for s in spans if math.isfinite(s[0]) and math.isfinite(s[1])):
        if out and low <= out[-1][1] + 1e-9:
            out[-1] = (out[-1][0], max(out[-1][1], high))
        else:
            out.append((low, high))
    return out


def tick_label(value: float) -> str:
    """Short tick text: ``0.5``, ``20``, ``1e-4``."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e5 or magnitude < 1e-3:
        mantissa, exponent = f"{value:.0e}".split("e")
        return f"{mantissa}e{int(exponent)}"
    if value == int(value):
        return str(int(value))
    return f"{value:.4g}"


# ---------------------------------------------------------------------- drawing


def loss_curve_figure(
    details: Any, *, width_px: int = DEFAULT_WIDTH_PX, height_px: int = DEFAULT_HEIGHT_PX
) -> Figure:
    """The picture as a matplotlib `Figure` (Agg canvas attached; no pyplot).

    Raises:
        ConfigError: a size outside 100..4000 px.
    """
    for name, size in (("width_px", width_px), ("height_px", height_px)):
        if isinstance(size, bool) or not isinstance(size, int) or not 100 <= size <= 4000:
            raise ConfigError(name, f"expected an int between 100 and 4000, got {size!r}")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    data = CurveData(details)
    dpi = 100
    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi, facecolor=COLORS["background"])
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.grid(True, color=COLORS["grid"], linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if data.log_scale():
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        ax.set_yscale("log")
        values = data.ys()
        decades = math.log10(max(values)) - math.log10(min(values))
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades <= 3 else (1.0,)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: tick_label(value)))
        ax.yaxis.set_minor_formatter(NullFormatter())
    few = max(len(data.train), len(data.val)) <= 30
    for series, color, label, width in (
        (data.batch, COLORS["batch"], "batch loss", 0.8),
        (data.train, COLORS["train"], "loss", 2.0),
        (data.val, COLORS["val"], "val_loss", 2.0),
    ):
        if series and any(math.isfinite(y) for _, y in series):
            xs, ys = zip(*series, strict=True)
            dots = "o" if few and series is not data.batch else None
            ax.plot(xs, ys, color=color, linewidth=width, marker=dots, markersize=3, label=label)
    if data.best is not None:
        ax.plot(*data.best, marker="*", markersize=12, color=COLORS["info"], linestyle="none", label="best")
    _draw_nan_spans(ax, data)
    _draw_markers(ax, data)
    if data.empty:
        ax.text(0.5, 0.5, "no finite loss values recorded", ha="center", va="center",
                transform=ax.transAxes, color=COLORS["muted"])
    ax.set_xlabel(data.x_label)
    ax.set_ylabel("loss")
    if data.title:
        ax.set_title(data.title, fontsize=11, loc="left")
    if ax.get_legend_handles_labels()[1]:
        labels = len(ax.get_legend_handles_labels()[1])
        ax.legend(loc="upper right", fontsize=7, framealpha=0.85, ncol=2 if labels > 6 else 1)
    fig.tight_layout()
    return fig


def _draw_nan_spans(ax: Any, data: CurveData) -> None:
    for i, (low, high) in enumerate(data.nan_spans):
        ax.axvspan(low, high, facecolor=COLORS["nan"], edgecolor=COLORS["critical"], hatch="//",
                   linewidth=0, alpha=0.7, label=NAN_LABEL if i == 0 else None, zorder=0)
        ax.text((low + high) / 2, 0.03, "NaN", transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                fontsize=8, color=COLORS["critical"], fontweight="bold")


def _draw_markers(ax: Any, data: CurveData) -> None:
    labelled: set[str] = set()

    def once(label: str) -> str | None:
        if label in labelled:
            return None
        labelled.add(label)
        return label

    for x, kind, severity, _title in data.markers:
        color = COLORS.get(severity, COLORS["warning"]) if severity != "info" else COLORS["muted"]
        ax.axvline(x, color=color, linestyle="--", linewidth=1, alpha=0.85, label=once(f"{kind} ({severity})"))
    for x, kind, is_best in data.lifecycle:
        if kind == "checkpoint":
            y = data.y_at(x)
            label = once("checkpoint (best)" if is_best else "checkpoint")
            if y is None:
                ax.axvline(x, color=COLORS["checkpoint"], linestyle=(0, (1, 3)), linewidth=1, label=label)
            else:
                ax.plot([x], [y], marker="D", markersize=6, linestyle="none", color=COLORS["checkpoint"],
                        markerfacecolor=COLORS["checkpoint"] if is_best else "none", label=label, zorder=5)
        else:
            ax.axvline(x, color=COLORS.get(kind, COLORS["muted"]), linestyle=_LIFECYCLE_STYLE.get(kind, ":"),
                       linewidth=1.5, label=once(kind))


def loss_curve_png(
    details: Any, *, width_px: int = DEFAULT_WIDTH_PX, height_px: int = DEFAULT_HEIGHT_PX
) -> bytes:
    """Draw the loss curve of a summary as PNG bytes (see the module docstring).

    Args:
        details: the summary event's ``details`` (any version) or a `Summary`.
        width_px: image width in pixels. Defaults to 800.
        height_px: image height in pixels. Defaults to 400.

    Raises:
        ConfigError: a size outside 100..4000 px.
    """
    fig = loss_curve_figure(details, width_px=width_px, height_px=height_px)
    buffer = io.BytesIO()
    fig.canvas.print_png(buffer)  # type: ignore[attr-defined]
    return buffer.getvalue()
