"""Shared helpers for ``python -m bench``: interleaving, statistics, tables, loopback servers.

Loopback servers run in a *separate process* (``python -m bench._common --serve MODE``)
so that the process under test holds only the training loop and the library:

- ``hang``: accepts TCP connections and never sends a byte (an HTTP endpoint that
  never answers, or an SMTP server that never sends its banner);
- ``slow``: an HTTP/1.1 server answering every request ``200`` after ``--delay-s``;
- ``fast``: an HTTP/1.1 keep-alive server answering ``200`` at once. It records the
  arrival time (``time.monotonic_ns()``, a system-wide clock on Linux, comparable
  across processes) of every POST and serves them at ``GET /_arrivals``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import os
import platform
import socket
import socketserver
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"


# ---------------------------------------------------------------- statistics
def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of already sorted values."""
    if not sorted_values:
        return float("nan")
    return float(sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))])


def percentiles_us(samples_ns: Sequence[int], qs: Sequence[float] = (0.5, 0.99, 0.999)) -> dict[str, float]:
    """p50/p99/p99.9/max in microseconds of nanosecond samples."""
    s = sorted(samples_ns)
    out = {f"p{q * 100:g}_us": quantile(s, q) / 1000.0 for q in qs}
    out["max_us"] = s[-1] / 1000.0 if s else float("nan")
    return out


def interleave(
    variants: Mapping[str, Callable[[], float]],
    repeats: int,
    *,
    warmup: bool = True,
    warmups: dict[str, float] | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, list[float]]:
    """Run ``A B C … A B C …`` ``repeats`` times (after one unrecorded warm-up round).

    Each callable returns its own measurement (seconds). Returns every sample by variant;
    the warm-up round's values go to ``warmups`` when given.
    """
    samples: dict[str, list[float]] = {name: [] for name in variants}
    rounds = ([-1] if warmup else []) + list(range(repeats))
    for r in rounds:
        for name, run in variants.items():
            value = run()
            if r >= 0:
                samples[name].append(value)
            elif warmups is not None:
                warmups[name] = value
            if log is not None:
                log(f"  {'warm-up' if r < 0 else f'round {r + 1}/{repeats}'}  {name}: {value:.3f}")
    return samples


def cpu_seconds() -> float:
    """User + system CPU time of this process so far (all its threads)."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def ratios_to(samples: Mapping[str, Sequence[float]], baseline: str) -> dict[str, dict[str, Any]]:
    """Per variant: median, min, max, the ratio of medians to ``baseline`` and the median per-round ratio.

    The per-round ratio divides each sample by the baseline sample of the same round
    (interleaved neighbours share the machine's load at that moment).
    """
    base = samples[baseline]
    base_median = median(base)
    out: dict[str, dict[str, Any]] = {}
    for name, values in samples.items():
        paired = [v / b for v, b in zip(values, base, strict=False) if b > 0]
        out[name] = {
            "median_s": median(values),
            "min_s": min(values) if values else float("nan"),
            "max_s": max(values) if values else float("nan"),
            "ratio_of_medians": median(values) / base_median if base_median else float("nan"),
            "ratio_of_minima": min(values) / min(base) if values and base and min(base) > 0 else float("nan"),
            "median_paired_ratio": median(paired),
            "samples_s": list(values),
        }
    return out


# ---------------------------------------------------------------- output
def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            if v != v:  # NaN
                return "–"
            if abs(v) >= 100:
                return f"{v:,.0f}"
            if abs(v) >= 10:
                return f"{v:.1f}"
            return f"{v:.3g}" if abs(v) < 1 else f"{v:.2f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def machine() -> dict[str, Any]:
    """What the numbers were measured on (CPU, cores, memory, Python, library versions, load)."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gib = float("nan")
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    versions: dict[str, str] = {}
    from importlib import metadata

    for dist in ("alertcb", "tensorflow-cpu", "tensorflow", "keras", "httpx", "numpy"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    virt = []
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, timeout=5).stdout.splitlines():
            if line.startswith("Hypervisor vendor"):
                virt.append(line.split(":", 1)[1].strip() + " VM")
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        found = subprocess.run(["systemd-detect-virt", "--container"], capture_output=True, text=True,
                               timeout=5).stdout.strip()
        if found and found != "none":
            virt.append(found + " container")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "virtualization": ", ".join(virt) or "none detected",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": versions,
        "loadavg": loadavg(),
    }


