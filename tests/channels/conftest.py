"""Fixtures for channel tests: the stand-in services of tests/conftest_services.py."""

from tests.channels.services2 import (  # noqa: F401 - fixtures
    dingtalk_server,
    discord_server,
    feishu_server,
    teams_server,
    telegram_server,
)
from tests.conftest_services import (  # noqa: F401 - fixtures
    alertmanager,
    pagerduty_server,
    receiver,
    silent_tcp,
    slack_server,
    smtp_server,
    wecom_server,
)
