"""The agent over real LockClients and virtual locks on the Bumble link (the provider still a fake)."""

from __future__ import annotations

import asyncio
import json
import stat

import pytest

from firmware_bridge.agent.agent import Agent
from firmware_bridge.agent.config import AgentConfig
from firmware_bridge.agent.journal import Journal
from firmware_bridge.agent.model import LockInfo
from firmware_bridge.agent.virtual_backend import (
    CONTROL_FILE,
    FAULTS,
    VirtualBackend,
    control_request,
    find_control,
)
from tests.firmware.engine import require_c_engine
from tests.firmware_bridge.agent.fakes import FakeProvider, agent_config

# Every scenario on both firmwares: the Python simulator and the C core (firmware/).
pytestmark = pytest.mark.parametrize("engine", ["python", "c"])


@pytest.fixture(autouse=True)
def _engine_available(engine):
    if engine == "c":
        require_c_engine()

PIN = "482913"


def _infos(n: int = 2) -> list[LockInfo]:
    return [
        LockInfo(
            lock_id=f"lock-{i}",
            name=f"Door {i}",
            ble_address=f"D0:4C:4B:00:00:{i:02X}",
            device_key=bytes([i]) * 16,
            timezone="UTC",
        )
        for i in range(1, n + 1)
    ]


def _config(tmp_path) -> AgentConfig:
    return agent_config(tmp_path, heartbeat_interval=0.2, idle_disconnect=0.5, connect_attempts=2,
                        reconnect_max=0.5, retry_max=0.1)


async def _session(tmp_path, provider, body, engine="python") -> None:
    backend = VirtualBackend(tmp_path, engine=engine)
    agent = Agent(
        _config(tmp_path), backend, api=provider, journal=Journal(tmp_path / "journal.sqlite3")
    )
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    await asyncio.wait_for(agent.ready.wait(), 10)
    try:
        await body(agent, backend)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def test_commands_keypad_and_restart_over_the_bumble_link(tmp_path, engine):
    infos = _infos()
    provider = FakeProvider(infos)
    put = {
        "access_code_id": "ac-1",
        "slot": 1,
        "code": PIN,
        "device_name": "Guest",
        "starts_at": None,
        "ends_at": None,
    }
    provider.desired["lock-1"] = [put]

    async def first(agent, backend):
        provider.queue_command("c1", "lock-1", "unlock", action_id="a1")
        provider.queue_command("c2", "lock-2", "unlock", action_id="a2")
        provider.queue_command("c3", "lock-1", "put_code", **put)
        await provider.wait_for(lambda: {"c1", "c2", "c3"} <= set(provider.results), 15)
        assert backend.lock("lock-1").bolt.name == "UNLOCKED"
        assert backend.lock("lock-2").bolt.name == "UNLOCKED"
        control = find_control([tmp_path])
        assert len(control) == 1
        assert stat.S_IMODE((tmp_path / CONTROL_FILE).stat().st_mode) == 0o600
        answer = await control_request(
            control, {"op": "enter_pin", "lock": "Door 1", "pin": "0000"}
        )
        assert answer["ok"] and answer["lock_id"] == "lock-1"
        answer = await control_request(control, {"op": "enter_pin", "lock": "lock-1", "pin": PIN})
        assert answer["event"] == "UnlockedEvent"
        assert (await control_request(control, {"op": "enter_pin", "lock": "nope", "pin": PIN}))[
            "ok"
        ] is False
        bad = await control_request([{**control[0], "token": "guess"}], {"op": "locks"})
        assert bad == {"ok": False, "error": "bad control token"}
        await provider.wait_for(
            lambda: (
                any(e["type"] == "incorrect_pin" for e in provider.events.values())
                and any(e["data"].get("source") == "keypad" for e in provider.events.values())
            ),
            10,
        )
        await control_request(control, FAULTS["jam"](None) | {"lock": "lock-2"})
        provider.queue_command("c4", "lock-2", "lock", action_id="a4")
        await provider.wait_for(lambda: "c4" in provider.results, 15)

    asyncio.run(asyncio.wait_for(_session(tmp_path, provider, first, engine), 60))
    assert all(provider.results[c]["status"] == "succeeded" for c in ("c1", "c2", "c3"))
    assert provider.results["c4"]["error_code"] == "LOCK_JAMMED"
    seqs = [seq for lock_id, seq in provider.event_order if lock_id == "lock-1"]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
    assert not (tmp_path / CONTROL_FILE).exists()
    saved = (tmp_path / "virtual-locks" / "lock-1.bin").read_bytes()
    assert PIN.encode() not in saved  # the lock's "flash" is encrypted with its key

    # Restart: the virtual locks come back as they were; nothing re-applied, no event re-sent.
    events_before = dict(provider.events)
    puts_before = len([c for c in provider.result_posts if c == "c3"])

    async def second(agent, backend):
        assert backend.lock("lock-1").codes[1].pin == PIN
        assert backend.lock("lock-1").bolt.name == "UNLOCKED"
        provider.queue_command("c3", "lock-1", "put_code", **put)  # redelivered after the restart
        await provider.wait_for(lambda: provider.result_posts.count("c3") == puts_before + 1, 15)
        await asyncio.sleep(0.3)

    provider.rebind()
    provider.lock_infos = [
        LockInfo(
            **{
                **i.__dict__,
                "last_event_seq": max(
                    [s for (lid, s) in provider.events if lid == i.lock_id], default=0
                ),
            }
        )
        for i in infos
    ]
    asyncio.run(asyncio.wait_for(_session(tmp_path, provider, second, engine), 60))
    assert provider.events.items() >= events_before.items()
    assert provider.duplicate_events == 0
    assert provider.events[("lock-2", 2)]["type"] == "jammed"  # read after the restart, not lost
    assert json.dumps(provider.results["c3"]) == json.dumps(
        {"status": "succeeded", "error_code": None, "message": None}
    )


