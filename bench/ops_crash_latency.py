"""SIGKILL -> crash alert latency under ``alertcb run`` (issue 15: "within 2 s of the death").

Each trial starts ``alertcb run -- python -c <child>`` with a loopback webhook as the only
configured channel. The child writes its wall-clock time to stderr and SIGKILLs itself; the
receiver stamps the arrival of the crash notification. Latency = arrival - death.

Run: ``python -m bench.ops_crash_latency [--trials 10]``.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from bench._common import ROOT, median, quantile

CHILD = (
    "import os, signal, sys, time\n"
    "sys.stderr.write(f'dying at {time.time():.6f}\\n'); sys.stderr.flush()\n"
    "os.kill(os.getpid(), signal.SIGKILL)\n"
)


class _Hook(http.server.BaseHTTPRequestHandler):
    arrivals: list[tuple[float, Any]] = []

    def do_POST(self) -> None:
        now = time.time()
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        self.arrivals.append((now, body))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


def trial(url: str, root: str) -> float:
    start = len(_Hook.arrivals)
    env = dict(os.environ, ALERTCB_WEBHOOK_URL=url, ALERTCB_RUN_DIR=root, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "alertcb", "run", "--", sys.executable, "-c", CHILD],
                          env=env, capture_output=True, text=True, timeout=60)
    match = re.search(r"dying at ([0-9.]+)", done.stderr)
    if done.returncode != 137 or match is None:
        raise RuntimeError(f"unexpected child: {done.returncode} {done.stderr[-300:]}")
    arrived = [t for t, body in _Hook.arrivals[start:]
               if any(e.get("kind") == "crash" for e in body.get("events", []))]
    if len(arrived) != 1:
        raise RuntimeError(f"expected one crash alert, got {len(arrived)}")
    return arrived[0] - float(match.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    with tempfile.TemporaryDirectory() as root:
        latencies = sorted(trial(url, root) for _ in range(args.trials))
    server.shutdown()
    result = {"trials": args.trials, "median_s": median(latencies), "p95_s": quantile(latencies, 0.95),
              "max_s": latencies[-1], "target_s": 2.0}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"SIGKILL -> crash alert at the webhook over {args.trials} trials: median {result['median_s']:.3f} s, "
              f"p95 {result['p95_s']:.3f} s, max {result['max_s']:.3f} s (target <= 2 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
