"""Codes on the lock that the cloud did not create: kept, listed, convertible, deletable."""

from __future__ import annotations

from provider.extensions import db
from provider.models import AccessCode


def _codes(client, headers, lock_id, query=""):
    response = client.get(f"/locks/{lock_id}/access_codes{query}", headers=headers)
    assert response.status_code == 200
    return response.get_json()["access_codes"]


def _found(slot, code, name=None, **window):
    return {"slot": slot, "code": code, "name": name, **window}


def test_code_sync_lists_what_the_lock_holds_as_unmanaged(client, site, auth_headers):
    lock_id = site.lock_ids[0]
    site.helper.code_sync(lock_id, [], unknown_slots=[5], removed_slots=[], unmanaged=[_found(5, "8642", "Keypad")])
    [code] = _codes(client, auth_headers, lock_id)
    assert code["is_managed"] is False and code["status"] == "active"
    assert (code["slot"], code["code"], code["name"]) == (5, "8642", "Keypad")
    assert _codes(client, auth_headers, lock_id, "?is_managed=true") == []
    assert [c["access_code_id"] for c in _codes(client, auth_headers, lock_id, "?is_managed=false")] == [
        code["access_code_id"]]
    legacy = client.get(f"/access_codes?lock_id={lock_id}&is_managed=false", headers=auth_headers).get_json()
    assert [c["access_code_id"] for c in legacy["access_codes"]] == [code["access_code_id"]]
    # Not the cloud's to put back: the bridge's table of codes to write leaves it out.
    table = site.helper.code_table(lock_id)
    assert (table["access_codes"], table["remove"]) == ([], [])


def test_unmanaged_pin_is_encrypted_at_rest(client, site, auth_headers):
    lock_id = site.lock_ids[0]
    site.helper.code_sync(lock_id, [], unknown_slots=[5], unmanaged=[_found(5, "864297")])
    row = db.session.query(AccessCode).filter_by(lock_id=lock_id).one()
    assert "864297" not in row.code_enc and row.pin_lookup and "864297" not in row.pin_lookup


def test_unmanaged_code_keeps_its_id_across_syncs_and_goes_when_the_lock_drops_it(client, site, auth_headers):
    lock_id = site.lock_ids[0]
    site.helper.code_sync(lock_id, [], unknown_slots=[5], unmanaged=[_found(5, "8642")])
    [first] = _codes(client, auth_headers, lock_id)
    site.helper.code_sync(lock_id, [], unknown_slots=[5], unmanaged=[_found(5, "8642", "Renamed")])
    [again] = _codes(client, auth_headers, lock_id)
    assert again["access_code_id"] == first["access_code_id"] and again["name"] == "Renamed"
    # The slot reprogrammed at the keypad with another PIN: another code.
    site.helper.code_sync(lock_id, [], unknown_slots=[5], unmanaged=[_found(5, "1357")])
    [other] = _codes(client, auth_headers, lock_id)
    assert other["access_code_id"] != first["access_code_id"] and other["code"] == "1357"
    site.helper.code_sync(lock_id, [], unknown_slots=[], unmanaged=[])
    assert _codes(client, auth_headers, lock_id) == []
    # An older bridge that does not report the table leaves the unmanaged codes as they were.
    site.helper.code_sync(lock_id, [], unknown_slots=[6], unmanaged=[_found(6, "2468")])
    site.helper.code_sync(lock_id, [], unknown_slots=[6])
    assert [c["slot"] for c in _codes(client, auth_headers, lock_id)] == [6]


def test_unmanaged_code_holds_its_slot_and_pin(client, site, auth_headers):
    lock_id = site.lock_ids[0]
    site.helper.code_sync(lock_id, [], unknown_slots=[1], unmanaged=[_found(1, "8642")])
    clash = client.post(f"/locks/{lock_id}/access_codes", headers=auth_headers, json={"code": "8642"})
    assert clash.status_code == 409 and clash.get_json()["error_code"] == "PIN_CONFLICT"
    created = client.post(f"/locks/{lock_id}/access_codes", headers=auth_headers, json={"code": "1111"}).get_json()
    assert created["slot"] == 2 and created["is_managed"] is True


