"""The alert email's HTML in a real headless Chromium: it renders, and the severity icon shows in colour.

CI installs an emoji font (Debian ``fonts-noto-color-emoji``); without one the icon is a
blank box and the colour check fails, as it should.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from alertcb.channels import Email
from alertcb.channels.base import SendContext
from alertcb.render import Renderer

from .alerts import hang, note

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [
    pytest.mark.chromium,
    pytest.mark.skipif(CHROMIUM is None, reason="needs a headless chromium (Debian package 'chromium')"),
]


def _screenshot(html: str, folder: Path, name: str) -> Path:
    """Chromium started as in tests/reports/test_browser.py; returns the PNG."""
    assert CHROMIUM is not None
    page, shot = folder / f"{name}.html", folder / f"{name}.png"
    page.write_text(html, encoding="utf-8")
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
        f"--user-data-dir={folder / 'profile'}", "--window-size=900,900", f"--screenshot={shot}", page.as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
    assert shot.is_file(), result.stderr[-2000:]
    return shot


def _email_html() -> str:
    ctx = SendContext(None, Renderer(link_url="https://dash.example/run/42", run_dir="/runs/exp42").render, 5.0)
    msg = Email(host="127.0.0.1", sender="ml@example.com", to=["oncall@example.com"], security="none").build_message(
        note(hang()), ctx
    )
    part = msg.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def _red_pixels(path: Path) -> int:
    """Pixels of the red of 🔴 (the critical icon): strongly red, little green and blue."""
    from PIL import Image

    with Image.open(path) as image:
        rgb = image.convert("RGB")
        return sum(1 for r, g, b in rgb.getdata() if r > 180 and g < 110 and b < 110)


def test_email_html_screenshot_is_drawn_with_its_severity_icon(tmp_path: Path) -> None:
    """The screenshot is a real picture (many colours), and 🔴 adds red pixels beyond the red border."""
    from PIL import Image

    html = _email_html()
    assert "🔴" in html
    with_icon = _screenshot(html, tmp_path, "alert")
    without_icon = _screenshot(html.replace("🔴", ""), tmp_path, "alert-no-icon")
    with Image.open(with_icon) as image:
        assert (900, 900) == image.size
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) > 50  # text, code blocks, border: not blank
    icon_pixels = _red_pixels(with_icon) - _red_pixels(without_icon)
    assert icon_pixels > 80, f"the 🔴 icon drew {icon_pixels} red pixels (is an emoji font installed?)"
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(with_icon, ARTIFACTS / "email-alert.png")
    (ARTIFACTS / "email-alert.html").write_text(html, encoding="utf-8")
