"""Events as Seam's guide shows them: every field at the top level and inside `data`, the
lock named both `device_id` and `lock_id`, each type's payload exactly as openapi.yaml's
`webhooks:` describe it, PINs sealed at rest and sent only to entitled clients."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
import yaml
from sqlalchemy import text

from provider.clock import now
from provider.extensions import db
from provider.models import AccessCode
from provider.schemas.fields import isoformat_z
from provider.services.events import EVENT_ALIASES, WEBHOOK_EVENT_TYPES, record_event
from provider.services.oauth_clients import create_client
from provider.services.oauth_tokens import issue_token
from provider.services.webhooks import create_webhook
from tests.conftest import OAUTH_TEST_REDIRECT_URI
from tests.openapi import SPEC_PATH, assert_event_matches_spec, webhook_event_types
from tests.provider.devices.conftest import make_site

PIN = "4829"
TYPED = "909090"


def _basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def _integrator(client_id: str, owner) -> tuple:
    """An OAuth client `owner` authorised; the row and its HTTP Basic headers."""
    row, secret = create_client(client_id, [OAUTH_TEST_REDIRECT_URI], "locks.read locks.write", client_id=client_id)
    issue_token(row, owner, "locks.read locks.write")
    db.session.commit()
    return row, _basic(client_id, secret)


@pytest.fixture
def seam(app, account):
    return _integrator("seam-test", account)


@pytest.fixture
def stranger(app, other_account):
    """Another integrator, authorised by another owner only."""
    return _integrator("other-test", other_account)


def _feed(client, headers, **query) -> list[dict]:
    body = client.get("/events", headers=headers, query_string={"limit": 500, **query}).get_json()
    for event in body["events"]:
        assert_event_matches_spec(event)
    return body["events"]


def _one(events: list[dict], event_type: str, **match) -> dict:
    found = [e for e in events if e["event_type"] == event_type and all(e.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (event_type, match, [e["event_type"] for e in events])
    return found[0]


def _flat(event: dict) -> None:
    """The guide's two readings agree: every field of data is at the top level too."""
    for key, value in event["data"].items():
        assert event[key] == value, key
    if "lock_id" in event:
        assert event["lock_id"] == event["device_id"] == event["data"]["device_id"]


@pytest.fixture
def history(app, client, account, auth_headers, seam):
    """One lock's life producing every kind of lock event, through the real API and bridge API."""
    site = make_site(app, account, count=1)
    lock_id = site.lock_ids[0]
    created = client.post(f"/locks/{lock_id}/access_codes", headers=auth_headers,
                          json={"name": "Guest", "code": PIN}).get_json()
    site.helper.run()
    starts = now() + timedelta(days=1)
    client.patch(f"/access_codes/{created['access_code_id']}", headers=auth_headers,
                 json={"starts_at": isoformat_z(starts), "ends_at": isoformat_z(starts + timedelta(days=2))})
    site.helper.run()
    refused = client.post(f"/locks/{lock_id}/access_codes", headers=auth_headers,
                          json={"name": "Full", "code": "1357"}).get_json()
    site.helper.run({"put_code": ("failed", "NO_SPACE_ON_DEVICE")})
    unlock = client.post(f"/locks/{lock_id}/actions", headers=auth_headers,
                         json={"action": "unlock", "custom_id": "req-1"}).get_json()
    site.helper.run()
    jammed = client.post(f"/locks/{lock_id}/actions", headers=auth_headers, json={"action": "lock"}).get_json()
    site.helper.run({"lock": ("failed", "LOCK_JAMMED")})
    at = isoformat_z(now())
    site.helper.events(
        {"lock_id": lock_id, "lock_seq": 1, "type": "unlocked", "occurred_at": at,
         "data": {"source": "keypad", "slot": db.session.get(AccessCode, created["access_code_id"]).slot}},
        {"lock_id": lock_id, "lock_seq": 2, "type": "incorrect_pin", "occurred_at": at, "data": {"pin": TYPED}},
        {"lock_id": lock_id, "lock_seq": 3, "type": "locked", "occurred_at": at, "data": {"source": "auto_lock"}},
        {"lock_id": lock_id, "lock_seq": 4, "type": "jammed", "occurred_at": at,
         "data": {"action": "unlock", "source": "keypad"}},
        {"lock_id": lock_id, "lock_seq": 5, "type": "tamper", "occurred_at": at, "data": {"kind": "forced_bolt"}},
        {"lock_id": lock_id, "lock_seq": 6, "type": "tamper", "occurred_at": at, "data": {"kind": "keypad_lockout"}},
        {"lock_id": lock_id, "lock_seq": 7, "type": "battery", "occurred_at": at, "data": {"level": 15, "low": True}},
        {"lock_id": lock_id, "lock_seq": 8, "type": "door", "occurred_at": at, "data": {"state": "closed"}},
        {"lock_id": lock_id, "lock_seq": 9, "type": "door", "occurred_at": at, "data": {"state": "open"}},
    )
    site.helper.heartbeat({"lock_id": lock_id, "battery_level": 100,
                           "device_time": isoformat_z(now() + timedelta(minutes=10))})
    client.delete(f"/access_codes/{created['access_code_id']}", headers=auth_headers)
    site.helper.run()
    site.bridge.online = True
    from provider.services.bridges import mark_offline

    mark_offline(site.bridge)
    db.session.commit()
    return {"site": site, "lock_id": lock_id, "code": created, "refused": refused, "unlock": unlock,
            "jammed": jammed}


