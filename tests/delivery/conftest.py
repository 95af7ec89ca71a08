"""Fixtures for delivery tests: the stand-in services of tests/conftest_services.py."""

from tests.conftest_services import (  # noqa: F401 - fixtures
    alertmanager,
    pagerduty_server,
    receiver,
    silent_tcp,
    slack_server,
    smtp_server,
    wecom_server,
)
