from __future__ import annotations

import pytest

from provider.extensions import db
from provider.models import AccessCode, Command, Event, FactoryDevice, Lock
from provider.services import bridges, factory, locks
from tests.provider.devices.factory_helpers import bearer, device_row, labelled, vendor_token


@pytest.fixture
def boxed(app):
    """Two labelled devices on the shelf: serial -> claim code."""
    return labelled([device_row(n) for n in range(2)])


def _events(event_type: str, device_id: str) -> list[Event]:
    db.session.expire_all()
    return list(db.session.scalars(
        db.select(Event).where(Event.event_type == event_type, Event.device_id == device_id).order_by(Event.seq)))


def _claim(client, account, code, **body):
    return client.post("/devices/claim", headers=bearer(vendor_token(account)), json={"claim_code": code, **body})


def test_claiming_a_boxed_device_makes_it_the_owners_lock_with_device_added(app, client, account, boxed):
    response = _claim(client, account, boxed["HALO-000000"], name="Front door", timezone="Europe/Paris")
    assert response.status_code == 201, response.get_json()
    lock = response.get_json()
    assert (lock["name"], lock["model"], lock["timezone"], lock["bridge_id"]) == (
        "Front door", "HALO-01", "Europe/Paris", None)
    [added] = _events("device.added", lock["lock_id"])
    assert added.user_id == account.id
    row = db.session.get(Lock, lock["lock_id"])
    device = factory.find_device("HALO-000000")
    assert row.device_id == device.id and locks.device_key(row) == factory.device_key(device)
    assert device.claim_code_hash is None and device.claimed_at is not None
    listed = client.get("/locks", headers=bearer(vendor_token(account))).get_json()["locks"]
    assert [item["lock_id"] for item in listed] == [lock["lock_id"]]


def test_a_claim_code_works_once(app, client, account, other_account, boxed):
    assert _claim(client, account, boxed["HALO-000000"]).status_code == 201
    again = _claim(client, other_account, boxed["HALO-000000"])
    assert again.status_code == 404 and again.get_json()["error_code"] == "CLAIM_CODE_NOT_FOUND"
    assert db.session.scalar(db.select(db.func.count()).select_from(Lock)) == 1


def test_a_scanned_label_url_claims_like_the_typed_code(app, client, account, boxed):
    url = factory.claim_url("https://locks.example", boxed["HALO-000001"].lower())
    assert _claim(client, account, url).status_code == 201


def test_a_malformed_claim_code_is_a_400(app, client, account, boxed):
    response = _claim(client, account, "not-a-code")
    assert response.status_code == 400 and response.get_json()["error_code"] == "INVALID_CLAIM_CODE"


def test_claiming_onto_another_owners_bridge_is_refused_and_keeps_the_code(app, client, account, other_site,
                                                                            boxed):
    response = _claim(client, account, boxed["HALO-000000"], bridge_id=other_site.bridge.id)
    assert response.status_code == 404
    assert _claim(client, account, boxed["HALO-000000"]).status_code == 201


def test_claiming_onto_the_owners_bridge_serves_it_there(app, client, account, site, boxed):
    lock = _claim(client, account, boxed["HALO-000000"], bridge_id=site.bridge.id).get_json()
    assert lock["bridge_id"] == site.bridge.id
    served = site.helper.client.get("/bridge/v1/locks", headers=site.helper.headers).get_json()["locks"]
    assert lock["lock_id"] in [item["lock_id"] for item in served]


def test_an_integrator_token_without_devices_manage_cannot_claim(app, client, account, auth_headers, boxed):
    response = client.post("/devices/claim", headers=auth_headers, json={"claim_code": boxed["HALO-000000"]})
    assert response.status_code == 403
    assert factory.find_device("HALO-000000").claimed_at is None


