"""Fixtures: the loopback stand-ins and real Alertmanagers of tests/conftest_services.py."""

from tests.conftest_services import (  # noqa: F401 - fixtures
    alertmanager,
    pagerduty_server,
    receiver,
)
