from __future__ import annotations

import pytest

from provider.extensions import db
from provider.models import Command, Lock
from provider.services import sweeper
from tests.provider.bridge_helper import BackgroundBridge


def _act(client, headers, lock_id, action="unlock", **body):
    return client.post(f"/locks/{lock_id}/actions", headers=headers, json={"action": action, **body})


def test_action_pending_then_success_via_bridge(client, site, auth_headers, events):
    lock_id = site.lock_ids[0]
    response = _act(client, auth_headers, lock_id, custom_id="delivery-1")
    assert response.status_code == 200
    action = response.get_json()
    assert action["status"] == "pending" and action["lock_id"] == lock_id and action["action"] == "unlock"
    assert action["custom_id"] == "delivery-1"

    commands = site.helper.poll()
    assert [(c["type"], c["params"], c["attempt"]) for c in commands] == [
        ("unlock", {"action_id": action["action_id"]}, 1)
    ]
    assert site.helper.result(commands[0]["command_id"]) == {"ok": True, "duplicate": False}

    for path in (f"/locks/{lock_id}/actions/{action['action_id']}", f"/actions/{action['action_id']}"):
        done = client.get(path, headers=auth_headers).get_json()
        assert done["status"] == "success" and done["performed_via"] == "remote_api"
    assert client.get(f"/locks/{lock_id}", headers=auth_headers).get_json()["lock_state"] == "unlocked"
    completed = [e for e in events(lock_id) if e.event_type == "lock.action_completed"]
    assert len(completed) == 1
    assert completed[0].data["status"] == "success"
    assert completed[0].data["performed_via"] == "remote_api"
    assert completed[0].data["action_id"] == action["action_id"]


def test_custom_id_is_idempotent_per_lock(client, site, auth_headers):
    first = _act(client, auth_headers, site.lock_ids[0], custom_id="x").get_json()
    again = _act(client, auth_headers, site.lock_ids[0], custom_id="x").get_json()
    other_lock = _act(client, auth_headers, site.lock_ids[1], custom_id="x").get_json()
    assert again["action_id"] == first["action_id"]
    assert other_lock["action_id"] != first["action_id"]
    assert db.session.scalar(db.select(db.func.count()).select_from(Command)) == 2


def test_duplicate_result_changes_nothing(client, site, auth_headers, events):
    _act(client, auth_headers, site.lock_ids[0])
    command = site.helper.poll()[0]
    site.helper.result(command["command_id"])
    before = len(events())
    assert site.helper.result(command["command_id"], "failed", "LOCK_JAMMED")["duplicate"] is True
    assert len(events()) == before
    assert site.helper.result("no-such-command", expect=404)


def test_device_failure_ends_action_failed(client, site, auth_headers, events):
    action = _act(client, auth_headers, site.lock_ids[0], action="lock").get_json()
    site.helper.run({"lock": ("failed", "LOCK_JAMMED")})
    done = client.get(f"/actions/{action['action_id']}", headers=auth_headers).get_json()
    assert done["status"] == "failed" and done["error_code"] == "LOCK_JAMMED"
    event = [e for e in events(site.lock_ids[0]) if e.event_type == "lock.action_completed"][-1]
    assert event.data["status"] == "failed" and event.data["error_code"] == "LOCK_JAMMED"


def test_offline_and_obstructed_are_refused_at_once(client, site, auth_headers):
    lock_id = site.lock_ids[0]
    site.helper.heartbeat({"lock_id": lock_id, "online": False})
    response = _act(client, auth_headers, lock_id)
    assert response.status_code == 409
    assert response.get_json()["error_code"] == "DEVICE_OFFLINE"

    other = site.lock_ids[1]
    site.helper.events({"lock_id": other, "lock_seq": 1, "type": "obstructed", "occurred_at": "2026-01-01T00:00:00Z"})
    response = _act(client, auth_headers, other, action="lock")
    assert response.status_code == 409 and response.get_json()["error_code"] == "BOLT_OBSTRUCTED"
    assert _act(client, auth_headers, other, action="unlock").status_code == 200
    assert db.session.scalar(db.select(db.func.count()).select_from(Command)) == 1


