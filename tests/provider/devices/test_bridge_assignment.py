from __future__ import annotations

import pytest

from provider.cli import locks as locks_cli
from provider.extensions import db
from provider.models import Bridge, Event, Lock
from provider.services import bridges, locks
from tests.provider.bridge_helper import BridgeHelper
from tests.provider.devices.factory_helpers import bearer, device_row, labelled, vendor_token


def _helper(app, owner, name):
    bridge, token = bridges.create_bridge(owner.id, name)
    bridge.online = True
    db.session.commit()
    return bridge, BridgeHelper(app.test_client(), token)


def _scan(helper, *results):
    return helper._call("POST", "/scan", json={"results": [{"ble_address": a, "rssi": r} for a, r in results]})


@pytest.fixture
def shelf(app):
    rows = [device_row(n) for n in range(2)]
    return rows, labelled(rows)


def test_a_claimed_lock_goes_to_the_owners_bridge_that_hears_it_loudest(app, client, account, other_account,
                                                                         shelf):
    rows, codes = shelf
    address = rows[0]["ble_address"]
    hall, hall_api = _helper(app, account, "Hall")
    porch, porch_api = _helper(app, account, "Porch")
    _, neighbour_api = _helper(app, other_account, "Neighbour")
    assert _scan(hall_api, (address, -80))["recorded"] == 1
    _scan(porch_api, (address.lower(), -55), ("AA:BB:CC:DD:EE:FF", -40))
    _scan(neighbour_api, (address, -30))  # louder, but another owner's bridge
    lock = client.post("/devices/claim", headers=bearer(vendor_token(account)),
                       json={"claim_code": codes[rows[0]["serial"]]}).get_json()
    assert lock["bridge_id"] == porch.id
    assert [item["lock_id"] for item in porch_api.locks()["locks"]] == [lock["lock_id"]]
    assert hall_api.locks()["locks"] == []


def test_the_owner_moves_a_lock_and_its_queued_commands_follow(app, client, account, shelf):
    rows, codes = shelf
    hall, hall_api = _helper(app, account, "Hall")
    porch, porch_api = _helper(app, account, "Porch")
    owner = bearer(vendor_token(account))
    lock_id = client.post("/devices/claim", headers=owner,
                          json={"claim_code": codes[rows[0]["serial"]], "bridge_id": hall.id}).get_json()["lock_id"]
    client.post(f"/locks/{lock_id}/access_codes", headers=owner, json={"code": "4821"})
    moved = client.put(f"/locks/{lock_id}/bridge", headers=owner, json={"bridge_id": porch.id})
    assert moved.status_code == 200 and moved.get_json() == {"lock_id": lock_id, "bridge_id": porch.id}
    assert hall_api.poll() == []
    # The claim's key rotation and the code, both handed to the new bridge.
    assert sorted(command["type"] for command in porch_api.poll()) == ["put_code", "rotate_key"]
    assert db.session.get(Lock, lock_id).bridge_id == porch.id


def test_moving_to_the_loudest_needs_a_bridge_that_heard_it(app, client, account, other_site, shelf):
    rows, codes = shelf
    owner = bearer(vendor_token(account))
    lock_id = client.post("/devices/claim", headers=owner,
                          json={"claim_code": codes[rows[0]["serial"]]}).get_json()["lock_id"]
    nobody = client.put(f"/locks/{lock_id}/bridge", headers=owner, json={})
    assert nobody.status_code == 409 and nobody.get_json()["error_code"] == "NO_BRIDGE_HEARS_LOCK"
    foreign = client.put(f"/locks/{lock_id}/bridge", headers=owner, json={"bridge_id": other_site.bridge.id})
    assert foreign.status_code == 404
    porch, porch_api = _helper(app, account, "Porch")
    _scan(porch_api, (rows[0]["ble_address"], -70))
    assert client.put(f"/locks/{lock_id}/bridge", headers=owner, json={"bridge_id": None}).get_json()[
        "bridge_id"] == porch.id


def test_a_duplicate_ble_address_is_refused(app, account, site, shelf):
    rows, _ = shelf
    for address in (site.locks[0].ble_address, rows[1]["ble_address"]):
        with pytest.raises(locks.LockRegistrationError, match="already registered"):
            locks.add_lock(owner_id=account.id, bridge=site.bridge, name="Twin", ble_address=address.lower())
    result = app.test_cli_runner().invoke(locks_cli.locks, args=[
        "add", "--owner", account.email, "--bridge", site.bridge.id, "--name", "Twin",
        "--ble-address", site.locks[0].ble_address])
    assert result.exit_code != 0 and "already registered" in result.output


def test_the_owner_adds_and_removes_a_bridge(app, client, account, other_account, site):
    owner = bearer(vendor_token(account))
    created = client.post("/bridges", headers=owner, json={"name": "Garage"})
    assert created.status_code == 201
    body = created.get_json()
    assert body["token"].startswith("brg_") and body["name"] == "Garage"
    assert BridgeHelper(app.test_client(), body["token"]).locks()["locks"] == []
    listed = client.get("/bridges", headers=owner).get_json()["bridges"]
    assert {item["bridge_id"] for item in listed} == {site.bridge.id, body["bridge_id"]}
    assert client.get("/bridges", headers=bearer(vendor_token(other_account))).get_json()["bridges"] == []
    assert client.delete(f"/bridges/{site.bridge.id}", headers=bearer(vendor_token(other_account))).status_code == 404

    removed = client.delete(f"/bridges/{site.bridge.id}", headers=owner)
    assert removed.status_code == 200 and removed.get_json()["locks_detached"] == 2
    db.session.expire_all()
    assert db.session.get(Bridge, site.bridge.id) is None
    assert all(db.session.get(Lock, lock_id).bridge_id is None for lock_id in site.lock_ids)
    offline = db.session.scalars(db.select(Event.device_id).where(Event.event_type == "device.offline")).all()
    assert sorted(offline) == sorted(site.lock_ids)
    site.helper._call("GET", "/locks", expect=401)


def test_scan_results_are_validated(app, site):
    site.helper._call("POST", "/scan", expect=400, json={"results": [{"ble_address": "nope", "rssi": -50}]})
    site.helper._call("POST", "/scan", expect=400, json={"results": [{"ble_address": "AA:BB:CC:DD:EE:FF",
                                                                       "rssi": -500}]})


def test_the_operator_moves_a_lock_from_the_cli(app, account, site):
    other, _ = _helper(app, account, "Porch")
    runner = app.test_cli_runner()
    result = runner.invoke(locks_cli.locks, args=["move", "--lock", site.lock_ids[0], "--bridge", other.id])
    assert result.exit_code == 0, result.output
    assert db.session.get(Lock, site.lock_ids[0]).bridge_id == other.id
    refused = runner.invoke(locks_cli.locks, args=["move", "--lock", site.lock_ids[1]])
    assert refused.exit_code != 0 and "has heard this lock" in refused.output