def test_every_event_is_flat_and_matches_its_webhook_schema(client, seam, history):
    events = _feed(client, seam[1])
    assert {e["event_type"] for e in events} >= {
        "access_code.created", "access_code.updated", "access_code.deleted", "access_code.used",
        "access_code.incorrect_attempt", "lock.action_completed", "device.tampered", "lock.access_denied",
        "battery.low", "battery.replaced", "device.time_wrong", "bridge.offline", "device.offline",
        "device.door_opened",
    }
    for event in events:
        _flat(event)


def test_action_completed_as_the_guide_shows_it(client, seam, history):
    events = _feed(client, seam[1], event_type="lock.action_completed")
    ok = _one(events, "lock.action_completed", action_id=history["unlock"]["action_id"])
    assert (ok["action"], ok["action_type"], ok["custom_id"], ok["status"], ok["performed_via"]) == (
        "unlock", "unlock", "req-1", "success", "remote_api")
    assert "error_code" not in ok
    failed = _one(events, "lock.action_completed", action_id=history["jammed"]["action_id"])
    assert (failed["status"], failed["error_code"]) == ("failed", "LOCK_JAMMED") and failed["message"]
    keypad_jam = _one(events, "lock.action_completed", source="keypad", status="failed")
    assert (keypad_jam["action"], keypad_jam["error_code"], keypad_jam["performed_via"], keypad_jam["action_id"]) == (
        "unlock", "LOCK_JAMMED", "pin_code", None)
    auto = _one(events, "lock.action_completed", source="auto_lock")
    assert auto["performed_via"] == "manual_turn"
    assert {e["performed_via"] for e in events} <= {
        "pin_code", "mobile_app", "remote_api", "bluetooth_key", "fob_card", "manual_turn"}


def test_access_code_events_as_the_guide_shows_them(client, seam, history):
    events = _feed(client, seam[1])
    code_id = history["code"]["access_code_id"]
    created = _one(events, "access_code.created", access_code_id=code_id)
    assert (created["code"], created["status"], created["starts_at"], created["ends_at"]) == (PIN, "success", None, None)
    assert created["access_code"] == {"access_code_id": code_id, "lock_id": history["lock_id"], "name": "Guest",
                                      "code": PIN, "starts_at": None, "ends_at": None, "status": "active"}
    updated = _one(events, "access_code.updated", access_code_id=code_id)
    assert updated["starts_at"] is not None and updated["access_code"]["starts_at"] == updated["starts_at"]
    assert updated["access_code"]["status"] == "active" and updated["code"] == PIN
    deleted = _one(events, "access_code.deleted", access_code_id=code_id)
    assert deleted["status"] == "success" and "code" not in deleted
    refused = _one(events, "access_code.created", access_code_id=history["refused"]["access_code_id"])
    assert (refused["status"], refused["error_code"], refused["access_code"]["status"]) == (
        "failed", "NO_SPACE_ON_DEVICE", "failed") and refused["message"]
    used = _one(events, "access_code.used")
    assert used["access_code_id"] == code_id
    wrong = _one(events, "access_code.incorrect_attempt")
    assert wrong["pin"] == wrong["data"]["pin"] == TYPED and "code" not in wrong


def test_battery_bridge_tamper_and_lockout(client, seam, history):
    events = _feed(client, seam[1])
    assert _one(events, "battery.low")["battery_level"] == 15
    replaced = _one(events, "battery.replaced")
    assert (replaced["battery_level"], replaced["previous_level"]) == (100, 15)
    offline = _one(events, "bridge.offline")
    assert offline["bridge_id"] == offline["device_id"] == history["site"].bridge.id and "lock_id" not in offline
    assert _one(events, "device.tampered")["tamper_kind"] == "forced_bolt"
    assert _one(events, "lock.access_denied")["reason"] == "keypad_lockout"
    assert not [e for e in events if e["event_type"] == "device.tampered" and e["tamper_kind"] == "keypad_lockout"]


