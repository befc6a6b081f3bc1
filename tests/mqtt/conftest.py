"""A private Mosquitto per test (dynamic security on, a free port, its own files)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from provider.services.broker_accounts import MosquittoDynsec
from tests.brokers import REQUIRE_MQTT, Mosquitto, NatsMqtt, missing_mosquitto, nats_binary
from tests.mqtt.world import World
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


@dataclass
class ChannelBroker:
    """A broker for the bridge channel, as the tests of both brokers need it."""

    broker: Any
    protocol: str  # MQTT version the clients speak
    accounts: Any  # .provision(bridge_id, token): per-bridge accounts, or a no-op where the broker has none

    @property
    def shared(self) -> bool:
        return self.protocol == "5"


class _OpenBroker:
    """NATS here runs without authorization: there are no accounts to make."""

    def provision(self, bridge_id: str, token: str) -> None:
        pass


def _nats(tmp_path) -> Any:
    if nats_binary() is None:
        reason = "no nats-server binary (Debian: apt-get install nats-server)"
        if REQUIRE_MQTT:
            pytest.fail(reason + " (REQUIRE_MQTT=1)")
        pytest.skip(reason)
    return NatsMqtt(tmp_path / "nats").start()


@pytest.fixture(params=["mosquitto", "nats"])
def channel_broker(request, tmp_path):
    """The same channel tests on Mosquitto (MQTT 5, dynamic security) and NATS's MQTT gateway on JetStream (3.1.1)."""
    if request.param == "mosquitto":
        broker = request.getfixturevalue("mosquitto")
        yield ChannelBroker(broker, "5", MosquittoDynsec(broker.admin_url))
        return
    broker = _nats(tmp_path)
    yield ChannelBroker(broker, "3.1.1", _OpenBroker())
    broker.stop()


@pytest.fixture
def world(app, channel_broker):
    world = World(app, channel_broker)
    yield world
    world.close()
