"""The CLI: --version, send-test (delivered / redacted reason per channel)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from pytest_httpserver import HTTPServer

import alertcb


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "alertcb", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=60)


def test_version() -> None:
    """`alertcb --version` prints the package version."""
    assert run("--version").stdout.strip() == f"alertcb {alertcb.__version__}"


def test_send_test_reports_each_channel_without_secrets(httpserver: HTTPServer, tmp_path: Path, canary: str) -> None:
    """send-test delivers to a live webhook and names the dead one's failure, redacted; exit 1."""
    httpserver.expect_request(f"/hook/{canary}", method="POST").respond_with_data("ok")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    config = tmp_path / "alertcb.toml"
    config.write_text(
        f"""
[alertcb]
attempt_timeout_s = 1
deadline_s = 2
retry_base_s = 0.2

[channels.live]
type = "webhook"
url = "{httpserver.url_for('/hook/' + canary)}"

[channels.dead]
type = "webhook"
url = "http://127.0.0.1:{dead_port}/hook?token={canary}"
"""
    )
    result = run("send-test", "--config", str(config), "--timeout", "10")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "live: delivered" in result.stdout
    assert "dead: NOT delivered (ConnectError" in result.stdout
    assert canary not in output
    (request, _), = httpserver.log
    assert request.json["events"][0]["kind"] == "test"
    only = run("send-test", "--config", str(config), "--channel", "live")
    assert only.returncode == 0 and only.stdout.strip() == "live: delivered"
    assert run("send-test", "--config", str(config), "--channel", "nope").returncode == 2
