"""Faults of the MQTT channel: the broker killed with -9 under load and restarted (bounded; make chaos runs more)."""

from __future__ import annotations

import asyncio

import pytest

from provider.extensions import db
from provider.models import Command, Lock
from provider.services import commands
from tests.mqtt.world import until
from tests.provider.devices.conftest import make_site

BRIDGES = 3
PER_PHASE = 4


def _enqueue(locks: list[Lock], tag: str) -> list[str]:
    ids = [commands.enqueue(lock, "set_time", {"timezone": "UTC"}, idempotency_key=f"{tag}-{lock.id}-{n}",
                            ttl_seconds=600).id for lock in locks for n in range(PER_PHASE)]
    db.session.commit()
    return ids


@pytest.mark.parametrize("channel_broker", ["mosquitto"], indirect=True)
def test_broker_killed_and_restarted_loses_and_repeats_no_command(app, account, world, channel_broker):
    sites = [make_site(app, account, count=1) for _ in range(BRIDGES)]
    for site in sites:
        world.accounts.provision(site.bridge.id, site.token)
    apis = [world.bridge_api(site.token) for site in sites]
    for api in apis:
        world.connect(api)
    executed: set[str] = set()  # what the bridges ran: a re-delivery is skipped, as the agent's journal does
    reported: set[str] = set()

    async def serve(api) -> None:
        while True:
            for command in await api.commands(20):
                if command.command_id in executed:
                    continue
                executed.add(command.command_id)
                asyncio.get_running_loop().create_task(_report(api, command.command_id))

    async def _report(api, command_id: str) -> None:
        await api.report_result(command_id, {"status": "succeeded"})
        reported.add(command_id)

    servers = [world.run(serve(api)) for api in apis]
    try:
        before = _enqueue([site.locks[0] for site in sites], "before")
        world.until(lambda: set(before) <= reported, 60)

        during = _enqueue([site.locks[0] for site in sites], "during")
        channel_broker.broker.kill()  # under load: some of `during` are on their way
        outage = _enqueue([site.locks[0] for site in sites], "outage")
        channel_broker.broker.start()
        world.until(lambda: set(during + outage) <= reported, 120)

        until(lambda: all(db.session.get(Command, cid).status == "succeeded" for cid in before + during + outage),
              world)
        assert executed == set(before + during + outage)  # none lost, none invented
        assert all(api.connections >= 2 for api in apis)  # every bridge came back by itself
    finally:
        for server in servers:
            server.cancel()
        for api in apis:
            world.run(api.aclose()).result(10)
