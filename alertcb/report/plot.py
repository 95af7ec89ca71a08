"""The loss-curve picture of a training summary, as PNG bytes.

Two renderers draw the same picture (train and val loss per epoch, the per-batch
loss when it was kept, dashed markers where alerts fired, the best epoch):

- ``"matplotlib"``: anti-aliased, real fonts. Needs the ``alertcb[plot]`` extra.
  Uses ``matplotlib.figure.Figure`` with ``FigureCanvasAgg`` directly, never
  ``pyplot`` (no global state: this runs on the dispatcher's background thread).
- ``"builtin"``: a small pure-Python rasteriser and PNG writer (``zlib`` only,
  palette image, a 5x7 bitmap font). Always available and deterministic, so a
  summary mail or WeCom message has its picture on every install.

``"auto"`` (the default) uses matplotlib when it can be imported, else the builtin.
matplotlib is imported lazily, only when a picture is drawn: ``import alertcb``
never imports it. See docs/reports.md for why.

Example:
    >>> png = loss_curve_png(summary_event.details)  # doctest: +SKIP
    >>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"  # doctest: +SKIP
    True
"""

from __future__ import annotations

import io
import logging
import math
import struct
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

from alertcb.errors import ConfigError

logger = logging.getLogger("alertcb")

DEFAULT_WIDTH_PX = 800
DEFAULT_HEIGHT_PX = 400
BACKENDS = ("auto", "matplotlib", "builtin")

COLORS = {
    "background": "#ffffff",
    "text": "#202124",
    "grid": "#e8eaed",
    "muted": "#5f6368",
    "batch": "#bdc1c6",
    "train": "#1a73e8",
    "val": "#e8710a",
    "critical": "#d93025",
    "warning": "#f9ab00",
    "info": "#1e8e3e",
}


# ---------------------------------------------------------------------- data


class CurveData:
    """What the picture shows, in plot coordinates (x in epochs, 1-based, or steps).

    Args:
        details: a summary event's ``details`` (or its `summary_view`).
    """

    def __init__(self, details: Mapping[str, Any]) -> None:
        from alertcb.report.summary import VIEW_MARK, summary_view

        view = details if details.get("schema") == VIEW_MARK else summary_view(details)
        self.title = " · ".join(x for x in (str(view["run_name"]), str(view["status_text"])) if x)
        rows = view["epochs"]
        spe = view["steps_per_epoch"]
        if not spe and view["epochs_done"] and view["steps_done"]:
            spe = max(1, round(view["steps_done"] / view["epochs_done"]))
        self.x_label = "epoch" if rows or spe else "step"
        self.train: list[tuple[float, float]] = []
        self.val: list[tuple[float, float]] = []
        for row in rows:
            x = float(row["epoch"] + 1)
            self.train.append((x, _value(row["metrics"].get("loss"))))
            self.val.append((x, _value(row["metrics"].get("val_loss"))))
        if not any(math.isfinite(y) for _, y in self.val):
            self.val = []
        if not any(math.isfinite(y) for _, y in self.train):
            self.train = []
        self.batch: list[tuple[float, float]] = []
        batch = view["batch_loss"]
        stride = batch["stride"]
        for step, value in zip(batch["steps"], batch["values"], strict=False):
            end = step + stride  # the bucket's end, so it lines up with epoch-end points
            self.batch.append((end / spe if spe else float(end), _value(value)))
        self.markers: list[tuple[float, str]] = []
        for marker in view["markers"]:
            step, epoch = marker.get("step"), marker.get("epoch")
            if isinstance(step, int) and not isinstance(step, bool) and spe:
                x = (step + 1) / spe
            elif isinstance(step, int) and not isinstance(step, bool) and self.x_label == "step":
                x = float(step + 1)
            elif isinstance(epoch, int) and not isinstance(epoch, bool):
                x = epoch + 0.5
            else:
                continue
            self.markers.append((x, str(marker.get("severity") or "warning")))
        best_epoch = view["monitor"]["best_epoch"]
        best_value = view["monitor"]["best_value"]
        self.best: tuple[float, float] | None = None
        if (
            best_epoch is not None
            and best_value is not None
            and view["monitor"]["name"] in ("loss", "val_loss")
            and math.isfinite(best_value)
        ):
            self.best = (float(best_epoch + 1), float(best_value))

    @property
    def empty(self) -> bool:
        return not (self.train or self.val or self.batch)

    def ys(self) -> list[float]:
        return [y for _, y in (*self.train, *self.val, *self.batch) if math.isfinite(y)]

    def xs(self) -> list[float]:
        out = [x for x, _ in (*self.train, *self.val, *self.batch)]
        out += [x for x, _ in self.markers]
        return [x for x in out if math.isfinite(x)]

    def log_scale(self) -> bool:
        ys = self.ys()
        if not ys or min(ys) <= 0:
            return False
        return max(ys) / min(ys) > 100