def test_link_dropped_mid_response_unlock_runs_once(tmp_path, engine):
    infos = _infos(1)
    provider = FakeProvider(infos)

    async def body(agent, backend):
        await provider.wait_for(lambda: provider.code_syncs, 15)
        lock = backend.lock("lock-1")
        lock.faults.disconnect_mid_response = True  # the lock acts, the answer is cut off
        provider.queue_command("c1", "lock-1", "unlock", action_id="a1")
        await provider.wait_for(lambda: "c1" in provider.results, 30)
        lock.faults.disconnect_mid_command = True  # the link drops before the lock acts
        provider.queue_command("c2", "lock-1", "lock", action_id="a2")
        await provider.wait_for(lambda: "c2" in provider.results, 30)
        await provider.wait_for(lambda: len(provider.events) >= 2, 15)

    asyncio.run(asyncio.wait_for(_session(tmp_path, provider, body, engine), 90))
    assert provider.results["c1"]["status"] == "succeeded"
    assert provider.results["c2"]["status"] == "succeeded"
    moves = [e["type"] for e in provider.events.values() if e["type"] in ("locked", "unlocked")]
    assert moves == ["unlocked", "locked"]  # each command moved the bolt exactly once


def test_restored_lock_log_never_runs_behind_what_the_cloud_accepted(tmp_path, engine):
    """State saved before a kill -9 can be older than the cloud's last event: no seq reuse."""
    info = _infos(1)[0]

    async def run_with(last_event_seq: int) -> int:
        backend = VirtualBackend(tmp_path, control=False, engine=engine)
        await backend.start([LockInfo(**{**info.__dict__, "last_event_seq": last_event_seq})], lambda _: None)
        try:
            lock = backend.lock(info.lock_id)
            lock.enter_pin("0000")  # one event: seq head + 1
            backend.save_all()
            return lock.head_seq
        finally:
            await backend.close()

    async def body() -> None:
        assert await run_with(0) == 1  # saved with its log at seq 1
        # The cloud had accepted up to 9 (events the save never saw): continue after 9.
        assert await run_with(9) == 10
        # Saved state ahead of the cloud (events not forwarded yet) is kept as it is.
        assert await run_with(3) == 11

    asyncio.run(body())


def test_stopping_with_open_links_leaves_no_radio_exchange_behind(tmp_path):
    """Ctrl-C on the sandbox: the links close, the locks start advertising again and stop;
    no HCI exchange is cut off (Bumble would log InvalidStateError) and no task is left."""
    provider = FakeProvider(_infos())
    errors: list[dict] = []

    async def scenario():
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: errors.append(context))

        async def connected(agent, backend):
            provider.queue_command("c1", "lock-1", "unlock", action_id="a1")
            provider.queue_command("c2", "lock-2", "unlock", action_id="a2")
            await provider.wait_for(lambda: {"c1", "c2"} <= set(provider.results), 15)
            assert all(worker.connected for worker in agent.workers.values())

        await _session(tmp_path, provider, connected)
        leftover = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        assert leftover == []

    asyncio.run(scenario())  # _session bounds every wait
    assert errors == []