def test_pins_rest_encrypted_and_only_entitled_clients_see_them(client, seam, stranger, history, other_account):
    db.session.expire_all()
    raw = " ".join(str(row) for row in db.session.execute(text("SELECT * FROM events")).all())
    assert PIN not in raw and TYPED not in raw
    # A client the owner never authorised sees none of this owner's events, so no PIN.
    body = client.get("/events", headers=stranger[1], query_string={"limit": 500}).get_data(as_text=True)
    assert PIN not in body and TYPED not in body and history["lock_id"] not in body


def test_a_low_battery_is_one_event_named_as_each_webhook_asked(app, client, account, seam, receiver, dispatcher):
    """battery.low and device.low_battery are one drop: a webhook hears it once."""
    hooks = {
        name: create_webhook(receiver.url + f"/{name}", types, client_id=seam[0].id)[0]
        for name, types in {"both": ["battery.low", "device.low_battery"], "alias": ["device.low_battery"],
                            "all": None, "other": ["device.offline"]}.items()
    }
    db.session.commit()
    site = make_site(app, account, count=1)
    site.helper.heartbeat({"lock_id": site.lock_ids[0], "battery_level": 12})
    assert dispatcher.drain() >= 3
    got = {}
    for delivery in receiver.received:
        if delivery.json["event_type"] in ("battery.low", "device.low_battery"):
            got.setdefault(delivery.path.rsplit("/", 1)[-1], []).append(delivery.json["event_type"])
    assert got == {"both": ["battery.low"], "alias": ["device.low_battery"], "all": ["battery.low"]}
    assert [e["event_type"] for e in _feed(client, seam[1], event_type="device.low_battery")] == ["device.low_battery"]
    [low] = _feed(client, seam[1], event_type="battery.low")
    # Sent again on request, it keeps the name its webhook asked for.
    redone = client.post(f"/webhooks/{hooks['alias'].id}/redeliver", headers=seam[1],
                         json={"event_id": low["event_id"]})
    assert redone.status_code == 202 and redone.get_json()["event_type"] == "device.low_battery"
    receiver.received.clear()
    assert dispatcher.drain() == 1
    assert [(d.path, d.json["event_type"], d.json["event_id"]) for d in receiver.received] == [
        ("/hook/alias", "device.low_battery", low["event_id"])]


def test_every_event_type_is_in_the_spec():
    assert webhook_event_types() == set(WEBHOOK_EVENT_TYPES)
    document = yaml.safe_load(SPEC_PATH.read_text())
    assert set(document["components"]["schemas"]["EventType"]["enum"]) == set(WEBHOOK_EVENT_TYPES)
    assert set(EVENT_ALIASES) <= set(WEBHOOK_EVENT_TYPES) and set(EVENT_ALIASES.values()) <= set(WEBHOOK_EVENT_TYPES)


def test_one_low_battery_threshold_on_both_sides_of_the_bridge():
    """The cloud calls a battery low exactly where the lock does (the C core and the simulator)."""
    import re
    from pathlib import Path

    import bridge_contract as contract
    from firmware_bridge.simulator import c_engine, lock
    from provider.services import fleet, lock_reports

    header = (Path(__file__).resolve().parents[3] / "firmware/include/lkp/lock.h").read_text()
    c_value = int(re.search(r"#define LOCK_LOW_BATTERY_PERCENT (\d+)u", header).group(1))
    assert {c_value, lock.LOW_BATTERY_PERCENT, c_engine.LOW_BATTERY_PERCENT, lock_reports.BATTERY_LOW_PERCENT,
            fleet.LOW_BATTERY} == {contract.BATTERY_LOW_PERCENT}


def test_events_stored_in_the_earlier_shape_read_as_the_current_one(app, client, account, seam):
    """An event is built again on every delivery: one recorded before the renames is sent
    with today's names (action, pin, a performed_via from the guide's list)."""
    site = make_site(app, account, count=1)
    lock = site.locks[0]
    record_event("lock.action_completed", device=lock,
                 data={"lock_id": lock.id, "action_type": "lock", "status": "success", "performed_via": "auto_lock"})
    record_event("access_code.incorrect_attempt", device=lock, data={"lock_id": lock.id}, sealed={"code": TYPED})
    db.session.commit()
    events = client.get("/events", headers=seam[1], query_string={"limit": 500}).get_json()["events"]
    completed = _one(events, "lock.action_completed")
    assert (completed["action"], completed["performed_via"], completed["source"]) == ("lock", "manual_turn", "auto_lock")
    wrong = _one(events, "access_code.incorrect_attempt")
    assert wrong["pin"] == TYPED and "code" not in wrong["data"]


def test_every_error_code_has_the_sentence_seam_reads_as_message():
    import bridge_contract as contract

    assert set(contract.ERROR_MESSAGES) == set(contract.ERROR_CODES)
    assert all(message.endswith(".") for message in contract.ERROR_MESSAGES.values())
