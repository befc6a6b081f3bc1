"""What Seam shows for a lock: maker, serial, firmware, model name, constraints, auto-lock, door, signal."""

from __future__ import annotations

import pytest

from tests.provider.devices.factory_helpers import bearer, device_row, labelled, vendor_token


def _lock(client, headers, lock_id):
    response = client.get(f"/locks/{lock_id}", headers=headers)
    assert response.status_code == 200
    return response.get_json()


def _listed(client, headers, lock_id):
    return next(lock for lock in client.get("/locks", headers=headers).get_json()["locks"] if lock["lock_id"] == lock_id)


def test_lock_reports_code_constraints_in_seams_vocabulary(client, site, auth_headers):
    lock = _lock(client, auth_headers, site.lock_ids[0])
    assert lock["supported_code_lengths"] == [4, 5, 6, 7, 8]
    assert lock["max_active_codes_supported"] == lock["access_code_constraints"]["code_capacity"]
    assert {"constraint_type": "name_length", "min_length": 2, "max_length": 200,
            "max_length_on_device": 14} in lock["code_constraints"]
    assert {"constraint_type": "start_date_in_future"} in lock["code_constraints"]
    assert lock["supports_time_bound_access_codes"] is True
    assert lock["can_program_online_access_codes"] is True
    assert lock["manufacturer"] == "Halo Locks" and lock["model_display_name"] == "Halo Touch"


def test_the_list_and_the_lock_say_the_same(client, site, auth_headers):
    lock_id = site.lock_ids[0]
    site.helper.heartbeat({"lock_id": lock_id, "rssi": -68, "firmware_version": "1.5.0",
                           "auto_lock_enabled": True, "auto_lock_delay_seconds": 30})
    one = _lock(client, auth_headers, lock_id)
    assert _listed(client, auth_headers, lock_id) == one


def test_bridge_reports_firmware_auto_lock_and_keypad_battery(client, site, auth_headers):
    lock_id = site.lock_ids[0]
    before = _lock(client, auth_headers, lock_id)
    assert (before["auto_lock_enabled"], before["firmware_version"], before["keypad_battery"]) == (None, None, None)
    site.helper.heartbeat({"lock_id": lock_id, "firmware_version": "1.5.0", "auto_lock_enabled": True,
                           "auto_lock_delay_seconds": 30, "keypad_battery_level": 80})
    lock = _lock(client, auth_headers, lock_id)
    assert (lock["firmware_version"], lock["auto_lock_enabled"], lock["auto_lock_delay_seconds"]) == ("1.5.0", True, 30)
    assert lock["keypad_battery"] == {"level": 80}


@pytest.mark.parametrize(("report", "quality", "rssi", "strength"), [
    ({"signal_quality": -68}, -68, -68, 64),  # the guide's example: an RSSI in dBm
    ({"rssi": -80}, -80, -80, 40),
    ({"rssi": -80, "signal_quality": 55}, -80, -80, 55),
    ({"signal_quality": 70}, 70, None, 70),  # a bridge that reports only a level
])
def test_signal_is_accepted_as_rssi_or_level(client, site, auth_headers, report, quality, rssi, strength):
    lock_id = site.lock_ids[0]
    site.helper.heartbeat({"lock_id": lock_id, **report})
    lock = _lock(client, auth_headers, lock_id)
    assert (lock["signal_quality"], lock["rssi_dbm"], lock["signal_strength"]) == (quality, rssi, strength)


@pytest.mark.parametrize("bad", [{"signal_quality": -128}, {"signal_quality": 101}, {"rssi": 21},
                                 {"auto_lock_delay_seconds": -1}, {"keypad_battery_level": 101},
                                 {"auto_lock_enabled": "yes"}, {"firmware_version": ""}])
def test_heartbeat_refuses_values_out_of_range(site, bad):
    response = site.helper.client.post("/bridge/v1/heartbeat", headers=site.helper.headers,
                                       json={"locks": [{"lock_id": site.lock_ids[0], **bad}]})
    assert response.status_code == 400 and response.get_json()["error_code"] == "INVALID_REQUEST"


def test_door_open_and_door_events(client, site, auth_headers, events):
    lock_id = site.lock_ids[0]
    site.helper.heartbeat({"lock_id": lock_id, "door_state": "closed"})
    assert _lock(client, auth_headers, lock_id)["door_open"] is False
    site.helper.events({"lock_id": lock_id, "lock_seq": 1, "type": "door", "occurred_at": "2026-12-01T10:00:00Z",
                        "data": {"state": "open"}})
    lock = _lock(client, auth_headers, lock_id)
    assert (lock["door_state"], lock["door_open"]) == ("open", True)
    site.helper.events({"lock_id": lock_id, "lock_seq": 2, "type": "door", "occurred_at": "2026-12-01T10:00:05Z",
                        "data": {"state": "ajar"}})  # still not closed: no event
    site.helper.heartbeat({"lock_id": lock_id, "door_state": "closed"})
    site.helper.heartbeat({"lock_id": lock_id, "door_state": "closed"})
    door = [(e.event_type, e.data["door_state"]) for e in events(lock_id) if e.event_type.startswith("device.door")]
    assert door == [("device.door_opened", "open"), ("device.door_closed", "closed")]


def test_claimed_lock_has_the_manifests_serial_and_firmware(app, client, account):
    codes = labelled([device_row(7)])
    headers = bearer(vendor_token(account))
    claimed = client.post("/devices/claim", headers=headers, json={"claim_code": codes["HALO-000007"]}).get_json()
    assert (claimed["serial_number"], claimed["firmware_version"]) == ("HALO-000007", "1.4.2")
