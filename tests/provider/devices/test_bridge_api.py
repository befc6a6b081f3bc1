from __future__ import annotations

import threading
import time
from datetime import timedelta

from provider.clock import now
from provider.extensions import db
from provider.models import Bridge, Lock
from provider.schemas.fields import isoformat_z
from provider.services import actions, rate_limits, sweeper
from tests.provider.bridge_helper import BridgeHelper


def test_bridge_token_is_required_and_hashed(client, site):
    assert client.get("/bridge/v1/locks").status_code == 401
    bad = client.get("/bridge/v1/locks", headers={"Authorization": "Bearer brg_nope"})
    assert bad.status_code == 401 and "WWW-Authenticate" in bad.headers
    assert site.token not in db.session.get(Bridge, site.bridge.id).token_hash


def test_bridge_lists_its_locks_with_keys(client, site, other_site):
    body = site.helper.locks()
    assert body["bridge_id"] == site.bridge.id
    assert sorted(lock["lock_id"] for lock in body["locks"]) == sorted(site.lock_ids)
    lock = body["locks"][0]
    assert len(lock["device_key"]) == 32 and lock["last_event_seq"] == 0
    assert lock["ble_address"].startswith("C0:FF:EE")
    # Another owner's bridge cannot report for these locks.
    foreign = BridgeHelper(client, other_site.token)
    response = client.post("/bridge/v1/heartbeat", headers=foreign.headers,
                           json={"locks": [{"lock_id": site.lock_ids[0], "online": False}]})
    assert response.status_code == 404
    assert client.get(f"/bridge/v1/locks/{site.lock_ids[0]}/access_codes", headers=foreign.headers).status_code == 404


def test_long_poll_answers_as_soon_as_a_command_is_queued(app, site, account):
    """A poller waiting in another thread gets a command queued after it started waiting."""
    got = {}

    def poll():
        with app.app_context():
            helper = BridgeHelper(app.test_client(), site.token)
            started = time.monotonic()
            got["commands"] = helper.poll(wait=2)
            got["elapsed"] = time.monotonic() - started

    thread = threading.Thread(target=poll)
    thread.start()
    time.sleep(0.3)
    actions.request_action(account.id, site.lock_ids[0], "unlock", limiter=rate_limits.DatabaseRateLimiter())
    db.session.commit()
    thread.join(timeout=10)
    assert [c["type"] for c in got["commands"]] == ["unlock"]
    assert got["elapsed"] < 2  # did not wait out the full poll
    assert site.helper.poll(wait=0.2) == []  # leased, not handed out twice


def test_lock_events_are_applied_once(client, site, auth_headers, events):
    lock_id = site.lock_ids[0]
    code = client.post(f"/locks/{lock_id}/access_codes", headers=auth_headers, json={"name": "Kid", "code": "2468"}).get_json()
    site.helper.run()
    at = isoformat_z(now())
    batch = [
        {"lock_id": lock_id, "lock_seq": 1, "type": "unlocked", "occurred_at": at, "data": {"source": "keypad", "slot": 1}},
        {"lock_id": lock_id, "lock_seq": 2, "type": "incorrect_pin", "occurred_at": at, "data": {"pin": "0000"}},
        {"lock_id": lock_id, "lock_seq": 3, "type": "locked", "occurred_at": at, "data": {"source": "manual"}},
        {"lock_id": lock_id, "lock_seq": 4, "type": "unlocked", "occurred_at": at, "data": {"source": "ble"}},
        {"lock_id": lock_id, "lock_seq": 5, "type": "door", "occurred_at": at, "data": {"state": "open"}},
        {"lock_id": lock_id, "lock_seq": 6, "type": "locked", "occurred_at": at, "data": {"source": "auto_lock"}},
    ]
    assert site.helper.events(*batch) == {"accepted": 6, "duplicates": 0}
    assert site.helper.events(*batch[:3]) == {"accepted": 0, "duplicates": 3}
    seen = [(e.event_type, e.data.get("performed_via"), e.data.get("access_code_id")) for e in events(lock_id)
            if e.event_type in ("access_code.used", "lock.action_completed", "access_code.incorrect_attempt")]
    assert seen == [
        ("access_code.used", None, code["access_code_id"]),
        ("lock.action_completed", "pin_code", code["access_code_id"]),
        ("access_code.incorrect_attempt", None, None),
        ("lock.action_completed", "manual_turn", None),
        # Seam's list has no auto-lock: it reads as manual_turn, the lock's own word kept in source.
        ("lock.action_completed", "manual_turn", None),
    ]
    assert [e.data.get("source") for e in events(lock_id) if e.event_type == "lock.action_completed"] == [
        "keypad", "manual", "auto_lock"]
    lock = client.get(f"/locks/{lock_id}", headers=auth_headers).get_json()
    assert lock["lock_state"] == "locked" and lock["door_state"] == "open"
    assert site.helper.locks()["locks"][[x["lock_id"] for x in site.helper.locks()["locks"]].index(lock_id)]["last_event_seq"] == 6


