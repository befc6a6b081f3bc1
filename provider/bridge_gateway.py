"""`provider bridge-gateway`: the cloud's side of the MQTT bridge channel.

It moves due commands from the durable queue to the broker and feeds what
bridges publish into the very services the HTTP bridge API calls:

* results -> ``commands.report_result``; events -> ``lock_reports.accept_events``;
  heartbeats -> ``lock_reports.heartbeat`` (each also a ``bridges.touch``),
  validated by the same schemas as the HTTP bodies, and acknowledged on the
  bridge's ``acks`` topic once committed (the agent re-sends until then:
  nothing is lost between broker, gateway and database, and a re-send is
  harmless: the first result decides, events are unique by (lock, seq));
* presence (retained, with the connection's last will) ->
  ``bridges.presence_online`` / ``presence_offline``: a dropped bridge and its
  locks go offline as soon as the broker notices, not after the heartbeat timeout;
* commands: for every bridge whose presence is online, ``commands.claim`` on
  a wake-up of its channel (``services.wakeups``), when it comes online
  (taking back what it held, as an HTTP poll with ``resume``), and on a tick
  that sees leases run out; each command is published at QoS 1.

Several gateways may run at once: up-topics are MQTT 5 shared subscriptions
(each message reaches one gateway), presence reaches all of them, and a
command is claimed by one (claim is a conditional UPDATE). A gateway killed
with ``kill -9`` loses nothing: unacknowledged messages are re-sent by the
agents, and commands it had claimed are handed out again when their lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from bridge_contract import mqtt as channel

_LOGGER = logging.getLogger(__name__)

DEFAULT_GROUP = "gateways"
DEFAULT_THREADS = 4
#: With pg_notify or Redis the tick only catches leases that ran out; without them (SQLite alone)
#: it is how a command committed by another process is noticed.
TICK_SECONDS = 1.0
TICK_SECONDS_LOCAL = 0.1
CLAIM_LIMIT = 20
RECONNECT_MIN_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 10.0


class GatewayError(RuntimeError):
    """The broker will not let this gateway do its work (a configuration error: retrying will not help)."""


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """mqtt://user:password@host:port (the password percent-encoded)."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
            raise ValueError(f"MQTT_URL must look like mqtt://user:password@host:1883, got scheme {parts.scheme!r}")
        return cls(parts.hostname, parts.port or 1883,
                   unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password else None)


class _Waker:
    """A hub waiter for one bridge's channel: a commit that queues a command for it wakes the pump."""

    def __init__(self, gateway: Gateway, bridge_id: str) -> None:
        self._gateway = gateway
        self._bridge_id = bridge_id

    def wake(self) -> None:
        self._gateway.wake_threadsafe(self._bridge_id)


