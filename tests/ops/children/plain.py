"""Children without alertcb: ``python plain.py MODE`` (sigkill, segv, abort, exit3, raise, term, sleep)."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time

mode = sys.argv[1]
sys.stderr.write(f"child {mode} starting, pid {os.getpid()}\n")
sys.stderr.write(f"a log line quoting the hook: {os.environ.get('CHILD_LEAK', '')}\n")
sys.stderr.flush()
if mode == "sigkill":
    os.kill(os.getpid(), signal.SIGKILL)
elif mode == "segv":
    ctypes.string_at(0)
elif mode == "abort":
    os.abort()
elif mode == "exit3":
    sys.stderr.write("giving up without an exception\n")
    sys.exit(3)
elif mode == "raise":
    raise ValueError("bad shard 17")
elif mode == "term":
    def on_term(signum: int, frame: object) -> None:
        sys.stderr.write("child got SIGTERM, saving\n")
        sys.stderr.flush()
        sys.exit(143)

    signal.signal(signal.SIGTERM, on_term)
    print("ready", flush=True)
    time.sleep(60)
elif mode == "sleep":
    print("ready", flush=True)
    time.sleep(float(sys.argv[2]) if len(sys.argv) > 2 else 60)
elif mode == "ok":
    print("done", flush=True)