def test_heartbeat_battery_and_time_events(site, events):
    lock_id = site.lock_ids[0]
    site.helper.heartbeat({"lock_id": lock_id, "battery_level": 50})
    site.helper.heartbeat({"lock_id": lock_id, "battery_level": 16})  # above the lock's own low level
    site.helper.heartbeat({"lock_id": lock_id, "battery_level": 15})  # the lock calls this low
    site.helper.heartbeat({"lock_id": lock_id, "battery_level": 12})
    site.helper.heartbeat({"lock_id": lock_id, "battery_level": 100})
    drifted = isoformat_z(now() + timedelta(minutes=10))
    site.helper.heartbeat({"lock_id": lock_id, "device_time": drifted, "signal_quality": 80})
    site.helper.heartbeat({"lock_id": lock_id, "device_time": drifted})
    kinds = [e.event_type for e in events(lock_id)]
    # One event for one drop (device.low_battery is its alias, chosen per webhook).
    assert kinds.count("battery.low") == 1 and kinds.count("device.low_battery") == 0
    assert [e.data["battery_level"] for e in events(lock_id) if e.event_type == "battery.low"] == [15]
    assert kinds.count("battery.replaced") == 1
    assert kinds.count("device.time_wrong") == 1
    response = site.helper.client.post("/bridge/v1/heartbeat", headers=site.helper.headers,
                                       json={"locks": [{"lock_id": lock_id, "battery_level": 101}]})
    assert response.status_code == 400


def test_missed_heartbeat_takes_bridge_and_locks_offline(client, site, auth_headers, frozen_clock, events):
    frozen_clock.advance(30)
    assert sweeper.sweep(heartbeat_timeout_seconds=90)["bridges_offline"] == 0
    frozen_clock.advance(120)
    assert sweeper.sweep(heartbeat_timeout_seconds=90)["bridges_offline"] == 1
    kinds = [e.event_type for e in events()]
    assert kinds.count("bridge.offline") == 1 and kinds.count("device.offline") == 2
    assert all(not lock["online"] for lock in client.get("/locks", headers=auth_headers).get_json()["locks"])
    response = client.post(f"/locks/{site.lock_ids[0]}/actions", headers=auth_headers, json={"action": "unlock"})
    assert response.get_json()["error_code"] == "DEVICE_OFFLINE"
    # It comes back: any call brings the bridge online; the heartbeat brings the locks.
    site.helper.all_online(site.lock_ids)
    kinds = [e.event_type for e in events()]
    assert kinds.count("bridge.online") == 1 and kinds.count("device.online") == 2
    db.session.expire_all()
    assert all(lock.online for lock in db.session.scalars(db.select(Lock)))


