"""The loss-curve PNG: valid files from both renderers, lazy matplotlib, no pyplot."""

from __future__ import annotations

import math
import struct
import subprocess
import sys
import threading
import zlib
from typing import Any

import pytest

from alertcb.errors import ConfigError
from alertcb.report.plot import _INDEX, loss_curve_png, nice_ticks

from .helpers import summary_event

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_png(data: bytes) -> dict[str, Any]:
    """Parse a PNG: check every CRC; return the header and (for 8-bit palette images) the pixels."""
    assert data.startswith(PNG_SIGNATURE)
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        chunks.append((kind, body))
        pos += 12 + length
    assert b"IEND" == chunks[-1][0]
    width, height, depth, color_type = struct.unpack(">IIBB", chunks[0][1][:10])
    out: dict[str, Any] = {"width": width, "height": height, "color_type": color_type}
    if color_type == 3 and depth == 8:
        raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
        assert len(raw) == height * (width + 1)
        rows = [raw[y * (width + 1) + 1 : (y + 1) * (width + 1)] for y in range(height)]
        assert all(raw[y * (width + 1)] == 0 for y in range(height))
        out["pixels"] = b"".join(rows)
    return out


def test_builtin_png_draws_the_curves_and_markers() -> None:
    """The builtin renderer writes a valid 800x400 PNG with train, val, batch and alert colours in it."""
    png = loss_curve_png(summary_event("completed").details, backend="builtin")
    info = read_png(png)
    assert (800, 400, 3) == (info["width"], info["height"], info["color_type"])
    counts = {name: info["pixels"].count(bytes([index])) for name, index in _INDEX.items()}
    for name in ("train", "val", "batch", "warning", "text", "info"):
        assert counts[name] > 50, (name, counts)
    assert counts["critical"] == 0  # the only alert is a warning


def test_builtin_is_deterministic() -> None:
    """Same details, same bytes (golden-friendly, cache-friendly)."""
    details = summary_event("crashed").details
    assert loss_curve_png(details, backend="builtin") == loss_curve_png(details, backend="builtin")


@pytest.mark.parametrize(
    "details",
    [
        {},
        {"epochs": [{"epoch": 0, "metrics": {"loss": math.nan}}]},
        {"epochs": [{"epoch": 0, "metrics": {"loss": 1.0, "val_loss": 2.0}}]},
        {
            "epochs": [
                {"epoch": i, "metrics": {"loss": v}} for i, v in enumerate((-3.0, 0.0, 5e9, "Infinity"))
            ]
        },
        {"epochs": [{"epoch": i, "metrics": {"loss": 10.0**-i}} for i in range(12)]},
        {
            "batch_loss": {"stride": 4, "steps": [0, 4, 8], "values": [1.0, None, 0.5]},
            "markers": [{"step": 5}],
        },
        {"epochs": "garbage", "markers": "x", "batch_loss": 3, "monitor": {"best_epoch": "a"}},
    ],
)
def test_builtin_survives_odd_data(details: dict[str, Any]) -> None:
    """Empty, NaN-only, single-point, negative, huge and malformed data still give a valid PNG."""
    info = read_png(loss_curve_png(details, backend="builtin", width_px=300, height_px=200))
    assert (300, 200) == (info["width"], info["height"])


def test_matplotlib_png() -> None:
    """The matplotlib renderer gives a PNG of the requested size."""
    pytest.importorskip("matplotlib")
    info = read_png(
        loss_curve_png(summary_event("diverged").details, backend="matplotlib", width_px=640, height_px=320)
    )
    assert (640, 320) == (info["width"], info["height"])


def test_auto_falls_back_without_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    """With matplotlib unimportable, "auto" draws the builtin picture; "matplotlib" raises ImportError."""
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    details = summary_event("completed").details
    assert loss_curve_png(details) == loss_curve_png(details, backend="builtin")
    with pytest.raises(ImportError):
        loss_curve_png(details, backend="matplotlib")


def test_bad_arguments_name_the_field() -> None:
    """Unknown backends and silly sizes raise ConfigError naming the argument."""
    with pytest.raises(ConfigError, match="backend"):
        loss_curve_png({}, backend="svg")
    with pytest.raises(ConfigError, match="width_px"):
        loss_curve_png({}, width_px=10)


def test_nice_ticks() -> None:
    """Tick values are round numbers covering the range."""
    assert [0.0, 0.2, 0.4, 0.6, 0.8, 1.0] == nice_ticks(0.0, 1.0, 5)
    assert [10.0, 20.0, 30.0] == nice_ticks(7.0, 31.0, 3)


def test_import_alertcb_loads_neither_matplotlib_nor_tensorflow() -> None:
    """Importing alertcb and its report modules never imports matplotlib, pyplot or TensorFlow."""
    code = (
        "import sys, alertcb, alertcb.report.tracker, alertcb.report.plot, alertcb.report.artifacts, alertcb.report.digest\n"
        "bad = [m for m in ('matplotlib', 'tensorflow', 'keras') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_matplotlib_on_a_thread_never_touches_pyplot() -> None:
    """Drawing from a background thread (as the dispatcher does) uses Figure + Agg, never pyplot."""
    pytest.importorskip("matplotlib")
    code = (
        "import sys, threading\n"
        "from alertcb.report.plot import loss_curve_png\n"
        "out = []\n"
        "details = {'epochs': [{'epoch': i, 'metrics': {'loss': 1 / (i + 1)}} for i in range(5)]}\n"
        "t = threading.Thread(target=lambda: out.append(loss_curve_png(details, backend='matplotlib')))\n"
        "t.start(); t.join()\n"
        "assert out and out[0][:4] == b'\\x89PNG'\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_concurrent_builtin_drawing() -> None:
    """The builtin renderer keeps no shared state: parallel drawings equal the serial one."""
    details = summary_event("completed").details
    expected = loss_curve_png(details, backend="builtin")
    results: list[bytes] = []
    threads = [
        threading.Thread(target=lambda: results.append(loss_curve_png(details, backend="builtin")))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [expected] * 3 == results
