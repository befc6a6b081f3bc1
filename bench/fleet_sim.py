"""Simulated bridges for `bench.fleet`: light clients, many per process.

    python -m bench.fleet_sim mqtt --bridges FILE --slice 0/4 --port 1883 --status DIR
    python -m bench.fleet_sim http --bridges FILE --slice 0/4 --url http://127.0.0.1:8081 --status DIR

FILE holds [[bridge_id, token, lock_id], ...]. Each simulated bridge answers
its commands the way the agent does, with a result at once (its one lock is
simulated: no BLE), and heartbeats its lock. `mqtt`: one MQTT connection per
bridge with the agent's will and presence; `http`: one long-poll at a time per
bridge, as the agent's poll loop. The process writes its counters to
DIR/<slice>.json every second and the receipt time of every command to
DIR/<slice>.received (command id, wall-clock seconds) when it stops (SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import time
from pathlib import Path
from typing import Any

from bridge_contract import mqtt as channel

HEARTBEAT_SECONDS = 60.0
CONNECTS_PER_SECOND = 300  # per process: a fleet comes up over time, not in one burst


class Counters:
    def __init__(self) -> None:
        self.connected = 0
        self.waiting = 0  # http: polls outstanding
        self.commands = 0
        self.errors = 0
        self.received: list[tuple[str, float]] = []


async def _mqtt_bridge(port: int, bridge_id: str, token: str, lock_id: str, counters: Counters,
                       stop: asyncio.Event) -> None:
    import aiomqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    session = time.time_ns() // 1_000_000
    topic = lambda kind: channel.topic(channel.DEFAULT_PREFIX, bridge_id, kind)  # noqa: E731
    offline = json.dumps({"state": channel.OFFLINE, "session": session})
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 3600
    try:
        async with aiomqtt.Client(
            "127.0.0.1", port, username=bridge_id, password=token, identifier=channel.client_id(bridge_id),
            protocol=aiomqtt.ProtocolVersion.V5, clean_start=False, properties=properties,
            keepalive=channel.KEEPALIVE_SECONDS, timeout=60,
            will=aiomqtt.Will(topic(channel.PRESENCE), offline, qos=1, retain=True),
        ) as client:
            for kind in channel.DOWN_TOPICS:
                await client.subscribe(topic(kind), qos=1)
            await client.publish(topic(channel.PRESENCE), json.dumps({"state": channel.ONLINE, "session": session}),
                                 qos=1, retain=True)
            await client.publish(topic(channel.HEARTBEAT), json.dumps({"locks": [{"lock_id": lock_id, "online": True}]}),
                                 qos=1)
            counters.connected += 1

            async def receive() -> None:
                async for message in client.messages:
                    if str(message.topic).endswith("/" + channel.COMMANDS):
                        command = json.loads(message.payload)
                        counters.received.append((command["command_id"], time.time()))
                        counters.commands += 1
                        await client.publish(topic(channel.RESULTS), json.dumps(
                            {"command_id": command["command_id"], "status": "succeeded"}), qos=1)

            receiving = asyncio.create_task(receive())
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), HEARTBEAT_SECONDS)
            receiving.cancel()
            counters.connected -= 1
    except aiomqtt.MqttError:
        counters.errors += 1


async def _http_bridge(session: Any, url: str, token: str, counters: Counters, stop: asyncio.Event) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    counters.connected += 1
    while not stop.is_set():
        try:
            counters.waiting += 1
            try:
                async with session.get(f"{url}/bridge/v1/commands?wait=25", headers=headers) as response:
                    body = await response.json()
            finally:
                counters.waiting -= 1
            for command in body.get("commands", []):
                counters.received.append((command["command_id"], time.time()))
                counters.commands += 1
                async with session.post(f"{url}/bridge/v1/commands/{command['command_id']}/result",
                                        json={"status": "succeeded"}, headers=headers) as response:
                    await response.read()
        except Exception:  # counted; a real agent backs off, so do we
            counters.errors += 1
            await asyncio.sleep(1)


async def _main(args: argparse.Namespace) -> None:
    index, parts = (int(x) for x in args.slice.split("/"))
    everything = json.loads(Path(args.bridges).read_text())
    mine = everything[index::parts]
    counters = Counters()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    status = Path(args.status)

    async def report() -> None:
        while not stop.is_set():
            (status / f"{index}.json").write_text(json.dumps(
                {"connected": counters.connected, "waiting": counters.waiting, "commands": counters.commands,
                 "errors": counters.errors, "bridges": len(mine)}))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)

    reporter = asyncio.create_task(report())
    tasks = []
    session = None
    if args.mode == "http":
        import aiohttp

        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                        timeout=aiohttp.ClientTimeout(total=60))
    for number, (bridge_id, token, lock_id) in enumerate(mine):
        if args.mode == "mqtt":
            tasks.append(asyncio.create_task(_mqtt_bridge(args.port, bridge_id, token, lock_id, counters, stop)))
        else:
            tasks.append(asyncio.create_task(_http_bridge(session, args.url, token, counters, stop)))
        if number % CONNECTS_PER_SECOND == CONNECTS_PER_SECOND - 1:
            await asyncio.sleep(1.0)
    await stop.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if session is not None:
        await session.close()
    reporter.cancel()
    (status / f"{index}.received").write_text("\n".join(f"{cid} {at:.6f}" for cid, at in counters.received))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("mqtt", "http"))
    parser.add_argument("--bridges", required=True)
    parser.add_argument("--slice", default="0/1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--url", default="")
    parser.add_argument("--status", required=True)
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