def test_bad_bridge_bodies(client, site):
    headers = site.helper.headers
    cases = [
        ("/bridge/v1/events", b"{bad"),
        ("/bridge/v1/events", b'{"events": [{"lock_id": "x", "lock_seq": "1", "type": "locked", "occurred_at": "2026-01-01T00:00:00Z"}]}'),
        ("/bridge/v1/events", b'{"events": [{"lock_id": "x", "lock_seq": 1, "type": "exploded", "occurred_at": "2026-01-01T00:00:00Z"}]}'),
        ("/bridge/v1/heartbeat", b'{"locks": [{"lock_id": "x", "timezone": "Mars/Olympus"}]}'),
        ("/bridge/v1/heartbeat", b'{"locks": [{"lock_id": "x", "online": "yes"}]}'),
        ("/bridge/v1/heartbeat", b'{"locks": [{"lock_id": "x", "online": 1}]}'),
        ("/bridge/v1/heartbeat", b'{"locks": [{"lock_id": "x"}], "bridge": "extra"}'),
        ("/bridge/v1/commands/x/result", b'{"status": "failed"}'),
        ("/bridge/v1/commands/x/result", b'{"status": "maybe"}'),
    ]
    for path, body in cases:
        response = client.post(path, headers=headers, data=body, content_type="application/json")
        assert response.status_code == 400, (path, body, response.get_json())
        assert response.get_json()["error_code"] == "INVALID_REQUEST"
    assert client.get("/bridge/v1/commands?wait=99", headers=headers).status_code == 400