def test_transfer_moves_the_lock_and_leaves_nothing_of_the_old_owner(app, client, account, other_account, site,
                                                                      boxed):
    lock_id = _claim(client, account, boxed["HALO-000000"], bridge_id=site.bridge.id).get_json()["lock_id"]
    old = bearer(vendor_token(account))
    db.session.get(Lock, lock_id).online = True
    db.session.commit()
    assert client.post(f"/locks/{lock_id}/access_codes", headers=old, json={"code": "4821"}).status_code in (
        200, 201)
    response = client.post(f"/locks/{lock_id}/transfer", headers=old, json={"to_email": "JOHN@example.com"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"lock_id": lock_id, "transferred_to": "john@example.com"}
    [removed] = _events("device.removed", lock_id)
    added = _events("device.added", lock_id)
    assert removed.user_id == account.id and [e.user_id for e in added] == [account.id, other_account.id]
    assert removed.seq < added[-1].seq
    assert client.get(f"/locks/{lock_id}", headers=old).status_code == 404
    new = bearer(vendor_token(other_account))
    lock = client.get(f"/locks/{lock_id}", headers=new).get_json()
    assert lock["bridge_id"] is None  # jane's bridge no longer serves john's lock
    assert client.get(f"/locks/{lock_id}/access_codes", headers=new).get_json()["access_codes"] == []
    assert db.session.scalar(db.select(db.func.count()).select_from(AccessCode)) == 0
    assert not db.session.scalars(db.select(Command).where(Command.lock_id == lock_id,
                                                           Command.status.in_(("queued", "leased")))).all()


def test_only_the_owner_can_transfer_or_unclaim(app, client, account, other_account, boxed):
    lock_id = _claim(client, account, boxed["HALO-000000"]).get_json()["lock_id"]
    stranger = bearer(vendor_token(other_account))
    assert client.post(f"/locks/{lock_id}/transfer", headers=stranger,
                       json={"to_email": "john@example.com"}).status_code == 404
    assert client.post(f"/locks/{lock_id}/unclaim", headers=stranger).status_code == 404
    assert db.session.get(Lock, lock_id).owner_id == account.id


def test_transfer_to_an_unknown_account_changes_nothing(app, client, account, boxed):
    lock_id = _claim(client, account, boxed["HALO-000000"]).get_json()["lock_id"]
    response = client.post(f"/locks/{lock_id}/transfer", headers=bearer(vendor_token(account)),
                           json={"to_email": "nobody@example.com"})
    assert response.status_code == 404 and response.get_json()["error_code"] == "ACCOUNT_NOT_FOUND"
    assert _events("device.removed", lock_id) == []


def test_unclaim_returns_the_device_to_the_shelf_with_a_new_code(app, client, account, other_account, boxed):
    lock_id = _claim(client, account, boxed["HALO-000000"]).get_json()["lock_id"]
    response = client.post(f"/locks/{lock_id}/unclaim", headers=bearer(vendor_token(account)))
    assert response.status_code == 200
    code = response.get_json()["claim_code"]
    assert factory.normalize_claim_code(code) is not None
    [removed] = _events("device.removed", lock_id)
    assert removed.user_id == account.id
    assert db.session.get(Lock, lock_id) is None
    assert db.session.scalar(db.select(FactoryDevice.claimed_at).where(FactoryDevice.serial == "HALO-000000")) is None
    assert _claim(client, other_account, boxed["HALO-000000"]).status_code == 404  # the box's code is spent
    again = _claim(client, other_account, code)
    assert again.status_code == 201 and again.get_json()["lock_id"] != lock_id


def test_a_legacy_lock_without_factory_record_unclaims_without_code(app, client, account, site):
    lock_id = site.lock_ids[0]
    response = client.post(f"/locks/{lock_id}/unclaim", headers=bearer(vendor_token(account)))
    assert response.status_code == 200 and response.get_json() == {"lock_id": lock_id, "claim_code": None}


def test_labels_are_refused_for_a_claimed_device(app, client, account, boxed):
    _claim(client, account, boxed["HALO-000000"])
    with pytest.raises(factory.ClaimCodeError, match="already claimed"):
        factory.issue_claim_codes(["HALO-000000"])
    db.session.rollback()


def test_bridge_token_is_not_an_owner_token(app, client, site, boxed):
    _, token = bridges.create_bridge(site.bridge.owner_id, "B2")
    db.session.commit()
    assert client.post("/devices/claim", headers=bearer(token),
                       json={"claim_code": boxed["HALO-000000"]}).status_code == 401


def test_bench_factory_reset_unclaims_and_prints_a_new_code(app, client, account, other_account, boxed):
    from provider.cli import devices as devices_cli

    lock_id = _claim(client, account, boxed["HALO-000000"]).get_json()["lock_id"]
    result = app.test_cli_runner().invoke(devices_cli.devices, args=["factory-reset", "HALO-000000"])
    assert result.exit_code == 0, result.output
    assert f"lock {lock_id} removed" in result.output
    code = result.output.split("claim code: ")[1].split()[0]
    assert [e.user_id for e in _events("device.removed", lock_id)] == [account.id]
    listing = app.test_cli_runner().invoke(devices_cli.devices, args=["list", "--unclaimed"])
    assert "HALO-000000" in listing.output and "labelled" in listing.output
    assert factory.device_key(factory.find_device("HALO-000000")) not in listing.output
    assert _claim(client, other_account, code).status_code == 201
