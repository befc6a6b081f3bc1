"""A private Mosquitto per test (dynamic security on, a free port, its own files)."""

from __future__ import annotations

import pytest

from tests.brokers import REQUIRE_MQTT, Mosquitto, missing_mosquitto
from tests.provider.devices.conftest import events  # noqa: F401  (the same fixture as the bridge API tests)


@pytest.fixture
def mosquitto(tmp_path):
    reason = missing_mosquitto()
    if reason:
        if REQUIRE_MQTT:
            pytest.fail(reason + " (REQUIRE_MQTT=1: the MQTT tests are mandatory here)")
        pytest.skip(reason)
    broker = Mosquitto(tmp_path / "mosquitto").start()
    yield broker
    broker.stop()