def test_concurrent_pollers_never_share_a_command(app, site, account):
    limiter = rate_limits.DatabaseRateLimiter()
    for n in range(10):
        actions.request_action(account.id, site.lock_ids[n % 2], "unlock" if n % 4 < 2 else "lock", limiter=limiter)
    db.session.commit()
    got: list[list[dict]] = []
    barrier = threading.Barrier(3)

    def poll():
        with app.app_context():
            helper = BridgeHelper(app.test_client(), site.token)
            barrier.wait()
            got.append(helper.poll(limit=10))

    threads = [threading.Thread(target=poll) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    ids = [command["command_id"] for batch in got for command in batch]
    assert len(got) == 3 and len(ids) == len(set(ids)) == 10


def test_expired_lease_and_late_result(client, site, auth_headers, frozen_clock, events):
    """A result for a command that timed out is a duplicate; the action stays failed."""
    action = client.post(f"/locks/{site.lock_ids[0]}/actions", headers=auth_headers, json={"action": "unlock"}).get_json()
    command = site.helper.poll()[0]
    frozen_clock.advance(200)
    sweeper.sweep(heartbeat_timeout_seconds=3600)
    assert site.helper.result(command["command_id"])["duplicate"] is True
    assert client.get(f"/actions/{action['action_id']}", headers=auth_headers).get_json()["error_code"] == "ACTION_TIMEOUT"
    assert [e.data["status"] for e in events(site.lock_ids[0]) if e.event_type == "lock.action_completed"] == ["failed"]


def test_concurrent_heartbeats_report_a_transition_once(app, site, events):
    lock_id = site.lock_ids[0]
    barrier = threading.Barrier(4)

    def beat():
        with app.app_context():
            helper = BridgeHelper(app.test_client(), site.token)
            barrier.wait()
            helper.heartbeat({"lock_id": lock_id, "battery_level": 10})

    threads = [threading.Thread(target=beat) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    kinds = [e.event_type for e in events(lock_id)]
    assert kinds.count("battery.low") == 1 and kinds.count("device.low_battery") == 0


def test_battery_replaced_only_from_a_low_level(site, events):
    lock_id = site.lock_ids[0]
    site.helper.heartbeat({"lock_id": lock_id, "battery_level": 100})  # 65 -> 100: a reading, not a swap
    assert "battery.replaced" not in [e.event_type for e in events(lock_id)]


QUEUE_FROM_ANOTHER_PROCESS = """
import sys, time
from provider import create_app
from provider.extensions import db
from provider.services import actions, rate_limits
time.sleep(0.5)
app = create_app({"SQLALCHEMY_DATABASE_URI": sys.argv[1], "SECRET_KEY": "test-secret-key",
                  "ENV": {"PROVIDER_VAR_DIR": sys.argv[4]}})
with app.app_context():
    actions.request_action(sys.argv[2], sys.argv[3], "unlock", limiter=rate_limits.DatabaseRateLimiter())
    db.session.commit()
"""


def test_long_poll_sees_a_command_queued_by_another_process(app, site, account, tmp_path):
    import subprocess
    import sys

    writer = subprocess.Popen([sys.executable, "-c", QUEUE_FROM_ANOTHER_PROCESS,
                               app.config["SQLALCHEMY_DATABASE_URI"], account.id, site.lock_ids[0], str(tmp_path)])
    try:
        commands = site.helper.poll(wait=2)
        if not commands:  # a slow interpreter start; the point is the other process, not the timing
            writer.wait(timeout=30)
            commands = site.helper.poll(wait=2)
    finally:
        writer.wait(timeout=30)
    assert writer.returncode == 0
    assert [command["type"] for command in commands] == ["unlock"]



def test_lock_originated_jam_and_obstruction_update_state(site, events):
    lock_id = site.lock_ids[0]
    at = isoformat_z(now())
    site.helper.events(
        {"lock_id": lock_id, "lock_seq": 1, "type": "jammed", "occurred_at": at, "data": {"action": "lock", "source": "auto_lock"}},
        {"lock_id": lock_id, "lock_seq": 2, "type": "obstructed", "occurred_at": at, "data": {"action": "lock", "source": "ble"}},
    )
    # The auto-lock's jam is heard as a failed lock.action_completed with no action_id; the
    # obstruction during our own command ("ble") is reported through that command's result.
    assert [
        (e.data["action"], e.data["status"], e.data["error_code"], e.data["performed_via"], e.data["source"],
         e.data["action_id"], bool(e.data["message"]))
        for e in events(lock_id) if e.event_type == "lock.action_completed"
    ] == [("lock", "failed", "LOCK_JAMMED", "manual_turn", "auto_lock", None, True)]
    lock = db.session.get(Lock, lock_id)
    assert lock.lock_state == "unknown" and lock.obstructed


def test_a_restarted_agent_takes_back_its_leases_at_once(client, site, auth_headers):
    """resume=true on the first poll: commands leased to the dead agent come back now, not after 60 s."""
    client.post(f"/locks/{site.lock_ids[0]}/actions", headers=auth_headers, json={"action": "unlock"})
    first = site.helper.poll()
    assert [c["attempt"] for c in first] == [1]
    assert site.helper.poll() == []  # still leased: an ordinary poll does not see it
    again = site.helper.poll(resume=True)
    assert [(c["command_id"], c["attempt"]) for c in again] == [(first[0]["command_id"], 2)]
    assert site.helper.poll() == []  # leased again, to the live agent


def test_a_newer_poll_with_the_same_token_ends_the_older_one(app, site, account, monkeypatch):
    """Parallel long-polls with one bridge token hold one server thread, not one each."""
    monkeypatch.setitem(app.config, "BRIDGE_POLL_MAX_SECONDS", 25.0)
    older: dict = {}

    def poll():
        with app.app_context():
            older["commands"] = BridgeHelper(app.test_client(), site.token).poll(wait=20)

    def generation() -> int:
        db.session.expire_all()
        value = db.session.get(Bridge, site.bridge.id).poll_generation
        db.session.commit()
        return value

    thread = threading.Thread(target=poll)
    thread.start()
    while generation() < 1 and thread.is_alive():  # the older poll is waiting
        thread.join(timeout=0.05)
    assert site.helper.poll(wait=0.2) == []
    thread.join(timeout=10)  # far less than its 20 s wait
    assert not thread.is_alive()
    assert older["commands"] == []
    actions.request_action(account.id, site.lock_ids[0], "unlock", limiter=rate_limits.DatabaseRateLimiter())
    db.session.commit()
    assert [c["type"] for c in site.helper.poll(wait=2)] == ["unlock"]