def _value(value: Any) -> float:
    if isinstance(value, bool) or value is None:
        return math.nan
    if isinstance(value, str):
        return {"Infinity": math.inf, "-Infinity": -math.inf}.get(value, math.nan)
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


# ---------------------------------------------------------------------- entry point


def loss_curve_png(
    details: Mapping[str, Any],
    *,
    backend: str = "auto",
    width_px: int = DEFAULT_WIDTH_PX,
    height_px: int = DEFAULT_HEIGHT_PX,
) -> bytes:
    """Draw the loss curve of a summary as PNG bytes.

    Args:
        details: the summary event's ``details``.
        backend: ``"auto"`` (default: matplotlib if installed, else builtin),
            ``"matplotlib"`` or ``"builtin"``.
        width_px: image width in pixels. Defaults to 800.
        height_px: image height in pixels. Defaults to 400.

    Raises:
        ConfigError: an unknown ``backend`` or a size outside 100..4000 px.
        ImportError: ``backend="matplotlib"`` without matplotlib installed.
    """
    if backend not in BACKENDS:
        raise ConfigError("backend", f"expected one of {BACKENDS}, got {backend!r}")
    for field, size in (("width_px", width_px), ("height_px", height_px)):
        if isinstance(size, bool) or not isinstance(size, int) or not 100 <= size <= 4000:
            raise ConfigError(field, f"expected an int between 100 and 4000, got {size!r}")
    data = CurveData(details)
    if backend == "matplotlib":
        return _matplotlib_png(data, width_px, height_px)
    if backend == "auto":
        try:
            return _matplotlib_png(data, width_px, height_px)
        except ImportError:
            logger.debug(
                "alertcb: matplotlib not installed; drawing the loss curve with the builtin renderer"
            )
        except Exception as exc:  # noqa: BLE001 - a broken matplotlib install must not cost the picture
            logger.warning(
                "alertcb: matplotlib failed (%s: %s); using the builtin renderer", type(exc).__name__, exc
            )
    return _builtin_png(data, width_px, height_px)


def matplotlib_available() -> bool:
    """Whether the matplotlib renderer can be used (without importing matplotlib)."""
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


# ---------------------------------------------------------------------- matplotlib