def test_code_programmed_at_the_keypad_is_kept_and_reported(tmp_path, engine):
    """The keypad's master mode adds a code the cloud did not create: the bridge reports it
    (unmanaged) at once and leaves it on the lock."""
    provider = FakeProvider(_infos(1))

    async def body(agent, backend):
        await provider.wait_for(lambda: provider.code_syncs, 15)
        control = find_control([tmp_path])
        answer = await control_request(control, {"op": "program_code", "lock": "lock-1",
                                                 "master": "24681357", "pin": "8642"})
        assert answer["ok"] and answer["slot"] == backend.lock("lock-1").capacity
        await provider.wait_for(lambda: len(provider.code_syncs) >= 2, 15)
        assert backend.lock("lock-1").codes[answer["slot"]].pin == "8642"

    asyncio.run(asyncio.wait_for(_session(tmp_path, provider, body, engine), 60))
    [found] = provider.code_syncs[-1][1]["unmanaged"]
    assert (found["code"], found["name"]) == ("8642", None)


def test_heartbeat_carries_what_the_lock_reports_about_itself(tmp_path, engine):
    provider = FakeProvider(_infos(1))

    def reported():
        return [entry for beat in provider.heartbeats for entry in beat if entry.get("firmware_version")]

    async def body(agent, backend):
        await provider.wait_for(reported, 15)

    asyncio.run(asyncio.wait_for(_session(tmp_path, provider, body, engine), 60))
    entry = reported()[-1]
    assert entry["firmware_version"] == "1.0.0"
    # GET_SETTINGS: auto-lock off, the keypad on the lock's batteries.
    assert (entry["auto_lock_enabled"], entry["auto_lock_delay_seconds"]) == (False, 0)
    assert "keypad_battery_level" not in entry


def test_the_offline_secret_and_revocations_reach_the_lock_and_its_uses_come_back(tmp_path, engine):
    """The reconciliation installs the secret the cloud derives under and delivers the
    revocations it queued; a use at the keypad comes back as an offline_code_used event."""
    import time

    from firmware_bridge.protocol import OfflineKind
    from firmware_bridge.protocol import offline as scheme

    secret, hour = bytes(range(100, 132)), int(time.time()) // 3600
    revoked, _ = scheme.issue(secret, scheme.Window(OfflineKind.HOURLY, hour, hour + 30))
    kept, kept_pin = scheme.issue(secret, scheme.Window(OfflineKind.HOURLY, hour, hour + 30), [0])
    revoked_pin = scheme.derive_pin(secret, revoked)
    provider = FakeProvider(_infos(1))
    provider.offline["lock-1"] = {"generation": 7, "secret": secret.hex()}
    provider.revocations["lock-1"] = [{"access_code_id": "gone", "kind": "hourly", "start_hour": hour,
                                       "end_hour": hour + 30, "counter": 0, "generation": 7}]

    def synced():
        return [report for _, report in provider.code_syncs if report.get("offline")]

    async def body(agent, backend):
        await provider.wait_for(synced, 15)
        control = find_control([tmp_path])
        denied = await control_request(control, {"op": "enter_pin", "lock": "lock-1", "pin": revoked_pin})
        assert denied["event"] == "AccessDeniedEvent", denied
        opened = await control_request(control, {"op": "enter_pin", "lock": "lock-1", "pin": kept_pin})
        assert opened["event"] == "UnlockedEvent", opened
        await provider.wait_for(lambda: any(e["type"] == "offline_code_used" for e in provider.events.values()), 15)

    asyncio.run(asyncio.wait_for(_session(tmp_path, provider, body, engine), 60))
    [report] = synced()[:1]
    assert report["offline"] == {"generation": 7} and report["revoked"] == ["gone"]
    [used] = [e for e in provider.events.values() if e["type"] == "offline_code_used"]
    assert used["data"] == {"generation": 7, "kind": "hourly", "start_hour": hour, "end_hour": hour + 30,
                            "counter": kept.counter}
    [refusal] = [e for e in provider.events.values() if e["type"] == "access_denied"]
    assert refusal["data"]["reason"] == "revoked" and refusal["data"]["slot"] is None
