"""report.html in a real headless Chromium: the picture loads and the key numbers show."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from alertcb.filters import fmt_number
from alertcb.render import Renderer
from alertcb.report.artifacts import build_report

from .helpers import summary_event

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [
    pytest.mark.chromium,
    pytest.mark.skipif(CHROMIUM is None, reason="needs a headless chromium (Debian package 'chromium')"),
]

PROBE = """
<script>
window.addEventListener("load", function () {
  var img = document.getElementById("loss-curve");
  var out = document.createElement("div");
  out.id = "probe";
  out.setAttribute("data-natural-width", img ? String(img.naturalWidth) : "-1");
  out.setAttribute("data-complete", img ? String(img.complete) : "false");
  out.setAttribute("data-text", document.body.innerText.replace(/\\s+/g, " "));
  document.body.appendChild(out);
});
</script>
"""


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("run")
    build_report(summary_event("crashed"), Renderer(), folder)
    return folder


def test_report_html_loads_its_picture_and_shows_the_numbers(report_dir: Path, tmp_path: Path) -> None:
    """Through the DOM: the loss curve decoded (naturalWidth > 0); status, epochs and best value are shown."""
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    probe_copy = tmp_path / "report-probe.html"
    probe_copy.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    result = _chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom", probe_copy.as_uri())
    match = re.search(
        r'<div id="probe" data-natural-width="(-?\d+)" data-complete="(\w+)" data-text="([^"]*)"',
        result.stdout,
    )
    assert match, result.stdout[-2000:] + result.stderr[-2000:]
    width, complete, text = int(match.group(1)), match.group(2), match.group(3)
    assert width > 0 and "true" == complete
    event = summary_event("crashed")
    best = event.details["monitor"]
    for needle in (
        "training crashed",
        "8/12",
        "exp42",
        fmt_number(best["best_value"]),
        f"at epoch {best['best_epoch'] + 1}",
        "ValueError",
    ):
        assert needle in text, needle


def test_report_screenshot_artifact(report_dir: Path, tmp_path: Path) -> None:
    """A screenshot of report.html is saved to test-artifacts/ for people to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    result = _chromium(
        tmp_path, "--window-size=1000,1600", f"--screenshot={shot}", (report_dir / "report.html").as_uri()
    )
    assert shot.is_file(), result.stderr[-2000:]
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 10_000
    shutil.copy(report_dir / "report.html", ARTIFACTS / "report.html")


def _screenshot(tmp_path: Path, html: str, name: str) -> Any:
    """A 1000x1400 screenshot of ``html`` in headless Chromium, as an RGB array."""
    from matplotlib.image import imread

    page = tmp_path / f"{name}.html"
    page.write_text(html, encoding="utf-8")
    shot = tmp_path / f"{name}.png"
    result = _chromium(tmp_path, "--window-size=1000,1400", f"--screenshot={shot}", page.as_uri())
    assert shot.is_file(), result.stderr[-2000:]
    return imread(str(shot))[..., :3]


def test_screenshot_shows_the_severity_icons_in_colour(report_dir: Path, tmp_path: Path) -> None:
    """The severity and status icons (🟠 spike, 🔴 crash, 💥 crashed) render as colour emoji.

    Compared with the same page where each icon is replaced by a plain "○" (same place, no
    colour), the screenshot has orange and red pixels that only the emoji can account for; a
    missing emoji font (tofu boxes, monochrome fallbacks) fails this. CI installs
    fonts-noto-color-emoji for it.
    """
    import numpy as np

    html = (report_dir / "report.html").read_text(encoding="utf-8")
    icons = ("🟠", "🔴", "💥")
    for icon in icons:
        assert icon in html
    plain = html
    for icon in icons:
        plain = plain.replace(icon, "○")
    with_icons = _screenshot(tmp_path, html, "icons")
    without = _screenshot(tmp_path, plain, "plain")
    assert with_icons.shape == without.shape
    changed = np.abs(with_icons - without).max(axis=-1) > 0.1
    r, g, b = (with_icons[..., i] for i in range(3))
    saturated = (np.max(with_icons, axis=-1) - np.min(with_icons, axis=-1)) > 0.4
    orange = changed & saturated & (r > 0.8) & (g > 0.35) & (g < 0.8) & (b < 0.35)
    red = changed & saturated & (r > 0.65) & (g < 0.35) & (b < 0.35)
    assert int(orange.sum()) > 40, int(orange.sum())
    assert int(red.sum()) > 40, int(red.sum())
    ARTIFACTS.mkdir(exist_ok=True)
    from matplotlib.image import imsave

    imsave(ARTIFACTS / "report-icons.png", with_icons)