def test_unpicked_command_times_out(client, site, auth_headers, frozen_clock, events):
    action = _act(client, auth_headers, site.lock_ids[0]).get_json()
    frozen_clock.advance(60)
    site.helper.heartbeat()  # the bridge stays alive, but never takes the command
    frozen_clock.advance(61)
    assert sweeper.sweep(heartbeat_timeout_seconds=3600)["commands_expired"] == 1
    done = client.get(f"/actions/{action['action_id']}", headers=auth_headers).get_json()
    assert done["status"] == "failed" and done["error_code"] == "ACTION_TIMEOUT"
    assert site.helper.poll() == []


def test_lease_expiry_hands_the_command_out_again(client, site, auth_headers, frozen_clock):
    _act(client, auth_headers, site.lock_ids[0])
    first = site.helper.poll()
    assert site.helper.poll() == []  # leased
    frozen_clock.advance(61)
    again = site.helper.poll()
    assert again[0]["command_id"] == first[0]["command_id"] and again[0]["attempt"] == 2


@pytest.mark.parametrize("action", ["unlock", "lock"])
def test_legacy_waits_for_the_lock(app, client, site, auth_headers, action):
    with BackgroundBridge(app, site.token) as bridge:
        response = client.post(f"/locks/{site.lock_ids[0]}/{action}", headers=auth_headers)
    assert response.status_code == 200 and response.get_json() == {"ok": True}
    assert [c["type"] for c in bridge.handled] == [action]
    db.session.expire_all()
    assert db.session.get(Lock, site.lock_ids[0]).lock_state == f"{action}ed"


def test_legacy_failure_is_http_500(app, client, site, auth_headers):
    with BackgroundBridge(app, site.token, outcome={"unlock": ("failed", "LOCK_JAMMED")}):
        response = client.post(f"/locks/{site.lock_ids[0]}/unlock", headers=auth_headers)
    assert response.status_code == 500
    body = response.get_json()
    assert body["error_id"] == body["error_code"] == "LOCK_JAMMED" and body["error_message"]


def test_legacy_offline_and_timeout(client, site, auth_headers):
    site.helper.heartbeat({"lock_id": site.lock_ids[0], "online": False})
    response = client.post(f"/locks/{site.lock_ids[0]}/unlock", headers=auth_headers)
    assert response.status_code == 500 and response.get_json()["error_id"] == "DEVICE_OFFLINE"
    # Nobody polls: bounded wait (ACTION_WAIT_SECONDS), then ACTION_TIMEOUT and the command is withdrawn.
    response = client.post(f"/locks/{site.lock_ids[1]}/unlock", headers=auth_headers)
    assert response.status_code == 500 and response.get_json()["error_id"] == "ACTION_TIMEOUT"
    assert site.helper.poll() == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"[1, 2]", 400),
        (b'{"action": "open"}', 400),
        (b'{"action": 5}', 400),
        (b'{"action": "lock", "extra": 1}', 400),
        (b'{"action": "lock", "pad": "' + b"x" * 70000 + b'"}', 413),
    ],
)
def test_bad_bodies_are_4xx_in_the_error_shape(client, site, auth_headers, body, status):
    response = client.post(
        f"/locks/{site.lock_ids[0]}/actions", headers=auth_headers, data=body,
        content_type="application/json",
    )
    assert response.status_code == status
    assert response.get_json()["error_code"] in ("INVALID_REQUEST", "PAYLOAD_TOO_LARGE")


def test_nul_characters_never_reach_the_database(client, site, auth_headers):
    lock_id = site.lock_ids[0]
    assert client.get("/locks/a%00b", headers=auth_headers).status_code == 404
    assert client.get("/access_codes?lock_id=a%00b", headers=auth_headers).status_code == 400
    response = _act(client, auth_headers, lock_id, custom_id="a\x00b")
    assert response.status_code == 400
    response = client.post(f"/locks/{lock_id}/access_codes", headers=auth_headers, json={"code": "1234", "name": "a\x00b"})
    assert response.status_code == 400
    response = client.post("/bridge/v1/heartbeat", headers=site.helper.headers, json={"locks": [{"lock_id": "a\x00"}]})
    assert response.status_code == 400
