"""End-to-end fixtures: a real `provider sandbox` for the whole session.

Tests using `live_sandbox` should carry @pytest.mark.xdist_group("live_sandbox") so that
one xdist worker starts it, not each. LIVE_SANDBOX_DATABASE_URL runs it on PostgreSQL.
"""

from __future__ import annotations

import os

import pytest

from tests.live import LiveSandbox

# Faster presence than production's defaults, so offline/online scenarios take seconds:
# the bridge agent heartbeats every second, the provider declares it gone after 8 s
# (above the provider's 5 s coalescing of presence writes, or bridges would flap).
E2E_ENV = {"BRIDGE_HEARTBEAT_TIMEOUT_SECONDS": "8", "FIRMWARE_BRIDGE_HEARTBEAT_INTERVAL": "1",
           "METRICS_TOKEN": "e2e-metrics-token",
           # A lock moved between bridges leaves the old bridge's lock list within seconds.
           "FIRMWARE_BRIDGE_LOCKS_REFRESH": "3"}


@pytest.fixture(scope="session")
def live_sandbox(tmp_path_factory):
    sandbox = LiveSandbox(
        tmp_path_factory.mktemp("sandbox"),
        database_url=os.environ.get("LIVE_SANDBOX_DATABASE_URL") or None,
        env=E2E_ENV,
    )
    with sandbox:
        yield sandbox
