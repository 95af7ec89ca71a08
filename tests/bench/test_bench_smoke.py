"""Smoke test of the benchmark runner: it runs and writes results of the documented shape (no timings asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_startup_benchmark_writes_summary_and_report(tmp_path: Path) -> None:
    """`python -m bench --quick --only startup` prints its tables and writes summary.json, report.md, raw JSON."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "startup", "--results", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert 0 == proc.returncode, proc.stderr
    assert "## Summary" in proc.stdout
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert {"machine", "revision", "command", "headline", "failed", "seconds"} <= set(summary)
    assert [] == summary["failed"]
    assert {"cpu", "cores", "python", "versions", "loadavg"} <= set(summary["machine"])
    whats = [row["what"] for row in summary["headline"]]
    assert any("import alertcb" in w for w in whats)
    assert all({"what", "value", "target", "met"} == set(row) for row in summary["headline"])
    raw = json.loads((tmp_path / "startup.raw.json").read_text())
    assert {"python -c pass", "python -c 'import alertcb'", "alertcb --version"} <= set(raw["commands"])
    assert all(c["median_ms"] > 0 for c in raw["commands"].values())
    assert (tmp_path / "report.md").read_text().count("|---|") >= 3


def test_unknown_benchmark_is_refused() -> None:
    """An unknown name in --only is a usage error naming the choices."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "nope"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert 2 == proc.returncode
    assert "startup" in proc.stderr
