"""Per-bridge broker accounts on a real Mosquitto: each bridge reaches its own topics and nobody else's."""

from __future__ import annotations

import asyncio
from typing import Any

import aiomqtt
import pytest

from bridge_contract import mqtt as channel
from provider.services.broker_accounts import MosquittoDynsec, ProvisioningError
from tests.brokers import GATEWAY, HOST

A, B = "bridge-a-id", "bridge-b-id"


def _client(broker: Any, username: str, password: str, identifier: str | None = None) -> aiomqtt.Client:
    return aiomqtt.Client(HOST, broker.port, username=username, password=password,
                          identifier=identifier or channel.client_id(username),
                          protocol=aiomqtt.ProtocolVersion.V5)


@pytest.fixture
def accounts(mosquitto):
    provisioner = MosquittoDynsec(mosquitto.admin_url)
    provisioner.provision(A, "token-a")
    provisioner.provision(B, "token-b")
    return provisioner


async def _refused(client: aiomqtt.Client) -> bool:
    try:
        async with client:
            return False
    except aiomqtt.MqttError:
        return True


def test_a_bridge_signs_in_with_its_id_and_token_only(mosquitto, accounts):
    async def scenario() -> list[bool]:
        return [
            await _refused(_client(mosquitto, A, "token-a")),
            await _refused(_client(mosquitto, A, "token-b")),  # another bridge's token
            await _refused(_client(mosquitto, A, "token-a", identifier=channel.client_id(B))),  # B's session
        ]

    assert asyncio.run(scenario()) == [False, True, True]


def test_a_bridge_cannot_read_another_bridges_commands(mosquitto, accounts):
    async def scenario() -> tuple[list[int], list[int]]:
        async with _client(mosquitto, A, "token-a") as bridge_a:
            own = await bridge_a.subscribe(channel.topic("bridges", A, channel.COMMANDS), qos=1)
            foreign = await bridge_a.subscribe(channel.topic("bridges", B, channel.COMMANDS), qos=1)
            return [code.value for code in own], [code.value for code in foreign]

    own, foreign = asyncio.run(scenario())
    assert own == [1]  # granted QoS 1
    assert foreign[0] >= 0x80  # refused (not authorized)


def test_a_bridge_cannot_publish_for_another_bridge(mosquitto, accounts):
    """B's result topic never carries what A publishes there; A's own topic does (and is the barrier)."""

    async def scenario() -> list[tuple[str, bytes]]:
        seen: list[tuple[str, bytes]] = []
        async with aiomqtt.Client(HOST, mosquitto.port, username=GATEWAY[0], password=GATEWAY[1],
                                  protocol=aiomqtt.ProtocolVersion.V5) as gateway, \
                _client(mosquitto, A, "token-a") as bridge_a:
            await gateway.subscribe("bridges/+/results", qos=1)
            await bridge_a.publish(channel.topic("bridges", B, channel.RESULTS), b'{"forged": true}', qos=1)
            await bridge_a.publish(channel.topic("bridges", A, channel.COMMANDS), b'{"forged": true}', qos=1)
            await bridge_a.publish(channel.topic("bridges", A, channel.RESULTS), b'{"own": true}', qos=1)
            async for message in gateway.messages:
                seen.append((str(message.topic), bytes(message.payload)))
                if message.payload == b'{"own": true}':
                    return seen
        return seen

    assert asyncio.run(asyncio.wait_for(scenario(), 20)) == [(f"bridges/{A}/results", b'{"own": true}')]


def test_rotation_and_revocation_end_old_credentials(mosquitto, accounts):
    accounts.provision(A, "token-a2")  # the token was rotated
    accounts.revoke(B)

    async def scenario() -> list[bool]:
        return [
            await _refused(_client(mosquitto, A, "token-a")),
            await _refused(_client(mosquitto, A, "token-a2")),
            await _refused(_client(mosquitto, B, "token-b")),
        ]

    assert asyncio.run(scenario()) == [True, False, True]


def test_a_broker_without_the_control_api_is_a_clear_error(tmp_path):
    with pytest.raises(ProvisioningError, match="not reachable"):
        MosquittoDynsec("mqtt://admin:pw@127.0.0.1:9", timeout=1).provision(A, "x")
