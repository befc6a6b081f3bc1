"""The MQTT bridge channel end to end on a real Mosquitto: gateway, agent transport, presence."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

import pytest

from firmware_bridge.agent.provider_api import ProviderError
from provider.extensions import db
from provider.models import Action, Bridge, Lock
from provider.services import actions, commands, rate_limits
from tests.mqtt.world import World, until
from tests.provider.devices.conftest import make_site


def _event_types(events: Any, device_id: str) -> list[str]:
    return [event.event_type for event in events(device_id)]


def test_commands_results_and_events_travel_over_mqtt(app, world, account, events):
    site = make_site(app, account, count=1, online=False)
    world.accounts.provision(site.bridge.id, site.token)
    api = world.bridge_api(site.token)
    world.connect(api)
    try:
        until(lambda: db.session.get(Bridge, site.bridge.id).online, world)
        assert "bridge.online" in _event_types(events, site.bridge.id)
        # The guide's RSSI (-68 dBm) as signal_quality, as over HTTP.
        world.run(api.heartbeat([{"lock_id": site.lock_ids[0], "online": True, "battery_level": 42,
                                  "signal_quality": -68}])).result(10)
        until(lambda: db.session.get(Lock, site.lock_ids[0]).battery_level == 42, world)
        lock = db.session.get(Lock, site.lock_ids[0])
        assert (lock.rssi_dbm, lock.signal_quality) == (-68, 64)

        action = actions.request_action(account.id, site.lock_ids[0], "unlock",
                                        limiter=rate_limits.DatabaseRateLimiter())
        db.session.commit()
        (command,) = world.run(api.commands(20)).result(30)
        assert (command.type, command.lock_id) == ("unlock", site.lock_ids[0])

        first = world.run(api.report_result(command.command_id, {"status": "succeeded"})).result(30)
        again = world.run(api.report_result(command.command_id, {"status": "succeeded"})).result(30)
        assert (first["duplicate"], again["duplicate"]) == (False, True)
        db.session.expire_all()
        assert db.session.get(Action, action.id).status == "success"

        keypad = {"lock_id": site.lock_ids[0], "lock_seq": 1, "type": "locked",
                  "occurred_at": "2026-01-01T00:00:00Z", "data": {"source": "manual"}}
        assert world.run(api.post_events([keypad])).result(30)["accepted"] == 1
        assert world.run(api.post_events([keypad])).result(30)["duplicates"] == 1
    finally:
        world.run(api.aclose()).result(10)


def test_a_command_queued_while_the_bridge_is_away_arrives_when_it_is_back(app, world, account):
    site = make_site(app, account, count=1, online=False)
    world.accounts.provision(site.bridge.id, site.token)
    api = world.bridge_api(site.token)
    world.connect(api)
    world.run(api.aclose()).result(10)
    until(lambda: not db.session.get(Bridge, site.bridge.id).online, world)

    # A deferrable command (a bolt command would be refused at once for an offline bridge).
    queued = commands.enqueue(db.session.get(Lock, site.lock_ids[0]), "set_time", {"timezone": "UTC"},
                              idempotency_key="while-away", ttl_seconds=600)
    db.session.commit()
    back = world.bridge_api(site.token)
    world.connect(back)
    try:
        received = world.run(back.commands(20)).result(30)
        assert [command.command_id for command in received] == [queued.id]
    finally:
        world.run(back.aclose()).result(10)


def test_a_bridge_cannot_report_for_another_bridges_lock(app, world, account, other_account, events):
    mine = make_site(app, account, count=1, online=False)
    theirs = make_site(app, other_account, count=1)
    world.accounts.provision(mine.bridge.id, mine.token)
    api = world.bridge_api(mine.token)
    world.connect(api)
    try:
        forged = {"lock_id": theirs.lock_ids[0], "lock_seq": 7, "type": "unlocked",
                  "occurred_at": "2026-01-01T00:00:00Z", "data": {"source": "keypad"}}
        with pytest.raises(ProviderError, match="NOT_FOUND"):
            world.run(api.post_events([forged])).result(30)
        assert "lock.action_completed" not in _event_types(events, theirs.lock_ids[0])
    finally:
        world.run(api.aclose()).result(10)


def _agent(world: World, token: str, state_dir: Any) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FIRMWARE_BRIDGE_TOKEN": token, "FIRMWARE_BRIDGE_RECONNECT_SPREAD": "0.5",
           "FIRMWARE_BRIDGE_MQTT_PROTOCOL": world.protocol}
    return subprocess.Popen(
        [sys.executable, "-m", "firmware_bridge.cli", "agent", "--provider-url", world.url, "--backend", "virtual",
         "--transport", "mqtt", "--mqtt-url", world.broker.url, "--state-dir", str(state_dir),
         "--heartbeat-interval", "2"],
        env=env, stdout=subprocess.DEVNULL, stderr=open(state_dir.parent / "agent.log", "ab"),
        start_new_session=True)


def test_a_killed_agent_takes_its_bridge_and_locks_offline_at_once(app, world, account, events, tmp_path):
    """The agent over MQTT unlocks a virtual lock; kill -9 it and its will reports it gone."""
    site = make_site(app, account, count=1, online=False)
    world.accounts.provision(site.bridge.id, site.token)
    (tmp_path / "agent").mkdir()
    agent = _agent(world, site.token, tmp_path / "agent")
    try:
        until(lambda: db.session.get(Lock, site.lock_ids[0]).online, world, timeout=60)
        action = actions.request_action(account.id, site.lock_ids[0], "unlock",
                                        limiter=rate_limits.DatabaseRateLimiter())
        db.session.commit()
        until(lambda: db.session.get(Action, action.id).status != "pending", world, timeout=60)
        assert db.session.get(Action, action.id).status == "success"
        assert db.session.get(Lock, site.lock_ids[0]).lock_state == "unlocked"

        os.killpg(agent.pid, signal.SIGKILL)
        agent.wait(10)
        until(lambda: not db.session.get(Lock, site.lock_ids[0]).online, world)
        assert _event_types(events, site.bridge.id)[-1] == "bridge.offline"
        assert _event_types(events, site.lock_ids[0])[-1] == "device.offline"
    finally:
        if agent.poll() is None:
            os.killpg(agent.pid, signal.SIGKILL)
            agent.wait(10)