def _matplotlib_png(data: CurveData, width_px: int, height_px: int) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dpi = 100
    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi, facecolor=COLORS["background"])
    canvas = FigureCanvasAgg(fig)
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
    if data.batch:
        xs, ys = zip(*data.batch, strict=True)
        ax.plot(xs, ys, color=COLORS["batch"], linewidth=0.8, label="batch loss")
    if data.train:
        xs, ys = zip(*data.train, strict=True)
        ax.plot(
            xs,
            ys,
            color=COLORS["train"],
            linewidth=2,
            marker="o" if few else None,
            markersize=3,
            label="loss",
        )
    if data.val:
        xs, ys = zip(*data.val, strict=True)
        ax.plot(
            xs,
            ys,
            color=COLORS["val"],
            linewidth=2,
            marker="o" if few else None,
            markersize=3,
            label="val_loss",
        )
    if data.best is not None:
        ax.plot(
            [data.best[0]],
            [data.best[1]],
            marker="*",
            markersize=12,
            color=COLORS["info"],
            linestyle="none",
            label="best",
        )
    labelled: set[str] = set()
    for x, severity in data.markers:
        color = COLORS["critical"] if severity == "critical" else COLORS["warning"]
        label = f"{severity} alert" if severity not in labelled else None
        labelled.add(severity)
        ax.axvline(x, color=color, linestyle="--", linewidth=1, alpha=0.8, label=label)
    if data.empty:
        ax.text(
            0.5,
            0.5,
            "no loss values recorded",
            ha="center",
            va="center",
            transform=ax.transAxes,
            color=COLORS["muted"],
        )
    ax.set_xlabel(data.x_label)
    ax.set_ylabel("loss")
    if data.title:
        ax.set_title(data.title, fontsize=11, loc="left")
    if not data.empty:
        ax.legend(loc="upper right", fontsize=8, frameon=False)
    fig.tight_layout()
    buffer = io.BytesIO()
    canvas.print_png(buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------------- builtin renderer

# 5x7 glyphs, rows top to bottom, "#" = ink. Upper case is drawn as lower case.
_GLYPH_ROWS: dict[str, str] = {
    "0": ".###. #...# #..## #.#.# ##..# #...# .###.",
    "1": "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",
    "2": ".###. #...# ....# ...#. ..#.. .#... #####",
    "3": "##### ...#. ..#.. ...#. ....# #...# .###.",
    "4": "...#. ..##. .#.#. #..#. ##### ...#. ...#.",
    "5": "##### #.... ####. ....# ....# #...# .###.",
    "6": "..##. .#... #.... ####. #...# #...# .###.",
    "7": "##### ....# ...#. ..#.. .#... .#... .#...",
    "8": ".###. #...# #...# .###. #...# #...# .###.",
    "9": ".###. #...# #...# .#### ....# ...#. .##..",
    "a": "..... ..... .###. ....# .#### #...# .####",
    "b": "#.... #.... #.##. ##..# #...# #...# ####.",
    "c": "..... ..... .###. #.... #.... #...# .###.",
    "d": "....# ....# .##.# #..## #...# #...# .####",
    "e": "..... ..... .###. #...# ##### #.... .###.",
    "f": "..##. .#..# .#... ###.. .#... .#... .#...",
    "g": "..... .#### #...# #...# .#### ....# .###.",
    "h": "#.... #.... #.##. ##..# #...# #...# #...#",
    "i": "..#.. ..... .##.. ..#.. ..#.. ..#.. .###.",
    "j": "...#. ..... ..##. ...#. ...#. #..#. .##..",
    "k": "#.... #.... #..#. #.#.. ##... #.#.. #..#.",
    "l": ".##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
    "m": "..... ..... ##.#. #.#.# #.#.# #...# #...#",
    "n": "..... ..... #.##. ##..# #...# #...# #...#",
    "o": "..... ..... .###. #...# #...# #...# .###.",
    "p": "..... ..... ####. #...# ####. #.... #....",
    "q": "..... ..... .##.# #..## .#### ....# ....#",
    "r": "..... ..... #.##. ##..# #.... #.... #....",
    "s": "..... ..... .###. #.... .###. ....# ####.",
    "t": ".#... .#... ###.. .#... .#... .#..# ..##.",
    "u": "..... ..... #...# #...# #...# #..## .##.#",
    "v": "..... ..... #...# #...# #...# .#.#. ..#..",
    "w": "..... ..... #...# #...# #.#.# #.#.# .#.#.",
    "x": "..... ..... #...# .#.#. ..#.. .#.#. #...#",
    "y": "..... ..... #...# #...# .#### ....# .###.",
    "z": "..... ..... ##### ...#. ..#.. .#... #####",
    ".": "..... ..... ..... ..... ..... .##.. .##..",
    ",": "..... ..... ..... ..... .##.. ..#.. .#...",
    "-": "..... ..... ..... .###. ..... ..... .....",
    "+": "..... ..#.. ..#.. ##### ..#.. ..#.. .....",
    "_": "..... ..... ..... ..... ..... ..... #####",
    ":": "..... .##.. .##.. ..... .##.. .##.. .....",
    "/": "..... ....# ...#. ..#.. .#... #.... .....",
    "(": "...#. ..#.. .#... .#... .#... ..#.. ...#.",
    ")": ".#... ..#.. ...#. ...#. ...#. ..#.. .#...",
    "%": "##... ##..# ...#. ..#.. .#... #..## ...##",
    "=": "..... ..... ##### ..... ##### ..... .....",
    "*": "..... #.#.# .###. ##### .###. #.#.# .....",
    "?": ".###. #...# ....# ...#. ..#.. ..... ..#..",
    " ": "..... ..... ..... ..... ..... ..... .....",
}
_GLYPHS: dict[str, tuple[tuple[int, int], ...]] = {
    ch: tuple((x, y) for y, row in enumerate(rows.split()) for x, c in enumerate(row) if c == "#")
    for ch, rows in _GLYPH_ROWS.items()
}
_GLYPHS["·"] = ((1, 3), (2, 3), (1, 4), (2, 4))
_GLYPH_W, _GLYPH_H = 5, 7

_PALETTE_NAMES = (
    "background",
    "text",
    "grid",
    "muted",
    "batch",
    "train",
    "val",
    "critical",
    "warning",
    "info",
)
_INDEX = {name: i for i, name in enumerate(_PALETTE_NAMES)}


class _Canvas:
    """A palette image: one byte per pixel, index into `_PALETTE_NAMES`."""

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.pixels = bytearray(width * height)  # 0 = background
        self.clip = (0, 0, width - 1, height - 1)

    def dot(self, x: int, y: int, color: int, size: int = 1) -> None:
        x0, y0, x1, y1 = self.clip
        half = size // 2
        for yy in range(y - half, y - half + size):
            if y0 <= yy <= y1:
                row = yy * self.width
                for xx in range(x - half, x - half + size):
                    if x0 <= xx <= x1:
                        self.pixels[row + xx] = color

    def hline(self, x0: int, x1: int, y: int, color: int) -> None:
        if 0 <= y < self.height:
            lo, hi = max(0, min(x0, x1)), min(self.width - 1, max(x0, x1))
            if lo <= hi:
                start = y * self.width
                self.pixels[start + lo : start + hi + 1] = bytes([color]) * (hi - lo + 1)

    def vline(self, x: int, y0: int, y1: int, color: int, dash: int = 0) -> None:
        if 0 <= x < self.width:
            for y in range(max(0, min(y0, y1)), min(self.height - 1, max(y0, y1)) + 1):
                if not dash or (y // dash) % 2 == 0:
                    self.pixels[y * self.width + x] = color

    def line(self, ax: float, ay: float, bx: float, by: float, color: int, size: int = 1) -> None:
        x0, y0, x1, y1 = int(round(ax)), int(round(ay)), int(round(bx)), int(round(by))
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err = dx + dy
        for _ in range(dx - dy + 1):
            self.dot(x0, y0, color, size)
            if x0 == x1 and y0 == y1:
                break
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x0 += sx
            if e2 <= dx:
                err += dx
                y0 += sy

    def text(self, x: int, y: int, text: str, color: int, scale: int = 2) -> int:
        """Draw ``text`` with its top-left corner at (x, y); return the width drawn."""
        saved, self.clip = self.clip, (0, 0, self.width - 1, self.height - 1)
        cursor = x
        for ch in text:
            glyph = _GLYPHS.get(ch, _GLYPHS.get(ch.lower(), _GLYPHS["?"]))
            for gx, gy in glyph:
                px, py = cursor + gx * scale, y + gy * scale
                for yy in range(py, py + scale):
                    if 0 <= yy < self.height:
                        for xx in range(px, px + scale):
                            if 0 <= xx < self.width:
                                self.pixels[yy * self.width + xx] = color
            cursor += (_GLYPH_W + 1) * scale
        self.clip = saved
        return cursor - x

    def png(self) -> bytes:
        palette = b"".join(bytes.fromhex(COLORS[name][1:]) for name in _PALETTE_NAMES)
        raw = bytearray()
        width = self.width
        for y in range(self.height):
            raw.append(0)  # filter: none
            raw += self.pixels[y * width : (y + 1) * width]
        return b"".join(
            (
                b"\x89PNG\r\n\x1a\n",
                _chunk(b"IHDR", struct.pack(">IIBBBBB", width, self.height, 8, 3, 0, 0, 0)),
                _chunk(b"PLTE", palette),
                _chunk(b"IDAT", zlib.compress(bytes(raw), 9)),
                _chunk(b"IEND", b""),
            )
        )


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def text_width(text: str, scale: int = 2) -> int:
    return len(text) * (_GLYPH_W + 1) * scale


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (1, 2, 2.5, 5 x 10^k steps)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw), 10 * magnitude)
    first = math.ceil(low / step - 1e-9) * step
    ticks: list[float] = []
    value = first
    while value <= high + step * 1e-9 and len(ticks) < 50:
        ticks.append(round(value, 12))
        value += step
    return ticks