def write_json(name: str, data: Any, *, directory: Path = RESULTS) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def bench_args(description: str | None, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The options every benchmark module accepts: ``--quick`` and ``--json PATH``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--json", type=Path, default=None, help="write the result here")
    parser.add_argument("--repeats", type=int, default=None, help="override the number of interleaved rounds")
    return parser.parse_args(argv)


def finish(args: argparse.Namespace, result: dict[str, Any]) -> None:
    """Print the benchmark's tables and write its JSON (the ``python -m bench.X`` epilogue)."""
    result.setdefault("loadavg_end", loadavg())
    for table in result.get("tables", []):
        print(table + "\n")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")


def quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ and Python start-up chatter (call before importing it)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
    import warnings

    warnings.filterwarnings("ignore")


def quiet_alertcb_logger() -> Any:
    """Send the ``alertcb`` logger (the Console channel's output) to a StringIO; return it."""
    import io
    import logging

    sink = io.StringIO()
    logger = logging.getLogger("alertcb")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.addHandler(logging.StreamHandler(sink))
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return sink


# ---------------------------------------------------------------- loopback servers (child process)
class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else delayed ACKs add ~40 ms per keep-alive request
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, code: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self._headers_buffer.append(b"\r\n" + body)  # type: ignore[attr-defined]  # headers and body in one write
        self.flush_headers()

    def do_GET(self) -> None:
        if self.path == "/_arrivals":
            with self.server.lock:
                arrivals = list(self.server.arrivals)
            out = []
            for t_ns, raw, peer in arrivals:
                title = ""
                events = 0
                with contextlib.suppress(ValueError, KeyError, IndexError, TypeError):
                    doc = json.loads(raw)
                    events = len(doc["events"])
                    title = doc["events"][0]["title"]
                out.append({"t_ns": t_ns, "title": title, "events": events, "bytes": len(raw), "peer": peer})
            self._reply(200, json.dumps(out).encode())
        elif self.path == "/_reset":
            with self.server.lock:
                self.server.arrivals.clear()
            self._reply(200, b"{}")
        else:
            self._reply(200, b"{}")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        t_ns = time.monotonic_ns()
        with self.server.lock:
            self.server.arrivals.append((t_ns, raw, int(self.client_address[1])))
        if self.server.delay_s:
            time.sleep(self.server.delay_s)
        self._reply(200, b'{"ok":true,"errcode":0,"status":"success"}')

    do_PUT = do_POST


class _HTTPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, delay_s: float) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.delay_s = delay_s
        self.lock = threading.Lock()
        self.arrivals: list[tuple[int, bytes, int]] = []


def _serve_hang() -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    print(sock.getsockname()[1], flush=True)
    held = []
    while True:
        conn, _ = sock.accept()
        held.append(conn)  # accepted, never answered, never closed


def _serve(mode: str, delay_s: float) -> None:
    if mode == "hang":
        _serve_hang()
        return
    server = _HTTPServer(delay_s if mode == "slow" else 0.0)
    print(server.server_address[1], flush=True)
    server.serve_forever()


class LoopbackServer:
    """A loopback server in its own process. Use as a context manager.

    Args:
        mode: ``"hang"``, ``"slow"`` or ``"fast"`` (see the module docstring).
        delay_s: the ``slow`` server's answer delay. Defaults to 2.
    """

    def __init__(self, mode: str, delay_s: float = 2.0) -> None:
        self.mode = mode
        self.delay_s = delay_s
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0

    def __enter__(self) -> LoopbackServer:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench._common", "--serve", self.mode, "--delay-s", str(self.delay_s)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def arrivals(self) -> list[dict[str, Any]]:
        import urllib.request

        with urllib.request.urlopen(self.url("/_arrivals"), timeout=30) as response:
            return list(json.loads(response.read()))

    def reset(self) -> None:
        import urllib.request

        with urllib.request.urlopen(self.url("/_reset"), timeout=30) as response:
            response.read()


@contextlib.contextmanager
def servers(*modes: str, delay_s: float = 2.0) -> Iterator[list[LoopbackServer]]:
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(LoopbackServer(m, delay_s)) for m in modes]


def hung_channels(hang: LoopbackServer) -> list[Any]:
    """One channel of every network type, all pointed at ``hang`` (never answers)."""
    from alertcb.channels import Alertmanager, Email, PagerDuty, Slack, Webhook, WeCom

    return [
        Webhook(url=hang.url("/webhook")),
        Slack(webhook_url=hang.url("/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX")),
        WeCom(webhook_url=hang.url("/cgi-bin/webhook/send?key=00000000-0000-0000-0000-000000000000")),
        PagerDuty(routing_key="0" * 32, url=hang.url("/v2/enqueue")),
        Alertmanager(urls=[hang.url("")]),
        Email(host="127.0.0.1", port=hang.port, security="none", sender="bench@example.com", to=["oncall@example.com"]),
    ]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", choices=("hang", "slow", "fast"), required=True)
    parser.add_argument("--delay-s", type=float, default=2.0)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        _serve(args.serve, args.delay_s)


if __name__ == "__main__":
    main()
