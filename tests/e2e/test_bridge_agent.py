"""The whole system, for real: `provider sandbox` (web, dispatcher, a bridge agent per seeded
bridge serving virtual locks on the Bumble link), driven the way Seam drives it.

Tests run in file order on one sandbox; the bridge-kill scenario comes last and leaves
the bridge back online.  Every wait is bounded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.seam import SeamApi, Webhooks, poll, served_lock_ids, sign_in, virtual_locks

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("live_sandbox"), pytest.mark.timeout(180)]

PIN = "482913"


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def seam(live_sandbox):
    tokens = sign_in(live_sandbox.base_url, "jane@example.com", "1234")
    api = SeamApi(live_sandbox.base_url, tokens["access_token"])
    locks = {lock["name"]: lock for lock in api.call("GET", "/locks").json()["locks"]}
    assert {"Front Door", "Back Door", "Garage"} <= set(locks)
    # The seeded locks say online before any agent runs: wait until the agent serves them
    # (a slow start-up otherwise eats the first action's wait), then for its first report.
    wanted = {locks[name]["lock_id"] for name in ("Back Door", "Garage")}
    poll(lambda: served_lock_ids(live_sandbox.var_dir), lambda served: wanted <= served, 90)
    for name in ("Back Door", "Garage"):
        lock_id = locks[name]["lock_id"]
        poll(lambda lock_id=lock_id: api.call("GET", f"/locks/{lock_id}").json(),
             lambda lock: lock.get("online") and lock.get("timezone") and lock.get("device_time"), 60)
    yield api, locks
    # Leave the shared sandbox as we found it: no code of ours on its locks.
    for name in ("Back Door", "Garage"):
        for code in api.call("GET", f"/locks/{locks[name]['lock_id']}/access_codes").json()["access_codes"]:
            api.call("DELETE", f"/access_codes/{code['access_code_id']}")


@pytest.fixture(scope="module")
def webhooks(live_sandbox):
    with Webhooks(live_sandbox.base_url) as hooks:
        yield hooks


def _bolt(live_sandbox, lock_id: str) -> str:
    answer = virtual_locks(live_sandbox.var_dir, {"op": "locks"})
    return next(lock["bolt"] for lock in answer["locks"] if lock["lock_id"] == lock_id)


def test_oauth_unlock_reaches_the_virtual_lock_and_the_webhook(live_sandbox, seam, webhooks):
    api, locks = seam
    lock_id = locks["Back Door"]["lock_id"]
    response = api.call("POST", f"/locks/{lock_id}/actions", json={"action": "unlock", "custom_id": "e2e-1"})
    assert response.status_code in (200, 201), response.text
    action = response.json()
    assert action["status"] == "pending"
    done = api.wait_action(lock_id, action["action_id"])
    assert done["status"] == "success", done
    assert _bolt(live_sandbox, lock_id) == "unlocked"
    event = webhooks.wait("lock.action_completed", lock_id=lock_id, performed_via="remote_api")
    assert event["_signature"] == "valid"
    assert event["data"]["status"] == "success"

    # Legacy shape: answers once the lock has acted.
    assert api.call("POST", f"/locks/{lock_id}/lock").json() == {"ok": True}
    assert _bolt(live_sandbox, lock_id) == "locked"
    assert api.call("POST", f"/locks/{lock_id}/unlock").json() == {"ok": True}
    assert _bolt(live_sandbox, lock_id) == "unlocked"
    assert api.call("POST", f"/locks/{lock_id}/lock").json() == {"ok": True}


def test_time_bound_code_on_the_keypad(live_sandbox, seam, webhooks):
    api, locks = seam
    lock_id = locks["Back Door"]["lock_id"]
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=8)
    response = api.call("POST", f"/locks/{lock_id}/access_codes", json={
        "code": PIN, "name": "E2E guest", "starts_at": _iso(starts), "ends_at": _iso(starts + timedelta(hours=1))})
    assert response.status_code in (200, 201), response.text
    code_id = response.json()["access_code_id"]
    created = webhooks.wait("access_code.created", access_code_id=code_id)
    assert created["_signature"] == "valid"
    codes = virtual_locks(live_sandbox.var_dir, {"op": "codes", "lock": lock_id})["codes"]
    assert [c["name"] for c in codes] == ["E2E guest"]

    # Before its window the lock itself refuses the PIN (checked while there is time left).
    if (starts - datetime.now(UTC)).total_seconds() > 1:
        early = virtual_locks(live_sandbox.var_dir, {"op": "enter_pin", "lock": lock_id, "pin": PIN})
        assert early["bolt"] == "LOCKED" and early["event"] != "UnlockedEvent"

    time.sleep(max(0.0, (starts - datetime.now(UTC)).total_seconds()) + 1.5)
    # Typed with the CLI a newcomer uses.
    typed = subprocess.run([sys.executable, "-m", "firmware_bridge.cli", "keypad", "--lock", "Back Door", PIN,
                            "--state-dir", str(live_sandbox.var_dir / "bridge")],
                           capture_output=True, text=True, timeout=30)
    assert typed.returncode == 0, typed.stderr
    assert "unlocked" in typed.stdout
    used = webhooks.wait("access_code.used", access_code_id=code_id)
    assert used["device_id"] == lock_id
    completed = webhooks.wait("lock.action_completed", lock_id=lock_id, performed_via="pin_code")
    assert completed["data"]["access_code_id"] == code_id

    virtual_locks(live_sandbox.var_dir, {"op": "enter_pin", "lock": lock_id, "pin": "0000"})
    wrong = webhooks.wait("access_code.incorrect_attempt", lock_id=lock_id)
    assert wrong["_signature"] == "valid"
    assert api.call("POST", f"/locks/{lock_id}/lock").json() == {"ok": True}


def _keypad_program(live_sandbox, lock: str, pin: str) -> subprocess.CompletedProcess[str]:
    """The owner programs a code at the lock itself (master mode), with the sandbox CLI."""
    return subprocess.run([sys.executable, "-m", "firmware_bridge.cli", "keypad-program", "--lock", lock,
                           "--master", "24681357", pin, "--state-dir", str(live_sandbox.var_dir / "bridge")],
                          capture_output=True, text=True, timeout=30)


def test_code_programmed_at_the_keypad_is_unmanaged_kept_converted_and_deleted(live_sandbox, seam, webhooks):
    api, locks = seam
    lock_id = locks["Garage"]["lock_id"]
    url = f"/locks/{lock_id}/access_codes"

    def unmanaged():
        return api.call("GET", f"{url}?is_managed=false").json()["access_codes"]

    def on_lock():
        return {c["slot"] for c in virtual_locks(live_sandbox.var_dir, {"op": "codes", "lock": lock_id})["codes"]}

    programmed = _keypad_program(live_sandbox, "Garage", "86420")
    assert programmed.returncode == 0, programmed.stderr
    [first] = poll(unmanaged, lambda codes: [c["code"] for c in codes] == ["86420"], 30)
    assert first["is_managed"] is False and first["status"] == "active"
    # The bridge read the table and left the code there; a second keypad code makes it read it
    # again: the first keeps its id and its slot.
    assert _keypad_program(live_sandbox, "Garage", "97531").returncode == 0
    codes = poll(unmanaged, lambda codes: len(codes) == 2, 30)
    assert first["access_code_id"] in {c["access_code_id"] for c in codes}
    second = next(c for c in codes if c["code"] == "97531")
    assert {first["slot"], second["slot"]} <= on_lock()

    converted = api.call("POST", f"/access_codes/{first['access_code_id']}/convert_to_managed")
    assert converted.status_code == 200 and converted.json()["is_managed"] is True
    mark = webhooks.mark()
    for code in (first, second):  # one managed now, one still unmanaged
        assert api.call("DELETE", f"/access_codes/{code['access_code_id']}").json()["status"] == "pending"
    for code in (first, second):
        webhooks.wait("access_code.deleted", since=mark, access_code_id=code["access_code_id"])
    assert api.call("GET", url).json()["access_codes"] == []
    assert not {first["slot"], second["slot"]} & on_lock()


def test_jam_fails_the_action(live_sandbox, seam):
    api, locks = seam
    lock_id = locks["Garage"]["lock_id"]
    assert virtual_locks(live_sandbox.var_dir, {"op": "fault", "name": "jam_next", "value": True,
                                                "lock": lock_id})["ok"]
    action = api.call("POST", f"/locks/{lock_id}/actions", json={"action": "unlock"}).json()
    done = api.wait_action(lock_id, action["action_id"])
    assert done["status"] == "error" or done["status"] == "failed", done
    assert "LOCK_JAMMED" in str(done)
    # The jam clears with the next good move.
    assert api.call("POST", f"/locks/{lock_id}/lock").json() == {"ok": True}


def test_battery_drop_reported(live_sandbox, seam, webhooks):
    api, locks = seam
    lock_id = locks["Garage"]["lock_id"]
    result = subprocess.run([sys.executable, "-m", "firmware_bridge.cli", "fault", "--lock", lock_id, "battery",
                             "12", "--state-dir", str(live_sandbox.var_dir / "bridge")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    low = webhooks.wait("battery.low", lock_id=lock_id)
    assert low["data"]["battery_level"] <= 12
    assert api.call("GET", f"/locks/{lock_id}").json()["battery_level"] <= 12


def test_clock_drift_reported_and_corrected(live_sandbox, seam, webhooks):
    api, locks = seam
    lock_id = locks["Garage"]["lock_id"]
    mark = webhooks.mark()
    assert virtual_locks(live_sandbox.var_dir, {"op": "skew_clock", "seconds": -7200, "lock": lock_id})["ok"]
    wrong = webhooks.wait("device.time_wrong", since=mark, lock_id=lock_id)
    assert wrong["data"]["drift_seconds"] < -7000
    # The agent set the lock's clock right after reporting it.
    lock = poll(lambda: api.call("GET", f"/locks/{lock_id}").json(),
                lambda current: abs((datetime.fromisoformat(current["device_time"].replace("Z", "+00:00"))
                                     - datetime.now(UTC)).total_seconds()) < 60, 20)
    assert abs((datetime.fromisoformat(lock["device_time"].replace("Z", "+00:00"))
                - datetime.now(UTC)).total_seconds()) < 60


def test_unreachable_lock_goes_offline_and_comes_back_by_itself(live_sandbox, seam, webhooks):
    api, locks = seam
    lock_id = locks["Garage"]["lock_id"]
    mark = webhooks.mark()
    # Out of range: the lock stops advertising for a while and its link drops.
    virtual_locks(live_sandbox.var_dir, {"op": "refuse_advertising", "seconds": 6, "lock": lock_id})
    virtual_locks(live_sandbox.var_dir, {"op": "disconnect", "lock": lock_id})
    virtual_locks(live_sandbox.var_dir, {"op": "set_door", "state": "open", "lock": lock_id})  # wakes the agent
    webhooks.wait("device.offline", timeout=20, since=mark, lock_id=lock_id)
    refused = api.call("POST", f"/locks/{lock_id}/actions", json={"action": "unlock"})
    assert refused.status_code == 409 and refused.json()["error_code"] == "DEVICE_OFFLINE"
    webhooks.wait("device.online", timeout=30, since=mark, lock_id=lock_id)
    assert poll(lambda: api.call("GET", f"/locks/{lock_id}").json(), lambda lock: lock["door_state"] == "open",
                10)["door_state"] == "open"  # the event logged while out of reach arrived
    virtual_locks(live_sandbox.var_dir, {"op": "set_door", "state": "closed", "lock": lock_id})


def test_bridge_killed_then_restarted_loses_nothing(live_sandbox, seam, webhooks):
    api, locks = seam
    lock_id = locks["Back Door"]["lock_id"]
    agent_pid = next(info["pid"] for info in _controls(live_sandbox)
                     if lock_id in _lock_ids(live_sandbox, info))
    before = {c["slot"] for c in virtual_locks(live_sandbox.var_dir, {"op": "codes", "lock": lock_id})["codes"]}

    # The gateway hangs (no heartbeats), then dies without a chance to clean up.
    mark = webhooks.mark()
    os.kill(agent_pid, signal.SIGSTOP)
    try:
        webhooks.wait("bridge.offline", timeout=30, since=mark)
        webhooks.wait("device.offline", timeout=10, since=mark, lock_id=lock_id)
        refused = api.call("POST", f"/locks/{lock_id}/actions", json={"action": "unlock"})
        assert refused.status_code == 409 and refused.json()["error_code"] == "DEVICE_OFFLINE"
        starts = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
        queued = api.call("POST", f"/locks/{lock_id}/access_codes", json={
            "code": "7351", "name": "Queued", "starts_at": _iso(starts), "ends_at": _iso(starts + timedelta(hours=1))})
        assert queued.status_code in (200, 201), queued.text
        assert queued.json()["status"] == "pending"
    finally:
        os.kill(agent_pid, signal.SIGKILL)
    # `provider sandbox` restarts it; it finds its journal and its locks as they were.
    code_id = queued.json()["access_code_id"]
    webhooks.wait("device.online", timeout=30, since=mark, lock_id=lock_id)
    webhooks.wait("access_code.created", timeout=30, access_code_id=code_id)
    codes = virtual_locks(live_sandbox.var_dir, {"op": "codes", "lock": lock_id})["codes"]
    assert sorted(c["name"] for c in codes if c["slot"] not in before) == ["Queued"]
    assert api.call("GET", f"/access_codes/{code_id}").json()["status"] in ("set", "active")
    action = api.call("POST", f"/locks/{lock_id}/actions", json={"action": "unlock"}).json()
    assert api.wait_action(lock_id, action["action_id"])["status"] == "success"
    assert api.call("POST", f"/locks/{lock_id}/lock").json() == {"ok": True}
    # Each webhook event once: nothing replayed by the restart.
    ids = [d.payload["event_id"] for d in webhooks.listener.deliveries if d.payload]
    assert len(ids) == len(set(ids))


def _controls(live_sandbox):
    from firmware_bridge.agent.virtual_backend import find_control

    return find_control([live_sandbox.var_dir / "bridge"])


def _lock_ids(live_sandbox, info):
    import asyncio

    from firmware_bridge.agent.virtual_backend import _ask

    return {lock["lock_id"] for lock in asyncio.run(_ask(info, {"op": "locks"}, 10)).get("locks", [])}
