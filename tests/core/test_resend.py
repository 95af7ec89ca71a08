"""Re-sending destinations (Alertmanager): firing alerts are refreshed, resolves repeated a few times."""

from __future__ import annotations

import json
import time
from pathlib import Path

from pytest_httpserver import HTTPServer

from alertcb import Event, Notifier
from alertcb.channels import Alertmanager
from alertcb.delivery.dispatcher import RESOLVE_RESENDS


def test_firing_is_refreshed_until_resolved_then_resolve_repeats(httpserver: HTTPServer, tmp_path: Path) -> None:
    """A firing alert is re-sent every resend_interval_s; after the resolve, the resolve is re-sent
    RESOLVE_RESENDS times and then nothing more."""
    httpserver.expect_request("/api/v2/alerts", method="POST").respond_with_data("", status=200)
    channel = Alertmanager(urls=[httpserver.url_for("/")], resend_interval_s=0.3)
    notifier = Notifier([channel], run_name="t", run_dir=tmp_path, group_wait_s=0)
    nan = Event(kind="nonfinite", title="loss is NaN", severity="critical")
    notifier.emit(nan)
    time.sleep(1.1)
    firing_posts = len(httpserver.log)
    assert firing_posts >= 3  # the first send and at least two refreshes
    notifier.emit(Event(kind="nonfinite", title="loss is NaN", severity="critical", status="resolved"))
    time.sleep(0.3 * (RESOLVE_RESENDS + 2))
    after_resolve = len(httpserver.log) - firing_posts
    time.sleep(0.7)
    notifier.close()
    assert after_resolve == 1 + RESOLVE_RESENDS
    assert len(httpserver.log) - firing_posts == 1 + RESOLVE_RESENDS  # and then silence
    bodies = [json.loads(r.get_data())[0] for r, _ in httpserver.log]
    assert all(b["labels"]["kind"] == "nonfinite" for b in bodies)
    assert bodies[0]["endsAt"] > bodies[0]["startsAt"]  # a lease in the future
    assert bodies[-1]["endsAt"] <= time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z"