def test_unmanaged_code_cannot_be_changed_until_converted(client, site, auth_headers, events):
    lock_id = site.lock_ids[0]
    site.helper.code_sync(lock_id, [], unknown_slots=[5], unmanaged=[_found(5, "8642")])
    [code] = _codes(client, auth_headers, lock_id)
    url = f"/access_codes/{code['access_code_id']}"
    refused = client.patch(url, headers=auth_headers, json={"name": "Cleaner"})
    assert refused.status_code == 409 and refused.get_json()["error_code"] == "ACCESS_CODE_UNMANAGED"
    converted = client.post(f"{url}/convert_to_managed", headers=auth_headers)
    assert converted.status_code == 200
    body = converted.get_json()
    assert body["is_managed"] is True and body["access_code_id"] == code["access_code_id"]
    assert body["status"] == "active" and body["code"] == "8642"
    assert site.helper.poll() == []  # it is on the lock already
    assert client.post(f"{url}/convert_to_managed", headers=auth_headers).status_code == 200  # idempotent
    # Managed now: the cloud puts it back if it goes missing, and changes go to the lock.
    assert [c["slot"] for c in site.helper.desired_codes(lock_id)] == [5]
    assert client.patch(url, headers=auth_headers, json={"name": "Cleaner"}).get_json()["status"] == "pending"
    assert site.helper.poll()[0]["params"]["device_name"] == "Cleaner"


def test_deleting_an_unmanaged_code_queues_its_removal(client, site, auth_headers, events):
    lock_id = site.lock_ids[0]
    site.helper.code_sync(lock_id, [], unknown_slots=[5], unmanaged=[_found(5, "8642")])
    [code] = _codes(client, auth_headers, lock_id)
    deleted = client.delete(f"/access_codes/{code['access_code_id']}", headers=auth_headers)
    assert deleted.status_code == 200 and deleted.get_json()["status"] == "pending"
    # Its PIN goes along: the bridge clears the slot only while it still holds this code.
    assert site.helper.code_table(lock_id)["remove"] == [
        {"access_code_id": code["access_code_id"], "slot": 5, "code": "8642"}]
    [command] = site.helper.poll()
    assert command["type"] == "delete_code" and (command["params"]["slot"], command["params"]["code"]) == (5, "8642")
    site.helper.result(command["command_id"])
    assert _codes(client, auth_headers, lock_id) == []
    kinds = [(e.event_type, e.data.get("status")) for e in events(lock_id) if e.event_type.startswith("access_code")]
    assert kinds == [("access_code.deleted", "success")]


def test_a_code_being_removed_stays_until_the_lock_no_longer_holds_it(client, site, auth_headers):
    lock_id = site.lock_ids[0]
    site.helper.code_sync(lock_id, [], unknown_slots=[5], unmanaged=[_found(5, "8642")])
    [code] = _codes(client, auth_headers, lock_id)
    client.delete(f"/access_codes/{code['access_code_id']}", headers=auth_headers)
    # The bridge could not clear it this time: the lock still holds it.
    site.helper.code_sync(lock_id, [], unknown_slots=[5], unmanaged=[_found(5, "8642")])
    assert [c["status"] for c in _codes(client, auth_headers, lock_id)] == ["removing"]
    site.helper.code_sync(lock_id, [], unknown_slots=[5], removed_slots=[5], unmanaged=[])
    assert _codes(client, auth_headers, lock_id) == []


def test_a_failed_put_the_lock_holds_after_all_is_confirmed_not_duplicated(client, site, auth_headers, events):
    lock_id = site.lock_ids[0]
    code = client.post(f"/locks/{lock_id}/access_codes", headers=auth_headers, json={"code": "4321"}).get_json()
    site.helper.run({"put_code": ("failed", "ACTION_TIMEOUT")})
    site.helper.code_sync(lock_id, [], unknown_slots=[code["slot"]], unmanaged=[_found(code["slot"], "4321")])
    [listed] = _codes(client, auth_headers, lock_id)
    assert (listed["access_code_id"], listed["status"], listed["is_managed"]) == (code["access_code_id"], "active", True)


def test_other_owner_cannot_see_convert_or_delete_unmanaged_codes(client, site, other_site, auth_headers):
    foreign = other_site.lock_ids[0]
    other_site.helper.code_sync(foreign, [], unknown_slots=[3], unmanaged=[_found(3, "9999")])
    row = db.session.query(AccessCode).filter_by(lock_id=foreign).one()
    assert client.get(f"/locks/{foreign}/access_codes", headers=auth_headers).status_code == 404
    assert client.post(f"/access_codes/{row.id}/convert_to_managed", headers=auth_headers).status_code == 404
    assert client.delete(f"/access_codes/{row.id}", headers=auth_headers).status_code == 404
    # Nor can a bridge report codes for a lock it does not serve.
    response = site.helper.client.post(f"/bridge/v1/locks/{foreign}/code_sync", headers=site.helper.headers,
                                       json={"present": [], "unmanaged": [_found(4, "1111")]})
    assert response.status_code == 404


def test_code_sync_refuses_a_malformed_table(client, site):
    lock_id = site.lock_ids[0]
    for bad in ([{"slot": 0, "code": "1234"}], [{"slot": 1, "code": "12a4"}], [{"slot": 1}]):
        response = site.helper.client.post(f"/bridge/v1/locks/{lock_id}/code_sync", headers=site.helper.headers,
                                           json={"present": [], "unmanaged": bad})
        assert response.status_code == 400 and response.get_json()["error_code"] == "INVALID_REQUEST"


