"""Re-sending destinations (Alertmanager): firing alerts are refreshed, resolves repeated a few times.

Time is a `ManualClock`: the test moves it forward instead of sleeping.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from pytest_httpserver import HTTPServer

from alertcb import Event, Notifier
from alertcb.channels import Alertmanager
from alertcb.clock import ManualClock
from alertcb.delivery.resend import RESOLVE_RESENDS
from tests.conftest_services import wait_for


def test_firing_is_refreshed_until_resolved_then_resolve_repeats(httpserver: HTTPServer, tmp_path: Path) -> None:
    """A firing alert is re-sent every resend_interval_s; after the resolve, the resolve is re-sent
    RESOLVE_RESENDS times and then nothing more."""
    httpserver.expect_request("/api/v2/alerts", method="POST").respond_with_data("", status=200)
    clock = ManualClock()
    channel = Alertmanager(urls=[httpserver.url_for("/")], resend_interval_s=60)
    notifier = Notifier([channel], run_name="t", run_dir=tmp_path, group_wait_s=0, clock=clock)
    lane = notifier._dispatcher.lanes[0]

    def posts() -> int:
        return len(httpserver.log)

    def settle(expected: int) -> None:
        assert wait_for(lambda: posts() >= expected and not lane.in_flight and not lane.queue, 10)
        assert posts() == expected

    notifier.emit(Event(kind="nonfinite", title="loss is NaN", severity="critical"))
    settle(1)
    clock.advance(59)
    time.sleep(0.2)  # a chance to send something that is not due yet (it must not)
    assert posts() == 1
    for refresh in (2, 3):
        clock.advance(60)
        settle(refresh)
    notifier.emit(Event(kind="nonfinite", title="loss is NaN", severity="critical", status="resolved"))
    settle(4)
    for k in range(RESOLVE_RESENDS):
        clock.advance(60)
        settle(5 + k)
    clock.advance(600)
    time.sleep(0.3)
    assert posts() == 4 + RESOLVE_RESENDS  # and then silence
    notifier.close()
    bodies = [json.loads(r.get_data())[0] for r, _ in httpserver.log]
    assert all(b["labels"]["kind"] == "nonfinite" for b in bodies)
    assert bodies[0]["endsAt"] > bodies[0]["startsAt"]  # a lease in the future
    assert notifier.stats()["destinations"]["alertmanager"]["resent"] == 2 + RESOLVE_RESENDS
