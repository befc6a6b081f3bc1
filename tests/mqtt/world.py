"""The cloud's side of the MQTT channel in the test process: bridge API (HTTP) and one gateway."""

from __future__ import annotations

import time
from typing import Any

from firmware_bridge.agent.mqtt_api import MqttProviderApi
from provider.bridge_api.server import BridgeServer
from provider.bridge_gateway import BrokerAddress, Gateway
from provider.extensions import db
from tests.loop_thread import LoopThread


class World(LoopThread):
    """The cloud's processes of the MQTT channel, in this process: bridge API (HTTP) and one gateway."""

    def __init__(self, app: Any, channel_broker: Any) -> None:
        super().__init__()
        self.app = app
        self.broker = broker = channel_broker.broker
        self.protocol = channel_broker.protocol
        self.server = BridgeServer(app, threads=4)
        self.url = f"http://127.0.0.1:{self.run(self.server.start()).result(20)}"
        self.gateway = Gateway(app, BrokerAddress.parse(broker.gateway_url), tick=0.2,
                               shared=channel_broker.shared, protocol=channel_broker.protocol)
        self.stop_gateway = self.run(_event()).result(5)
        self.gateway_run = self.run(self.gateway.run(self.stop_gateway))
        self.until(self.gateway.connected.is_set)
        self.accounts = channel_broker.accounts

    def bridge_api(self, token: str) -> MqttProviderApi:
        return MqttProviderApi(self.url + "/bridge/v1", token, self.broker.url, reconnect_spread=0.5,
                               protocol=self.protocol)

    def connect(self, api: MqttProviderApi) -> None:
        self.run(api.locks()).result(20)
        self.run(api.wait_connected(20)).result(25)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.stop_gateway.set)
        self.gateway_run.result(20)
        self.run(self.server.stop()).result(20)
        super().close()


async def _event() -> Any:
    import asyncio

    return asyncio.Event()


def until(condition: Any, world: World, timeout: float = 30) -> None:
    """Waits until `condition()` holds in the database (looked at afresh every 50 ms)."""
    deadline = time.monotonic() + timeout
    while True:
        db.session.rollback()  # a fresh snapshot each look
        if condition():
            return
        assert world.gateway_run.done() is False, world.gateway_run.result()
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)