def test_an_unmanaged_code_used_at_the_keypad_is_named_as_unmanaged(client, site, auth_headers, events):
    lock_id = site.lock_ids[0]
    site.helper.code_sync(lock_id, [], unknown_slots=[5], unmanaged=[_found(5, "8642")])
    [code] = _codes(client, auth_headers, lock_id)
    site.helper.events({"lock_id": lock_id, "lock_seq": 1, "type": "unlocked", "occurred_at": "2026-12-01T10:00:00Z",
                        "data": {"source": "keypad", "slot": 5}})
    [used] = [e for e in events(lock_id) if e.event_type == "access_code.used"]
    assert used.data["access_code_id"] == code["access_code_id"] and used.data["access_code_is_managed"] is False


def test_a_new_code_whose_slot_the_lock_gave_away_moves_and_the_lock_keeps_its_code(client, site, auth_headers, events):
    """The keypad took the slot the cloud had handed out before the first put arrived."""
    lock_id = site.lock_ids[0]
    code = client.post(f"/locks/{lock_id}/access_codes", headers=auth_headers, json={"code": "4321"}).get_json()
    [first] = site.helper.poll()
    assert (first["params"]["slot"], first["params"]["replace"]) == (1, False)
    site.helper.result(first["command_id"], "failed", "SLOT_OCCUPIED")
    [again] = site.helper.poll()
    assert (again["params"]["slot"], again["params"]["replace"]) == (2, False)
    assert client.get(f"/access_codes/{code['access_code_id']}", headers=auth_headers).get_json()["status"] == "pending"
    # A third code does not take slot 1 either: the bridge has not reported what is there yet.
    third = client.post(f"/locks/{lock_id}/access_codes", headers=auth_headers, json={"code": "5555"}).get_json()
    assert third["slot"] == 3
    site.helper.result(again["command_id"])
    site.helper.code_sync(lock_id, [code["access_code_id"]], unknown_slots=[1], unmanaged=[_found(1, "8642")])
    listed = {c["slot"]: c for c in _codes(client, auth_headers, lock_id)}
    assert (listed[1]["is_managed"], listed[2]["access_code_id"], listed[2]["status"]) == (
        False, code["access_code_id"], "active")
    kinds = [(e.event_type, e.data.get("status")) for e in events(lock_id) if e.event_type == "access_code.created"]
    assert kinds == [("access_code.created", "success")]  # the move is the cloud's business, not Seam's


def test_a_reconcile_that_finds_a_new_codes_slot_taken_moves_the_cloud_code(client, site, auth_headers):
    lock_id = site.lock_ids[0]
    code = client.post(f"/locks/{lock_id}/access_codes", headers=auth_headers, json={"code": "4321"}).get_json()
    [item] = site.helper.desired_codes(lock_id)
    assert item["replace"] is False
    # The bridge left slot 1 alone (a code set at the keypad) and reported it.
    site.helper.code_sync(lock_id, [], unknown_slots=[1], unmanaged=[_found(1, "8642")])
    moved = client.get(f"/access_codes/{code['access_code_id']}", headers=auth_headers).get_json()
    assert (moved["slot"], moved["status"]) == (2, "pending")
    assert [c["params"]["slot"] for c in site.helper.poll()] == [2]
    assert [c["slot"] for c in _codes(client, auth_headers, lock_id, "?is_managed=false")] == [1]


def test_an_unmanaged_code_being_removed_whose_slot_was_reprogrammed_is_gone(client, site, auth_headers, events):
    lock_id = site.lock_ids[0]
    site.helper.code_sync(lock_id, [], unknown_slots=[5], unmanaged=[_found(5, "8642")])
    [code] = _codes(client, auth_headers, lock_id)
    client.delete(f"/access_codes/{code['access_code_id']}", headers=auth_headers)
    # Before the bridge got to it, someone cleared slot 5 at the keypad and programmed another PIN there.
    site.helper.code_sync(lock_id, [], unknown_slots=[5], unmanaged=[_found(5, "1357")])
    [now] = _codes(client, auth_headers, lock_id)
    assert now["access_code_id"] != code["access_code_id"] and (now["code"], now["status"]) == ("1357", "active")
    assert client.get(f"/access_codes/{code['access_code_id']}", headers=auth_headers).get_json()["status"] == "removed"
    # A managed code's delete carries no PIN: its slot is the cloud's whatever it holds.
    managed = client.post(f"/locks/{lock_id}/access_codes", headers=auth_headers, json={"code": "2468"}).get_json()
    site.helper.run()
    client.delete(f"/access_codes/{managed['access_code_id']}", headers=auth_headers)
    deletes = [c for c in site.helper.poll() if c["type"] == "delete_code"]
    assert [("code" in c["params"]) for c in deletes] == [False]