class Gateway:
    def __init__(self, flask_app: Any, broker: BrokerAddress, *, prefix: str = channel.DEFAULT_PREFIX,
                 group: str = DEFAULT_GROUP, threads: int = DEFAULT_THREADS, tick: float | None = None,
                 shared: bool = True, protocol: str = "5") -> None:
        self.flask_app = flask_app
        self.broker = broker
        self.prefix = prefix
        self.group = group
        self.tick = tick
        self.shared = shared
        self.protocol = protocol
        self.identifier = f"gateway-{uuid.uuid4().hex[:12]}"
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="bridge-gateway")
        self._present: dict[str, _Waker] = {}  # bridge id -> its hub waiter, while its presence is online
        self._due: set[str] = set()
        self._resume: set[str] = set()
        self._due_event = asyncio.Event()
        self._chains: dict[str, asyncio.Task[None]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Any = None
        self.connected = asyncio.Event()
        self.handled = 0  # up-messages applied (tests, logs)

    # ------------------------------------------------------------------ wake-ups
    def wake_threadsafe(self, bridge_id: str) -> None:
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed
            loop.call_soon_threadsafe(self._mark_due, bridge_id)

    def _mark_due(self, bridge_id: str, resume: bool = False) -> None:
        self._due.add(bridge_id)
        if resume:
            self._resume.add(bridge_id)
        self._due_event.set()

    def _set_present(self, bridge_id: str, online: bool) -> None:
        from provider.services import commands, wakeups

        waker = self._present.get(bridge_id)
        if online and waker is None:
            waker = self._present[bridge_id] = _Waker(self, bridge_id)
            wakeups.hub.add(commands.bridge_channel(bridge_id), waker)
        elif not online and waker is not None:
            del self._present[bridge_id]
            wakeups.hub.discard(commands.bridge_channel(bridge_id), waker)

    # ------------------------------------------------------------------ the pool
    async def _in_pool(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _with_app(self, fn: Any, *args: Any) -> Any:
        from provider.extensions import db

        with self.flask_app.app_context():
            try:
                return fn(*args)
            except Exception:
                db.session.rollback()
                raise

    # ------------------------------------------------------------------ lifecycle
    async def run(self, stop: asyncio.Event) -> None:
        """Connects, serves, reconnects with backoff and jitter until `stop` is set."""
        import aiomqtt

        self._loop = asyncio.get_running_loop()
        cross_process = await self._in_pool(self._with_app, _start_listener)
        if self.tick is None:
            self.tick = TICK_SECONDS if cross_process else TICK_SECONDS_LOCAL
        rng = random.Random()
        pause = RECONNECT_MIN_SECONDS
        while not stop.is_set():
            try:
                async with aiomqtt.Client(
                    self.broker.host, self.broker.port, username=self.broker.username,
                    password=self.broker.password, identifier=self.identifier,
                    protocol=aiomqtt.ProtocolVersion.V5 if self.protocol == "5" else aiomqtt.ProtocolVersion.V311,
                    keepalive=channel.KEEPALIVE_SECONDS,
                ) as client:
                    self._client = client
                    await self._subscribe(client)
                    pause = RECONNECT_MIN_SECONDS
                    self.connected.set()
                    _LOGGER.info("gateway %s connected to %s:%d", self.identifier, self.broker.host, self.broker.port)
                    await self._serve(client, stop)
            except aiomqtt.MqttError as err:
                _LOGGER.warning("gateway: broker connection lost (%s); reconnecting in about %.1f s", err, pause)
            finally:
                self.connected.clear()
                self._client = None
            if stop.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause / 2 + rng.uniform(0, pause / 2))
            pause = min(RECONNECT_MAX_SECONDS, pause * 2)
        for bridge_id in list(self._present):
            self._set_present(bridge_id, False)
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _subscribe(self, client: Any) -> None:
        share = f"$share/{self.group}/" if self.shared else ""
        filters = [f"{share}{self.prefix}/+/{kind}" for kind in (channel.RESULTS, channel.EVENTS, channel.HEARTBEAT)]
        # Every gateway follows presence (retained: all of it arrives on subscribe).
        filters.append(f"{self.prefix}/+/{channel.PRESENCE}")
        for name in filters:
            granted = await client.subscribe(name, qos=channel.QOS)
            codes = [getattr(code, "value", code) for code in granted]
            if any(code >= 0x80 for code in codes):
                raise GatewayError(f"the broker refused the subscription {name!r} (reason {codes[0]:#x}): "
                                   "check the gateway account's ACL")

    async def _serve(self, client: Any, stop: asyncio.Event) -> None:
        tasks = [asyncio.create_task(self._receive(client)), asyncio.create_task(self._pump(client)),
                 asyncio.create_task(self._ticks()), asyncio.create_task(stop.wait())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            chains = list(self._chains.values())  # work under way dies with the connection; bridges re-send
            for task in [*tasks, *chains]:
                task.cancel()
            await asyncio.gather(*tasks, *chains, return_exceptions=True)

    # ------------------------------------------------------------------ up: bridge -> cloud
    async def _receive(self, client: Any) -> None:
        async for message in client.messages:
            parsed = channel.parse_topic(self.prefix, str(message.topic))
            if parsed is None:
                continue
            bridge_id, kind = parsed
            try:
                payload = json.loads(message.payload)
            except (TypeError, ValueError):
                _LOGGER.warning("bridge %s: %s message is not JSON; dropped", bridge_id, kind)
                continue
            if not isinstance(payload, dict):
                continue
            if kind == channel.PRESENCE:
                self._in_order(bridge_id, self._presence(bridge_id, payload))
            elif kind in (channel.RESULTS, channel.EVENTS, channel.HEARTBEAT):
                self._in_order(bridge_id, self._up(client, bridge_id, kind, payload))

    def _in_order(self, key: str, work: Any) -> None:
        """Runs `work` after the previous work of the same key: one bridge's messages in their order,
        different bridges' side by side (as many as the pool has threads)."""
        previous = self._chains.get(key)

        async def chained() -> None:
            if previous is not None:
                with contextlib.suppress(Exception):
                    await previous
            try:
                await work
            except Exception as err:  # one bad message must not stop the gateway
                _LOGGER.warning("%s: %s (%s); the bridge sends it again", key, type(err).__name__, err)

        task = asyncio.get_running_loop().create_task(chained())
        self._chains[key] = task
        task.add_done_callback(lambda done: self._chains.pop(key, None) if self._chains.get(key) is done else None)

    async def _up(self, client: Any, bridge_id: str, kind: str, payload: dict[str, Any]) -> None:
        ack = await self._in_pool(self._with_app, _apply_up, bridge_id, kind, payload)
        self.handled += 1
        if ack is not None:
            await client.publish(channel.topic(self.prefix, bridge_id, channel.ACKS), json.dumps(ack),
                                 qos=channel.QOS)

    async def _presence(self, bridge_id: str, payload: dict[str, Any]) -> None:
        state, session = payload.get("state"), payload.get("session")
        if state not in (channel.ONLINE, channel.OFFLINE) or not isinstance(session, int):
            return
        self._set_present(bridge_id, state == channel.ONLINE)
        changed = await self._in_pool(self._with_app, _apply_presence, bridge_id, state, session)
        if state == channel.ONLINE and changed:
            # A new connection: what the previous one held comes back now (one gateway does it).
            self._mark_due(bridge_id, resume=True)
        elif state == channel.ONLINE:
            self._mark_due(bridge_id)

    # ------------------------------------------------------------------ down: cloud -> bridge
    async def _ticks(self) -> None:
        while True:
            await asyncio.sleep(self.tick or TICK_SECONDS)
            if not self._present:
                continue
            due = await self._in_pool(self._with_app, _due_bridges)
            for bridge_id in due:
                if bridge_id in self._present:
                    self._mark_due(bridge_id)

    async def _pump(self, client: Any) -> None:
        while True:
            await self._due_event.wait()
            self._due_event.clear()
            due, self._due = self._due, set()
            resume, self._resume = self._resume & due, self._resume - due
            for bridge_id in due:
                if bridge_id in self._present:
                    self._in_order(f"claim {bridge_id}", self._hand_out(client, bridge_id, bridge_id in resume))

    async def _hand_out(self, client: Any, bridge_id: str, resume: bool) -> None:
        claimed = await self._in_pool(self._with_app, _claim, bridge_id, resume)
        for command in claimed:
            await client.publish(channel.topic(self.prefix, bridge_id, channel.COMMANDS), json.dumps(command),
                                 qos=channel.QOS)
        if len(claimed) >= CLAIM_LIMIT:
            self._mark_due(bridge_id)  # more are waiting


# ---------------------------------------------------------------------- service calls (in the pool)
def _start_listener() -> bool:
    from provider.services import wakeups

    return wakeups.start_listener()


def _due_bridges() -> set[str]:
    from provider.extensions import db
    from provider.services import commands

    try:
        return commands.bridges_with_due_commands()
    finally:
        db.session.rollback()


def _claim(bridge_id: str, resume: bool) -> list[dict[str, Any]]:
    from provider.extensions import db
    from provider.services import commands

    claimed = commands.claim(bridge_id, CLAIM_LIMIT, resume=resume)
    wire = [commands.to_wire(command) for command in claimed]
    db.session.commit()
    return wire


def _apply_presence(bridge_id: str, state: str, session: int) -> bool | None:
    """None: no such bridge (a removed one's retained message)."""
    from provider.extensions import db
    from provider.models import Bridge
    from provider.services import bridges

    bridge = db.session.get(Bridge, bridge_id)
    if bridge is None:
        return None
    changed = (bridges.presence_online if state == channel.ONLINE else bridges.presence_offline)(bridge, session)
    db.session.commit()
    return changed


def _apply_up(bridge_id: str, kind: str, payload: dict[str, Any]) -> dict[str, Any] | None:
    """Applies one up-message through the HTTP bridge API's schemas and services; returns the ack to send."""
    from marshmallow import ValidationError

    from provider.errors import ApiError
    from provider.extensions import db
    from provider.models import Bridge
    from provider.schemas.bridge import events_schema, heartbeat_schema, result_schema
    from provider.services import bridges, commands, lock_reports

    bridge = db.session.get(Bridge, bridge_id)
    if bridge is None:
        return None
    ack: dict[str, Any] = {"type": kind}
    try:
        if kind == channel.RESULTS:
            command_id = str(payload.pop("command_id", ""))[:64]
            ack["command_id"] = command_id
            body = result_schema.load(payload)
            ack["duplicate"] = commands.report_result(
                bridge, command_id, succeeded=body["status"] == "succeeded",
                error_code=body["error_code"], message=body["message"])
        elif kind == channel.EVENTS:
            ack["batch_id"] = str(payload.pop("batch_id", ""))[:64]
            body = events_schema.load(payload)
            ack["accepted"], ack["duplicates"] = lock_reports.accept_events(bridge, body["events"])
        else:
            lock_reports.heartbeat(bridge, heartbeat_schema.load(payload)["locks"])
            ack = {}
        bridges.touch(bridge)
        db.session.commit()
    except ValidationError as err:
        db.session.rollback()
        ack.update(error_code="INVALID_REQUEST", message="The message body is invalid.", errors=err.messages)
    except ApiError as err:
        db.session.rollback()
        ack.update(error_code=err.error_code, message=err.message)
    return ack or None


# ---------------------------------------------------------------------- entry point
def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="provider bridge-gateway", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mqtt-url", default=os.environ.get("MQTT_URL"),
                        help="mqtt://user:password@host:1883 (default: $MQTT_URL)")
    parser.add_argument("--group", default=os.environ.get("MQTT_GATEWAY_GROUP", DEFAULT_GROUP),
                        help="shared-subscription group of the gateways (default: gateways)")
    parser.add_argument("--no-shared", action="store_true",
                        help="plain subscriptions, for a broker without MQTT 5 shared subscriptions "
                             "(then every gateway applies every message: harmless, but run only one)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--protocol", choices=("5", "3.1.1"), default=os.environ.get("MQTT_PROTOCOL", "5"),
                        help="MQTT version (3.1.1 for NATS's MQTT gateway: implies --no-shared)")
    args = parser.parse_args(argv)
    if not args.mqtt_url:
        parser.error("set MQTT_URL (or --mqtt-url)")
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from provider import create_app

    app = create_app({"PROVIDER_MIGRATIONS": False})
    prefix = os.environ.get("MQTT_TOPIC_PREFIX", channel.DEFAULT_PREFIX)
    gateway = Gateway(app, BrokerAddress.parse(args.mqtt_url), prefix=prefix, group=args.group,
                      threads=args.threads, shared=not args.no_shared and args.protocol == "5",
                      protocol=args.protocol)

    async def _run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await gateway.run(stop)

    asyncio.run(_run())


if __name__ == "__main__":
    main()