def tick_label(value: float) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e5 or magnitude < 1e-3:
        mantissa, exponent = f"{value:.0e}".split("e")
        return f"{mantissa}e{int(exponent)}"
    if value == int(value):
        return str(int(value))
    return f"{value:.4g}"


def _builtin_png(data: CurveData, width: int, height: int) -> bytes:
    canvas = _Canvas(width, height)
    scale = 2 if width >= 600 else 1
    char_h = _GLYPH_H * scale
    left, right, top, bottom = (
        14 + text_width("0.0000", scale),
        width - 16,
        16 + char_h + 8,
        height - 22 - 2 * char_h,
    )
    ink, muted, grid = _INDEX["text"], _INDEX["muted"], _INDEX["grid"]
    if data.title:
        canvas.text(left, 8, data.title[: max(1, (right - left) // ((_GLYPH_W + 1) * scale))], ink, scale)

    xs, ys = data.xs(), data.ys()
    log = data.log_scale()

    def ty(v: float) -> float:
        return math.log10(v) if log else v

    x_lo, x_hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if data.x_label == "epoch":
        x_lo = min(x_lo, 1.0) if data.train or data.val else x_lo
        x_lo = max(0.0, min(x_lo, 1.0))
    if x_hi <= x_lo:
        x_hi = x_lo + 1
    if ys:
        y_lo, y_hi = min(ty(v) for v in ys), max(ty(v) for v in ys)
    else:
        y_lo, y_hi = 0.0, 1.0
    if y_hi <= y_lo:
        y_lo, y_hi = y_lo - 0.5 * (abs(y_lo) or 1), y_hi + 0.5 * (abs(y_hi) or 1)
    pad = (y_hi - y_lo) * 0.05
    y_lo, y_hi = y_lo - pad, y_hi + pad

    def px(x: float) -> float:
        return left + (x - x_lo) / (x_hi - x_lo) * (right - left)

    def py(y: float) -> float:
        return bottom - (ty(y) - y_lo) / (y_hi - y_lo) * (bottom - top)

    # grid and tick labels
    if log:
        mantissas = (1, 2, 5) if y_hi - y_lo <= 3.2 else (1,)
        y_ticks = [
            m * 10.0**k
            for k in range(math.floor(y_lo), math.ceil(y_hi) + 1)
            for m in mantissas
            if y_lo <= math.log10(m * 10.0**k) <= y_hi
        ]
    else:
        y_ticks = [t for t in nice_ticks(y_lo, y_hi, 5) if y_lo <= t <= y_hi]
    for t in y_ticks:
        tick_y = int(round(py(t)))
        canvas.hline(left, right, tick_y, grid)
        label = tick_label(t)
        canvas.text(left - 6 - text_width(label, scale), tick_y - char_h // 2, label, muted, scale)
    x_ticks = nice_ticks(x_lo, x_hi, 8)
    if data.x_label == "epoch" or data.x_label == "step":
        x_ticks = [t for t in x_ticks if t == int(t)] or x_ticks
    for t in x_ticks:
        if x_lo <= t <= x_hi:
            tick_x = int(round(px(t)))
            canvas.vline(tick_x, top, bottom, grid)
            label = tick_label(t)
            canvas.text(tick_x - text_width(label, scale) // 2, bottom + 6, label, muted, scale)
    canvas.hline(left, right, bottom, ink)
    canvas.vline(left, top, bottom, ink)
    canvas.text(
        (left + right - text_width(data.x_label, scale)) // 2,
        bottom + 10 + char_h,
        data.x_label,
        muted,
        scale,
    )

    canvas.clip = (left + 1, top, right, bottom - 1)
    for mx, severity in data.markers:
        canvas.vline(
            int(round(px(mx))),
            top,
            bottom - 1,
            _INDEX["critical" if severity == "critical" else "warning"],
            dash=4,
        )
    for series, color, size in ((data.batch, "batch", 1), (data.train, "train", 2), (data.val, "val", 2)):
        points = [(px(sx), py(sy) if _plottable(sy, log) else math.nan) for sx, sy in series]
        _polyline(canvas, points, _INDEX[color], size)
        if series is not data.batch and len(series) <= 30:
            for sx, sy in series:
                if _plottable(sy, log):
                    canvas.dot(int(round(px(sx))), int(round(py(sy))), _INDEX[color], 5)
    if data.best is not None:
        bx, by = int(round(px(data.best[0]))), int(round(py(data.best[1])))
        for d in range(-4, 5):
            canvas.dot(bx + d, by, _INDEX["info"], 3)
            canvas.dot(bx, by + d, _INDEX["info"], 3)
    canvas.clip = (0, 0, width - 1, height - 1)

    # legend (top right)
    entries = [
        (name, color)
        for name, color, present in (
            ("batch loss", "batch", bool(data.batch)),
            ("loss", "train", bool(data.train)),
            ("val_loss", "val", bool(data.val)),
            ("best", "info", data.best is not None),
            ("alert", _worst_marker(data), bool(data.markers)),
        )
        if present
    ]
    legend_y = top + 6
    for name, color in entries:
        lx = right - 8 - text_width(name, scale) - 26
        canvas.hline(lx, lx + 18, legend_y + char_h // 2, _INDEX[color])
        canvas.hline(lx, lx + 18, legend_y + char_h // 2 + 1, _INDEX[color])
        canvas.text(lx + 24, legend_y, name, ink, scale)
        legend_y += char_h + 6
    if data.empty:
        message = "no loss values recorded"
        canvas.text(
            (left + right - text_width(message, scale)) // 2, (top + bottom) // 2, message, muted, scale
        )
    return canvas.png()


def _worst_marker(data: CurveData) -> str:
    return "critical" if any(severity == "critical" for _, severity in data.markers) else "warning"


def _plottable(y: float, log: bool) -> bool:
    return math.isfinite(y) and (y > 0 or not log)


def _polyline(canvas: _Canvas, points: Sequence[tuple[float, float]], color: int, size: int) -> None:
    previous: tuple[float, float] | None = None
    for point in points:
        if not (math.isfinite(point[0]) and math.isfinite(point[1])):
            previous = None
            continue
        if previous is not None:
            canvas.line(previous[0], previous[1], point[0], point[1], color, size)
        elif size > 1:
            canvas.dot(int(round(point[0])), int(round(point[1])), color, size)
        previous = point
