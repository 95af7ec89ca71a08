"""Issue 13: incidents emitted / named / summarized / lost per destination, and duplicates.

Loopback stand-ins from tests/conftest_services.py enforce each service's documented limits
(WeCom 20 messages/min and 4096 bytes, Slack 50 blocks and ~1 message/s with 429 +
Retry-After, PagerDuty payload rules and its rate window). One Notifier sends a burst of
30 + 300 distinct critical incidents to a healthy webhook, WeCom, Slack and PagerDuty at
once; then a recovery case: 250 rows left in the outbox by a dead process are re-delivered.

For every destination the receiver's side is counted from what the stand-in *accepted*:
``named`` = distinct incidents whose title appears in an accepted message, ``summarized`` =
the sum of "+N more distinct incidents not named here" counts, ``lost`` = emitted − named −
summarized (must be 0), ``duplicates`` = accepted titles beyond the first for one incident.
``stats()`` is printed beside it (its ``delivered`` must equal the messages accepted).

PagerDuty runs with ``rate_limit_per_min=1200`` (and a stand-in window of 1200/min) so the
330 pages take ~17 s rather than 165 s at the default 120/min; nothing else changes.

Run: python -m bench.honest_delivery [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from alertcb import Event, Notifier
from alertcb.channels import PagerDuty, Slack, Webhook, WeCom
from alertcb.delivery.outbox import Outbox
from alertcb.notification import Notification
from bench._common import md_table
from tests.conftest_services import (
    PD_ROUTING_KEY,
    SLACK_TOKEN,
    WECOM_KEY,
    PagerDutyStandIn,
    Receiver,
    SlackStandIn,
    WeComStandIn,
)

TITLE = re.compile(r"incident (\d+)")
UNNAMED = re.compile(r"\+([\d,]+) more distinct incidents? not named")


def texts(name: str, server: Any) -> list[str]:
    if name == "webhook":
        return [" ".join(e["title"] for e in r.json()["events"]) + " " + r.json()["text"] for r in server.accepted]
    if name == "wecom":
        return [b["markdown"]["content"] for b in server.accepted]
    if name == "slack":
        return [" ".join(b["text"]["text"] for b in body["blocks"]) for body in server.accepted]
    return [b["payload"]["summary"] for b in server.accepted]


def count(name: str, server: Any, emitted: int, stats: dict[str, Any]) -> list[Any]:
    messages = texts(name, server)
    seen: Counter[int] = Counter()
    for text in messages:
        seen.update(set(int(m) for m in TITLE.findall(text)))
    if name == "webhook":  # the JSON events and the text both name each incident once per message
        pass
    summarized = sum(int(m.replace(",", "")) for t in messages for m in UNNAMED.findall(t))
    named = len(seen)
    duplicates = sum(c - 1 for c in seen.values())
    return [
        name, emitted, named, summarized, emitted - named - summarized, duplicates, len(messages),
        stats["delivered"], stats["incidents_named"], stats["incidents_summarized"], stats["coalesced"], stats["enqueued"],
    ]


HEADERS = [
    "destination", "emitted", "named", "summarized", "lost", "duplicates", "messages accepted",
    "stats delivered", "stats named", "stats summarized", "stats coalesced", "stats enqueued",
]


def burst(root: Path) -> tuple[list[list[Any]], float]:
    servers: dict[str, Any] = {
        "webhook": Receiver(),
        "wecom": WeComStandIn(WECOM_KEY),
        "slack": SlackStandIn(SLACK_TOKEN),
        "pagerduty": PagerDutyStandIn(PD_ROUTING_KEY, rate_limit=1200),
    }
    for s in servers.values():
        s.start()
    try:
        channels = [
            Webhook(url=servers["webhook"].url),
            WeCom(webhook_url=servers["wecom"].url + f"?key={WECOM_KEY}"),
            Slack(webhook_url=servers["slack"].url),
            PagerDuty(routing_key=PD_ROUTING_KEY, url=servers["pagerduty"].url, rate_limit_per_min=1200),
        ]
        notifier = Notifier(channels, run_name="burst", run_dir=root, console=False, group_wait_s=0)
        t0 = time.monotonic()
        for i in range(30):
            notifier.emit(Event(kind="custom", title=f"incident {i}", severity="critical"))
        time.sleep(0.5)
        for i in range(30, 330):
            notifier.emit(Event(kind="custom", title=f"incident {i}", severity="critical"))
        left = notifier.flush(180)
        elapsed = time.monotonic() - t0
        notifier.close()
        assert left == 0, left
        stats = notifier.stats()["destinations"]
        return [count(n, servers[n], 330, stats[n]) for n in servers], elapsed
    finally:
        for s in servers.values():
            s.stop()


def recovery(root: Path) -> tuple[list[list[Any]], float]:
    servers: dict[str, Any] = {"webhook": Receiver(), "pagerduty": PagerDutyStandIn(PD_ROUTING_KEY, rate_limit=1200)}
    for s in servers.values():
        s.start()
    try:
        path = root / "outbox.sqlite3"
        dead = Outbox(path, owner="dead")
        created = time.time() - 3 * 3600
        notes = [
            Notification(events=(Event(kind="custom", title=f"incident {i}", severity="critical"),), created=created)
            for i in range(250)
        ]
        dead.add_many([(n, ["webhook", "pagerduty"]) for n in notes])
        dead.release()
        dead.close()
        channels = [
            Webhook(url=servers["webhook"].url),
            PagerDuty(routing_key=PD_ROUTING_KEY, url=servers["pagerduty"].url, rate_limit_per_min=1200),
        ]
        t0 = time.monotonic()
        notifier = Notifier(channels, run_name="recover", run_dir=root, outbox=path, console=False)
        left = notifier.flush(120)
        elapsed = time.monotonic() - t0
        notifier.close()
        assert left == 0, left
        stats = notifier.stats()["destinations"]
        late = sum("delayed 3 h: sent after the process that raised it died" in r.json()["text"] for r in servers["webhook"].accepted)
        assert late == 250, late
        return [count(n, servers[n], 250, stats[n]) for n in servers], elapsed
    finally:
        for s in servers.values():
            s.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows_b, t_b = burst(Path(tmp) / "b")
        rows_r, t_r = recovery(Path(tmp) / "r")
    print(f"### Burst: 30 + 300 distinct critical incidents, all destinations at once ({t_b:.1f} s to deliver)\n")
    print(md_table(HEADERS, rows_b))
    print(f"\n### Recovery: 250 rows left by a dead process, 3 h old ({t_r:.1f} s to re-deliver)\n")
    print(md_table(HEADERS, rows_r))
    if args.json:
        Path(args.json).write_text(json.dumps({"burst": rows_b, "recovery": rows_r, "seconds": [t_b, t_r]}, indent=1))


if __name__ == "__main__":
    main()
