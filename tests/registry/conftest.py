"""A real MLflow tracking server on loopback (one per test session) and a gate in front of it.

``mlflow server --backend-store-uri sqlite:///… --artifacts-destination …`` needs the full
``mlflow`` package (the ``test`` extra installs it); without the binary the tests that need
the server are skipped, saying so.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: How long the server may take to answer /health (about 6 s on an idle machine, 20 s on a busy one).
START_TIMEOUT_S = 180.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MlflowServer:
    """A running ``mlflow server`` (its URL, folders and a client)."""

    def __init__(self, root: Path, exe: str) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = root / "server.log"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [exe, "server", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
                 "--artifacts-destination", str(root / "artifacts"),
                 "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"],
                cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def wait_healthy(self) -> None:
        import httpx

        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited {self.proc.returncode}: {self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"mlflow server not healthy after {START_TIMEOUT_S} s: {self.log_tail()}")

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-2000:]

    def client(self) -> Any:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.url, registry_uri=self.url)

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)  # the group this fixture started (uvicorn + job runner)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


def mlflow_exe() -> str | None:
    return shutil.which("mlflow", path=str(Path(sys.executable).parent)) or shutil.which("mlflow")


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """One real MLflow server for the session (sqlite backend, proxied artifacts)."""
    exe = mlflow_exe()
    if exe is None:
        pytest.skip('the mlflow binary is not installed (pip install "alertcb[test]" installs it)')
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"), exe)
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


class Gate:
    """A loopback port that refuses connections until `open`, then forwards to ``upstream``.

    The registry is pointed at the gate: while it is closed the server is down as a client
    sees it (connection refused), and once open it is the real server.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections = 0
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def open(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        sock.settimeout(0.1)
        self._sock = sock
        self._start(self._accept)

    def _start(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                client, _ = self._sock.accept()
            except OSError:
                continue
            self.connections += 1
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
            except OSError:
                client.close()
                continue
            self._start(self._pump, client, upstream)
            self._start(self._pump, upstream, client)

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        src.settimeout(None)
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._stop.set()
        if self._sock is not None:
            self._sock.close()


@pytest.fixture
def gate(mlflow_server: MlflowServer) -> Iterator[Gate]:
    """A closed `Gate` in front of the session's MLflow server."""
    g = Gate(mlflow_server.port)
    yield g
    g.close()
