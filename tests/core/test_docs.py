"""Docs stay true to the code."""

from __future__ import annotations

from pathlib import Path

from alertcb.config import channel_fields, channel_types, notifier_fields

ROOT = Path(__file__).resolve().parents[2]


def test_configuration_reference_lists_every_field() -> None:
    """docs/configuration.md names every Notifier option and every channel field."""
    text = (ROOT / "docs" / "configuration.md").read_text()
    missing = [f for f in notifier_fields() if f"`{f}`" not in text]
    for kind, cls in channel_types().items():
        assert f'type = "{kind}"' in text
        missing += [f"{kind}.{f}" for f in channel_fields(cls) if f"`{f}`" not in text]
    assert not missing


def test_wheel_ships_the_templates(tmp_path: Path) -> None:
    """A built wheel contains alertcb/templates, so a plain pip install can render."""
    import subprocess
    import sys
    import zipfile

    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("alertcb-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {p.relative_to(ROOT).as_posix() for p in (ROOT / "alertcb" / "templates").rglob("*.j2")}
    assert shipped and shipped <= names
