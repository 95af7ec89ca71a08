"""The loss-curve picture: matplotlib (Agg, no pyplot), labelled markers, NaN stretches, lifecycle marks."""

from __future__ import annotations

import io
import math
import subprocess
import sys
import threading
from typing import Any

import numpy as np
import pytest
from matplotlib.image import imread

from alertcb.errors import ConfigError
from alertcb.report.plot import COLORS, NAN_LABEL, CurveData, loss_curve_figure, loss_curve_png

from .helpers import golden_combination_summary, summary_event


def decode(png: bytes) -> np.ndarray:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    return imread(io.BytesIO(png), format="png")


def legend_texts(details: Any) -> list[str]:
    legend = loss_curve_figure(details).axes[0].get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend is not None else []


def colour_pixels(pixels: np.ndarray, hex_colour: str, tolerance: float = 0.08) -> int:
    rgb = np.array([int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return int((np.abs(pixels[..., :3] - rgb).max(axis=-1) < tolerance).sum())


def test_png_decodes_to_the_requested_size_and_is_not_blank() -> None:
    """800x400 by default; train and val curves are drawn in their colours."""
    pixels = decode(loss_curve_png(summary_event("completed").details))
    assert (400, 800) == pixels.shape[:2]
    not_white = int((pixels[..., :3] < 0.95).any(axis=-1).sum())
    assert not_white > 0.02 * 400 * 800
    for name in ("train", "val"):
        assert colour_pixels(pixels, COLORS[name]) > 200, name
    small = decode(loss_curve_png(summary_event("completed").details, width_px=640, height_px=320))
    assert (320, 640) == small.shape[:2]


def test_markers_are_labelled_with_kind_and_severity() -> None:
    """Each alert kind and severity has its own legend entry."""
    texts = legend_texts(summary_event("crashed").details)
    assert "spike (warning)" in texts and "crash (critical)" in texts
    assert {"loss", "val_loss", "batch loss", "best"} <= set(texts)


def test_nan_stretch_is_shaded_and_labelled() -> None:
    """A run whose last epoch is NaN gets a labelled, shaded span there (not a blank gap)."""
    details = summary_event("diverged").details
    data = CurveData(details)
    assert data.nan_spans and data.nan_spans[-1][0] <= 12 <= data.nan_spans[-1][1] + 1e-9
    assert NAN_LABEL in legend_texts(details)
    fig = loss_curve_figure(details)
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())  # type: ignore[attr-defined]
    ax = fig.axes[0]
    x_nan, _ = ax.transData.transform((11.5, 1.0))
    x_clean, _ = ax.transData.transform((6.5, 1.0))
    top, bottom = (fig.bbox.height - ax.bbox.y1), (fig.bbox.height - ax.bbox.y0)

    def shaded(x: float) -> int:
        column = pixels[int(top) + 2 : int(bottom) - 2, int(x), :3].astype(int)
        return int((column.min(axis=-1) < 235).sum())

    assert shaded(x_nan) > 0.5 * (bottom - top)  # shaded over most of its height
    assert shaded(x_clean) < 0.2 * (bottom - top)  # elsewhere mostly white


def test_lifecycle_events_are_marked_and_epoch_alerts_drawn_at_their_step() -> None:
    """early_stop, lr_change and checkpoints appear on the curve; a plateau sent with step 0 at
    epoch 7 is drawn at the end of epoch 7, not at x=0."""
    details = golden_combination_summary().details
    texts = legend_texts(details)
    assert {"early_stop", "lr_change", "checkpoint (best)", "plateau (warning)"} <= set(texts)
    data = CurveData(details)
    [(x, kind, severity, _)] = data.markers
    assert ("plateau", "warning") == (kind, severity) and x == pytest.approx(7.0)
    xs = {kind: x for x, kind, _ in data.lifecycle}
    assert xs["early_stop"] == pytest.approx(9.0) and xs["lr_change"] == pytest.approx(5.0)


def test_old_summaries_with_step_zero_epoch_alerts() -> None:
    """A version-1 summary (markers with step 0 at a later epoch) still puts them at the epoch's end."""
    details = {
        "schema": "alertcb.report.tracker/1",
        "steps_per_epoch": 50,
        "epochs": [{"epoch": i, "metrics": {"loss": 1 / (i + 1)}} for i in range(10)],
        "markers": [
            {"kind": "plateau", "severity": "warning", "epoch": 5, "step": 0},
            {"kind": "spike", "severity": "critical", "epoch": 2, "step": 130},
        ],
    }
    data = CurveData(details)
    assert [6.0, pytest.approx(131 / 50)] == [x for x, *_ in data.markers]


@pytest.mark.parametrize(
    "details",
    [
        {},
        {"epochs": [{"epoch": 0, "metrics": {"loss": math.nan}}]},
        {"epochs": [{"epoch": 0, "metrics": {"loss": 1.0, "val_loss": 2.0}}]},
        {"epochs": [{"epoch": i, "metrics": {"loss": v}} for i, v in enumerate((-3.0, 0.0, 5e9, "Infinity"))]},
        {"epochs": [{"epoch": i, "metrics": {"loss": 10.0**-i}} for i in range(12)]},
        {"batch_loss": {"stride": 4, "steps": [0, 4, 8], "values": [1.0, None, 0.5]}, "markers": [{"step": 5}]},
        {"epochs": "garbage", "markers": "x", "batch_loss": 3, "monitor": {"best_epoch": "a"}, "timeline": 2},
    ],
)
def test_odd_data_still_gives_a_picture(details: dict[str, Any]) -> None:
    """Empty, NaN-only, single-point, negative, huge and malformed data still give a valid PNG."""
    assert (200, 300) == decode(loss_curve_png(details, width_px=300, height_px=200)).shape[:2]


def test_bad_sizes_name_the_field() -> None:
    with pytest.raises(ConfigError, match="width_px"):
        loss_curve_png({}, width_px=10)
    with pytest.raises(ConfigError, match="height_px"):
        loss_curve_png({}, height_px=True)  # type: ignore[arg-type]


def test_import_alertcb_loads_neither_matplotlib_nor_tensorflow() -> None:
    """Importing alertcb and its report modules never imports matplotlib, pyplot or TensorFlow."""
    code = (
        "import sys, alertcb, alertcb.report.tracker, alertcb.report.plot, alertcb.report.artifacts,"
        " alertcb.report.digest, alertcb.report.replay\n"
        "bad = [m for m in ('matplotlib', 'tensorflow', 'keras') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_drawing_on_a_thread_never_touches_pyplot() -> None:
    """Drawing from a background thread (as the dispatcher does) uses Figure + Agg, never pyplot."""
    code = (
        "import sys, threading\n"
        "from alertcb.report.plot import loss_curve_png\n"
        "out = []\n"
        "details = {'epochs': [{'epoch': i, 'metrics': {'loss': 1 / (i + 1)}} for i in range(5)]}\n"
        "t = threading.Thread(target=lambda: out.append(loss_curve_png(details)))\n"
        "t.start(); t.join()\n"
        "assert out and out[0][:4] == b'\\x89PNG'\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_concurrent_drawing() -> None:
    """No shared state: parallel drawings equal the serial one."""
    details = summary_event("completed").details
    expected = loss_curve_png(details)
    results: list[bytes] = []
    threads = [threading.Thread(target=lambda: results.append(loss_curve_png(details))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [expected] * 3 == results
