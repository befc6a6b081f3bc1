"""Two `provider bridge-gateway` processes share the work; one killed with -9 loses nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from firmware_bridge.agent.mqtt_api import MqttProviderApi
from provider.bridge_api.server import BridgeServer
from provider.extensions import db
from provider.models import Command, Lock
from provider.services import commands
from tests.loop_thread import LoopThread
from tests.provider.devices.conftest import make_site


def _gateway(app, channel_broker, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "SECRET_KEY": app.config["SECRET_KEY"], "PROVIDER_VAR_DIR": str(log.parent),
           "MQTT_URL": channel_broker.broker.gateway_url, "MQTT_PROTOCOL": channel_broker.protocol,
           "PROVIDER_ENV": "sandbox"}
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "provider.bridge_gateway"], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _wait(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _enqueue(lock: Lock, count: int, tag: str) -> list[str]:
    ids = [commands.enqueue(lock, "set_time", {"timezone": "UTC"}, idempotency_key=f"{tag}-{n}",
                            ttl_seconds=600).id for n in range(count)]
    db.session.commit()
    return ids


def test_a_killed_gateway_is_replaced_without_loss(app, account, channel_broker, tmp_path):
    site = make_site(app, account, count=1)
    lock = site.locks[0]
    channel_broker.accounts.provision(site.bridge.id, site.token)
    logs = [tmp_path / "gateway1.log", tmp_path / "gateway2.log"]
    gateways = [_gateway(app, channel_broker, log) for log in logs]
    world = LoopThread()
    server = BridgeServer(app, threads=2)
    url = f"http://127.0.0.1:{world.run(server.start()).result(20)}"
    api = MqttProviderApi(url + "/bridge/v1", site.token, channel_broker.broker.url, reconnect_spread=0.5,
                          ack_timeout=2, protocol=channel_broker.protocol)
    try:
        for log in logs:
            _wait(lambda log=log: "connected to" in log.read_text(), f"{log.name}: gateway did not connect")
        world.run(api.locks()).result(20)
        world.run(api.wait_connected(20)).result(25)

        async def execute(expected: list[str], kill_first: bool) -> None:
            """Receives the expected commands, reports them all at once (killing gateway 1 meanwhile)."""
            received: set[str] = set()
            while not set(expected) <= received:
                received |= {command.command_id for command in await api.commands(20)}
            reports = [asyncio.create_task(api.report_result(command_id, {"status": "succeeded"}))
                       for command_id in received]
            if kill_first:
                os.killpg(gateways[0].pid, signal.SIGKILL)
            await asyncio.gather(*reports)

        first = _enqueue(lock, 5, "before")
        world.run(execute(first, kill_first=True)).result(120)
        gateways[0].wait(10)
        second = _enqueue(lock, 5, "after")  # only gateway 2 is left to hand these out
        world.run(execute(second, kill_first=False)).result(120)

        db.session.rollback()
        statuses = {row.id: row.status for row in db.session.scalars(db.select(Command))}
        assert {command_id: statuses[command_id] for command_id in first + second} == {
            command_id: "succeeded" for command_id in first + second}
    finally:
        world.run(api.aclose()).result(10)
        world.run(server.stop()).result(20)
        world.close()
        for gateway in gateways:
            if gateway.poll() is None:
                gateway.terminate()
                gateway.wait(10)
