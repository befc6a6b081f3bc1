"""The agent's MQTT transport (CONTRACTS.md, "Bridge channel over MQTT"): the same calls as ProviderApi.

The agent's code path does not change with the transport: it asks
`commands()`, `report_result()`, `post_events()` and `heartbeat()` of its api
object either way. Here commands arrive on the bridge's `commands` topic
(QoS 1, a persistent session: what was published while the bridge was away
comes when it is back); results and event batches are published and re-sent,
with backoff, until the cloud acknowledges them on the `acks` topic (they are
idempotent there, so a re-send is harmless). The lock list, the code table and
code sync, rare request/response calls, stay on HTTPS (the inherited methods).

Presence: on every connection the agent publishes a retained `online` with a
fresh session number, and leaves the broker a retained `offline` will with
the same number, so the cloud hears of a dropped bridge at once. Lost
connections are retried with exponential backoff and full jitter, the first
attempt spread over `reconnect_spread` seconds so that a fleet does not
reconnect all at once after a broker restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
import uuid
from typing import Any
from urllib.parse import unquote, urlsplit

from bridge_contract import mqtt as channel
from firmware_bridge.agent.model import Command
from firmware_bridge.agent.provider_api import Backoff, ProviderApi, ProviderError

_LOGGER = logging.getLogger(__name__)

#: How long a published result or event batch waits for its ack before it is sent again.
ACK_TIMEOUT = 10.0
#: MQTT 5 (session expiry, reason codes), or 3.1.1 for brokers without 5 (NATS's MQTT gateway).
PROTOCOLS = ("5", "3.1.1")
#: A persistent session survives this long without the bridge (commands queue in the broker meanwhile).
SESSION_EXPIRY_SECONDS = 24 * 3600


def parse_broker_url(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
        raise ValueError(f"the MQTT URL must look like mqtt://host:1883, got {url!r}")
    if parts.username or parts.password:
        raise ValueError("the MQTT URL carries no credentials: the bridge signs in with its id and token")
    return unquote(parts.hostname), parts.port or 1883


class MqttProviderApi(ProviderApi):
    def __init__(self, api_url: str, token: str, mqtt_url: str, *, timeout: float = 10.0,
                 retry_max: float = 10.0, reconnect_spread: float = 10.0, prefix: str = channel.DEFAULT_PREFIX,
                 ack_timeout: float = ACK_TIMEOUT, protocol: str = "5", rng: random.Random | None = None) -> None:
        super().__init__(api_url, token, timeout, retry_max)
        self.host, self.port = parse_broker_url(mqtt_url)
        self.prefix = prefix
        self.reconnect_spread = reconnect_spread
        self.ack_timeout = ack_timeout
        if protocol not in PROTOCOLS:
            raise ValueError(f"MQTT protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
        self.protocol = protocol
        self.bridge_id = ""
        self.connections = 0
        self._rng = rng or random.Random()
        self._client: Any = None
        self._connected = asyncio.Event()
        self._commands: asyncio.Queue[Command] = asyncio.Queue()
        self._acks: dict[tuple[str, str], asyncio.Future[dict[str, Any]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # ------------------------------------------------------------------ the connection
    def _topic(self, kind: str) -> str:
        return channel.topic(self.prefix, self.bridge_id, kind)

    def _start(self) -> None:
        if self._task is None and self.bridge_id:
            self._task = asyncio.create_task(self._connection_loop(), name="mqtt")

    async def _connection_loop(self) -> None:
        import aiomqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        backoff = Backoff(ceiling=self.retry_max * 3, rng=self._rng)
        lost_before = False
        while not self._stopping:
            if lost_before:
                await asyncio.sleep(self._first_delay(backoff))
            session = time.time_ns() // 1_000_000
            offline = json.dumps({"state": channel.OFFLINE, "session": session})
            if self.protocol == "5":
                properties = Properties(PacketTypes.CONNECT)
                properties.SessionExpiryInterval = SESSION_EXPIRY_SECONDS
                session_options: dict[str, Any] = {"protocol": aiomqtt.ProtocolVersion.V5, "clean_start": False,
                                                   "properties": properties}
            else:  # 3.1.1: a persistent session is clean_session=False
                session_options = {"protocol": aiomqtt.ProtocolVersion.V311, "clean_session": False}
            try:
                async with aiomqtt.Client(
                    self.host, self.port, username=self.bridge_id, password=self._token,
                    identifier=channel.client_id(self.bridge_id), keepalive=channel.KEEPALIVE_SECONDS,
                    will=aiomqtt.Will(self._topic(channel.PRESENCE), offline, qos=channel.QOS, retain=True),
                    **session_options,
                ) as client:
                    for kind in channel.DOWN_TOPICS:
                        await client.subscribe(self._topic(kind), qos=channel.QOS)
                    await client.publish(self._topic(channel.PRESENCE),
                                         json.dumps({"state": channel.ONLINE, "session": session}),
                                         qos=channel.QOS, retain=True)
                    self._client = client
                    self.connections += 1
                    self._connected.set()
                    backoff.reset()
                    _LOGGER.info("MQTT: connected to %s:%d as bridge %s", self.host, self.port, self.bridge_id)
                    try:
                        await self._receive(client)
                    finally:
                        self._connected.clear()
                        self._client = None
                        if self._stopping:  # a clean goodbye: the will is not published, so say it
                            with contextlib.suppress(Exception):
                                await client.publish(self._topic(channel.PRESENCE), offline,
                                                     qos=channel.QOS, retain=True, timeout=2)
            except aiomqtt.MqttError as err:
                if self._stopping:
                    break
                _LOGGER.warning("MQTT: %s; reconnecting", err)
            lost_before = True

    def _first_delay(self, backoff: Backoff) -> float:
        """A first reconnection after a loss is spread over `reconnect_spread`; then backoff with jitter."""
        if backoff.failures == 0:
            backoff.failures = 1
            return self._rng.uniform(0, self.reconnect_spread)
        return backoff.next_delay()

    async def _receive(self, client: Any) -> None:
        async for message in client.messages:
            parsed = channel.parse_topic(self.prefix, str(message.topic))
            if parsed is None or parsed[0] != self.bridge_id:
                continue
            try:
                payload = json.loads(message.payload)
            except (TypeError, ValueError):
                _LOGGER.warning("MQTT: a %s message that is not JSON; dropped", parsed[1])
                continue
            if parsed[1] == channel.COMMANDS and isinstance(payload, dict):
                try:
                    self._commands.put_nowait(Command.from_api(payload))
                except (KeyError, TypeError, ValueError):
                    _LOGGER.warning("MQTT: a command the agent cannot read; dropped")
            elif parsed[1] == channel.ACKS and isinstance(payload, dict):
                key = (str(payload.get("type")), str(payload.get("command_id") or payload.get("batch_id")))
                future = self._acks.get(key)
                if future is not None and not future.done():
                    future.set_result(payload)

    async def aclose(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def wait_connected(self, timeout: float) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    # ------------------------------------------------------------------ the agent's calls
    async def locks(self) -> Any:
        bridge_id, locks = await super().locks()
        if bridge_id and not self.bridge_id:
            self.bridge_id = bridge_id
            self._start()
        return bridge_id, locks

    async def commands(self, wait: float, limit: int = 20, *, resume: bool = False) -> list[Command]:
        # `resume` needs nothing here: every new connection's presence makes the cloud hand back
        # what the bridge held, and the broker's session keeps what was sent meanwhile.
        try:
            batch = [await asyncio.wait_for(self._commands.get(), wait)]
        except TimeoutError:
            return []
        while len(batch) < limit and not self._commands.empty():
            batch.append(self._commands.get_nowait())
        return batch

    async def report_result(self, command_id: str, result: dict[str, Any]) -> dict[str, Any]:
        return await self._until_acked(channel.RESULTS, command_id, {"command_id": command_id, **result},
                                       f"result of command {command_id}")

    async def post_events(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        batch_id = uuid.uuid4().hex
        return await self._until_acked(channel.EVENTS, batch_id, {"batch_id": batch_id, "events": events}, "events")

    async def heartbeat(self, locks: list[dict[str, Any]]) -> dict[str, Any]:
        client = self._client
        if client is None:
            raise ProviderError("heartbeat: not connected to the MQTT broker")
        await client.publish(self._topic(channel.HEARTBEAT), json.dumps({"locks": locks}), qos=channel.QOS)
        return {}

    async def _until_acked(self, kind: str, key: str, payload: dict[str, Any], what: str) -> dict[str, Any]:
        import aiomqtt

        backoff = Backoff(ceiling=self.retry_max)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._acks[(kind, key)] = future
        body = json.dumps(payload)
        try:
            while True:
                try:
                    await asyncio.wait_for(self._connected.wait(), self.ack_timeout)
                    client = self._client
                    if client is not None:
                        await client.publish(self._topic(kind), body, qos=channel.QOS)
                    ack = await asyncio.wait_for(asyncio.shield(future), self.ack_timeout)
                except (TimeoutError, aiomqtt.MqttError) as err:
                    delay = backoff.next_delay()
                    _LOGGER.warning("%s: no acknowledgement (%s); sending again in %.1f s",
                                    what, type(err).__name__, delay)
                    await asyncio.sleep(delay)
                    continue
                if ack.get("error_code"):
                    raise ProviderError(f"{what}: refused with {ack['error_code']}", retryable=False)
                return {key: value for key, value in ack.items() if key != "type"}
        finally:
            self._acks.pop((kind, key), None)
