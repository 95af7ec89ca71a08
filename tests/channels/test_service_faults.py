"""End-to-end fault injection through the `Notifier` against loopback stand-ins.

Per destination: a hang, a connection reset, 500s then recovery, 429 with Retry-After,
and the services' own rate-limit answers for a while (WeCom 45009, DingTalk 130101,
Feishu 11232, Telegram/Discord 429 with the wait in the body). Every alert is delivered exactly once after
recovery, nothing is sent before Retry-After elapses, and the other destinations are
unaffected.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from alertcb.channels import (
    Alertmanager,
    Apprise,
    Channel,
    DingTalk,
    Discord,
    Feishu,
    PagerDuty,
    Slack,
    Teams,
    Telegram,
    Webhook,
    WeCom,
)
from alertcb.notifier import Notifier
from tests.channels.services2 import (
    DINGTALK_SECRET,
    FEISHU_SECRET,
    TELEGRAM_CHAT,
    TELEGRAM_TOKEN,
    DingTalkError,
    DingTalkStandIn,
    DiscordStandIn,
    FeishuError,
    FeishuStandIn,
    TeamsStandIn,
    TelegramStandIn,
)
from tests.conftest_services import (
    PD_ROUTING_KEY,
    SLACK_TOKEN,
    WECOM_KEY,
    PagerDutyStandIn,
    Receiver,
    Reply,
    SlackStandIn,
    StandIn,
    WeComError,
    WeComStandIn,
)

TITLES = ("alert A loss is NaN", "alert B grad norm exploded", "alert C val loss diverged")
FAST = 6000.0  # per-minute budget high enough that rate limits play no part here


BASE = ("wecom", "slack", "pagerduty", "webhook", "alertmanager")


class Stand:
    """The original five destinations, plus ``target`` when it is one of the newer ones, and a
    way to read which titles each one accepted. (All eleven at once would make the timing of
    every test depend on a busy machine's CPU; five plus the target keeps the load as before.)"""

    def __init__(self, target: str | None = None) -> None:
        self.names = BASE + ((target,) if target and target not in BASE else ())
        servers: dict[str, StandIn] = {
            "wecom": WeComStandIn(WECOM_KEY),
            "slack": SlackStandIn(SLACK_TOKEN, burst=100, rate_per_s=100),
            "pagerduty": PagerDutyStandIn(PD_ROUTING_KEY),
            "webhook": Receiver(),
            "alertmanager": Receiver(),
            "dingtalk": DingTalkStandIn(secret=DINGTALK_SECRET, keyword="alert", rate_limit=1000),
            "feishu": FeishuStandIn(secret=FEISHU_SECRET, per_min=1000, per_s=1000),
            "teams": TeamsStandIn(per_s=1000),
            "discord": DiscordStandIn(per_window=1000),
            "telegram": TelegramStandIn(per_min=1000),
            "apprise": Receiver(),
        }
        self.servers = {name: servers[name] for name in self.names}
        for server in servers.values():
            if server not in self.servers.values():
                server.server.server_close()
        for server in self.servers.values():
            server.start()

    def channels(self) -> list[Channel]:
        s = self.servers
        build: dict[str, Callable[[], Channel]] = {
            "wecom": lambda: WeCom(key=WECOM_KEY, webhook_url=s["wecom"].url, rate_limit_per_min=FAST),
            "slack": lambda: Slack(webhook_url=s["slack"].url, rate_limit_per_min=FAST),
            "pagerduty": lambda: PagerDuty(routing_key=PD_ROUTING_KEY, url=s["pagerduty"].url, rate_limit_per_min=FAST),
            "webhook": lambda: Webhook(url=s["webhook"].url, rate_limit_per_min=FAST),
            "alertmanager": lambda: Alertmanager(urls=[s["alertmanager"].base_url]),
            "dingtalk": lambda: DingTalk(webhook_url=s["dingtalk"].url, secret=DINGTALK_SECRET, keyword="alert",
                                         throttled_wait_s=1.5, rate_limit_per_min=FAST),
            "feishu": lambda: Feishu(webhook_url=s["feishu"].url, secret=FEISHU_SECRET, rate_limit_per_min=FAST),
            "teams": lambda: Teams(webhook_url=s["teams"].url, rate_limit_per_min=FAST),
            "discord": lambda: Discord(webhook_url=s["discord"].url, rate_limit_per_min=FAST),
            "telegram": lambda: Telegram(bot_token=TELEGRAM_TOKEN, chat_id=TELEGRAM_CHAT, api_url=s["telegram"].api_url,
                                         rate_limit_per_min=FAST),
            # apprise cannot tell an outage from a bad URL: enough attempts to outlast a 1-s outage
            "apprise": lambda: Apprise(urls=[s["apprise"].base_url.replace("http://", "json://") + "/hook"],
                                       max_attempts=20, rate_limit_per_min=FAST),
        }
        return [build[name]() for name in self.names]

    def texts(self, name: str) -> list[str]:
        """One string per accepted message, holding every title it carries."""
        server = self.servers[name]
        with server.lock:
            accepted = list(server.accepted)
        if name == "wecom":
            return [p[p["msgtype"]]["content"] for p in accepted]
        if name == "slack":
            return [json.dumps(p, ensure_ascii=False) for p in accepted]
        if name == "pagerduty":
            return [p["payload"]["summary"] for p in accepted if p["event_action"] == "trigger"]
        if name == "webhook":
            return [" | ".join(e["title"] for e in r.json()["events"]) for r in accepted]
        if name == "apprise":
            return [r.json()["title"] + "\n" + r.json()["message"] for r in accepted]
        if name in ("dingtalk", "feishu", "teams", "discord", "telegram"):
            return [json.dumps(p, ensure_ascii=False) for p in accepted]
        return [a["annotations"]["summary"] for r in accepted for a in r.json()]

    def delivered_once(self, name: str) -> bool:
        texts = self.texts(name)
        return all(sum(title in text for text in texts) == 1 for title in TITLES)

    def first_accept_time(self, name: str) -> float | None:
        """Arrival time of the first request the service accepted (None if none yet)."""
        times = self.servers[name].accepted_at
        return times[0] if times else None

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()


@pytest.fixture
def stand(request: pytest.FixtureRequest) -> Iterator[Stand]:
    callspec = getattr(request.node, "callspec", None)
    s = Stand(callspec.params.get("target") if callspec else None)
    yield s
    s.stop()


def _notifier(stand: Stand, tmp_path: Path, **overrides: Any) -> Notifier:
    options: dict[str, Any] = {
        "channels": stand.channels(),
        "run_name": "exp42",
        "run_dir": tmp_path,
        "group_wait_s": 0.0,
        "attempt_timeout_s": 1.0,
        "connect_timeout_s": 1.0,
        "retry_base_s": 0.1,
        "retry_max_s": 0.4,
        "flush_timeout_s": 15.0,
    }
    options.update(overrides)
    return Notifier(**options)


def _emit_all(notifier: Notifier) -> float:
    started = time.monotonic()
    for title in TITLES:
        assert notifier.emit(notifier.event("custom", title, "details", severity="critical"))
    return started


DESTINATIONS = (
    "wecom", "slack", "pagerduty", "webhook", "alertmanager", "dingtalk", "feishu", "teams", "discord", "telegram", "apprise",
)
#: apprise reports only failure, never a Retry-After: it backs off like any other failure.
RETRY_AFTER_AWARE = tuple(d for d in DESTINATIONS if d != "apprise")


def _run_fault(
    stand: Stand, tmp_path: Path, target: str, inject: Callable[[StandIn], None], **overrides: Any
) -> tuple[Notifier, float]:
    """Inject the fault, emit the alerts, flush; returns the notifier and the injection time."""
    injected = time.monotonic()
    inject(stand.servers[target])
    notifier = _notifier(stand, tmp_path, **overrides)
    _emit_all(notifier)
    assert 0 == notifier.flush(15.0)
    for name in stand.names:
        assert stand.delivered_once(name), (name, stand.texts(name))
    return notifier, injected


@pytest.mark.parametrize("target", DESTINATIONS)
def test_connection_reset_then_recovery(stand: Stand, tmp_path: Path, target: str) -> None:
    """A reset connection is retried; every alert arrives exactly once everywhere."""
    notifier, _ = _run_fault(stand, tmp_path, target, lambda s: s.fail_next("reset"))
    stats = notifier.stats()["destinations"]
    notifier.close()
    assert stats[target]["retried"] >= 1
    assert all(not stats[name]["failed"] for name in stand.names)


@pytest.mark.parametrize("target", DESTINATIONS)
def test_500s_for_a_while_then_recovery(stand: Stand, tmp_path: Path, target: str) -> None:
    """500 until two attempts were refused, then 200: delivered exactly once after recovery.

    Causal, not timed: the service heals only after it has refused two requests, so a
    slow machine cannot make the first attempt miss the outage.
    """
    server = stand.servers[target]
    server.fail_for(600.0, Reply(500, {}, "down"))
    notifier = _notifier(stand, tmp_path)
    _emit_all(notifier)
    deadline = time.monotonic() + 60.0
    while len(server.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    refused = len(server.requests)
    healed = time.monotonic()
    server.heal()
    assert 0 == notifier.flush(15.0)
    for name in stand.names:
        assert stand.delivered_once(name), (name, stand.texts(name))
    stats = notifier.stats()["destinations"]
    notifier.close()
    assert refused >= 2
    first = stand.first_accept_time(target)
    assert first is not None and first >= healed
    assert stats[target]["retried"] >= 1 and not stats[target]["failed"]


@pytest.mark.parametrize("target", RETRY_AFTER_AWARE)
def test_429_retry_after_is_honoured(stand: Stand, tmp_path: Path, target: str) -> None:
    """After a 429 with Retry-After: 1, no request reaches that destination for a second."""
    notifier, _ = _run_fault(stand, tmp_path, target, lambda s: s.fail_next(Reply(429, {"Retry-After": "1"}, "slow down")))
    notifier.close()
    requests = stand.servers[target].requests
    assert len(requests) >= 2
    assert requests[1].time - requests[0].time >= 1.0


def _wait_until(predicate: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    """Poll ``predicate`` (a safety net against a hung test, not a timing claim)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_wecom_45009_for_a_while_then_recovery(stand: Stand, tmp_path: Path) -> None:
    """WeCom answers 45009 (HTTP 200!) until it heals: the others deliver while it is still
    refusing; then each alert arrives exactly once at WeCom too."""
    wecom = stand.servers["wecom"]
    wecom.fail_for(3600.0, WeComError(45009))
    notifier = _notifier(stand, tmp_path)
    _emit_all(notifier)
    others = [name for name in stand.names if name != "wecom"]
    assert _wait_until(lambda: all(stand.delivered_once(name) for name in others))
    assert stand.first_accept_time("wecom") is None  # still refusing, and nobody waited for it
    wecom.heal()
    assert 0 == notifier.flush(15.0)
    stats = notifier.stats()["destinations"]
    notifier.close()
    assert len(wecom.requests) >= 2 and stats["wecom"]["retried"] >= 1
    assert all(stand.delivered_once(name) for name in stand.names)


SERVICE_RATE_LIMITS = {
    "dingtalk": DingTalkError(130101, "send too fast, exceed 20 times per minute"),  # HTTP 200
    "feishu": FeishuError(11232, "frequency limited"),  # HTTP 200
    "telegram": Reply(429, {"Content-Type": "application/json"},
                      {"ok": False, "error_code": 429, "description": "Too Many Requests", "parameters": {"retry_after": 1}}),
    "discord": Reply(429, {"Content-Type": "application/json"}, {"message": "rate limited", "retry_after": 1.2, "global": False}),
}


@pytest.mark.parametrize("target", sorted(SERVICE_RATE_LIMITS))
def test_service_rate_limit_answer_then_recovery(stand: Stand, tmp_path: Path, target: str) -> None:
    """The service's own rate-limit answer (an errcode in a 200, or the wait in the body):
    not counted as delivered, retried no earlier than the wait it names, each alert once."""
    fault = SERVICE_RATE_LIMITS[target]
    notifier, injected = _run_fault(stand, tmp_path, target, lambda s: s.fail_next(fault))
    stats = notifier.stats()["destinations"]
    notifier.close()
    requests = stand.servers[target].requests
    assert stats[target]["retried"] >= 1 and not stats[target]["failed"]
    wait = {"dingtalk": 1.5, "feishu": 0.0, "telegram": 1.0, "discord": 1.2}[target]
    assert requests[1].time - requests[0].time >= wait


@pytest.mark.parametrize("target", DESTINATIONS)
def test_hung_destination_does_not_delay_the_others(stand: Stand, tmp_path: Path, target: str) -> None:
    """One destination hangs (and would for a minute): every other destination delivers while
    it is still hung; once it lets go, its alerts arrive exactly once too."""
    hung = stand.servers[target]
    hung.fail_next("hang")
    notifier = _notifier(stand, tmp_path, attempt_timeout_s=60.0, flush_timeout_s=60.0)
    _emit_all(notifier)
    others = [name for name in stand.names if name != target]
    assert _wait_until(lambda: all(stand.delivered_once(name) for name in others)), [
        name for name in others if not stand.delivered_once(name)
    ]
    # still hung (apprise may not even have connected yet: importing it takes a while)
    assert stand.first_accept_time(target) is None and len(hung.requests) <= 1
    hung.release()
    assert 0 == notifier.flush(60.0)
    notifier.close()
    assert all(stand.delivered_once(name) for name in stand.names)


def test_default_budgets_keep_services_from_throttling(tmp_path: Path) -> None:
    """With the channels' default rate limits, a burst of alerts never earns a 45009 or a 429:
    the dispatcher coalesces instead, and every alert still arrives exactly once."""
    wecom, slack = WeComStandIn(WECOM_KEY), SlackStandIn(SLACK_TOKEN)  # 20/min; 1/s with a burst of 3
    for server in (wecom, slack):
        server.start()
    titles = [f"incident {i} metric {i} exploded" for i in range(6)]
    try:
        notifier = Notifier(
            channels=[WeCom(key=WECOM_KEY, webhook_url=wecom.url), Slack(webhook_url=slack.url)],
            run_name="exp42",
            run_dir=tmp_path,
            group_wait_s=0.0,
            retry_base_s=0.1,
        )
        for title in titles:
            notifier.emit(notifier.event("custom", title, severity="critical"))
        assert 0 == notifier.flush(15.0)
        notifier.close()
    finally:
        wecom.stop()
        slack.stop()
    assert [0] * len(wecom.errcodes) == wecom.errcodes
    assert len(slack.requests) == len(slack.accepted)
    wecom_texts = [p[p["msgtype"]]["content"] for p in wecom.accepted]
    slack_texts = [json.dumps(p, ensure_ascii=False) for p in slack.accepted]
    for title in titles:
        assert 1 == sum(title in t for t in wecom_texts)
        assert 1 == sum(title in t for t in slack_texts)
