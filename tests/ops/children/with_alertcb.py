"""Children with alertcb inside: ``python with_alertcb.py MODE`` (raise, freeze, idle, sigkill_at)."""

from __future__ import annotations

import os
import signal
import sys
import time

import alertcb

mode = sys.argv[1]
notifier = alertcb.Notifier.from_env()
notifier.last_position = (1, 7)
time.sleep(1.5)  # the dispatcher writes its first heartbeat within ~1 s
if mode == "raise":
    with notifier.watch():
        raise RuntimeError("loss exploded in user code")
elif mode == "freeze":  # the whole process stops: the heartbeat goes stale
    print("ready", flush=True)
    os.kill(os.getpid(), signal.SIGSTOP)
elif mode == "idle":  # alive, heartbeat fresh, but the position never moves
    print("ready", flush=True)
    time.sleep(60)
elif mode == "sigkill":
    os.kill(os.getpid(), signal.SIGKILL)
