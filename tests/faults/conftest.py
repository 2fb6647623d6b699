"""The fault suite runs on the e2e harness's fixtures (real Mosquitto, pa-server, pa-device)."""

from tests.e2e.conftest import e2e, fleet, pytest_runtest_makereport, server_env, watch

__all__ = ["e2e", "fleet", "pytest_runtest_makereport", "server_env", "watch"]
