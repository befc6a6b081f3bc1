from __future__ import annotations

import pytest

from provider.extensions import db
from provider.models import Event, LockShare
from provider.services.accounts import create_account
from tests.provider.devices.factory_helpers import bearer, vendor_token


@pytest.fixture
def guest(app):
    """A third account, the one locks get shared with."""
    account = create_account("guest@example.com", "guest-pass")
    db.session.commit()
    return account


def _share(client, owner, lock_id, email, role):
    return client.post(f"/locks/{lock_id}/shares", headers=bearer(vendor_token(owner)),
                       json={"email": email, "role": role})


def _events(event_type: str, device_id: str) -> list[Event]:
    db.session.expire_all()
    return list(db.session.scalars(
        db.select(Event).where(Event.event_type == event_type, Event.device_id == device_id).order_by(Event.seq)))


def test_sharing_sends_device_added_to_the_guest_and_lists_the_lock_with_its_role(app, client, account, guest,
                                                                                  make_token, site):
    lock_id = site.lock_ids[0]
    response = _share(client, account, lock_id, "Guest@Example.com", "user")
    assert response.status_code == 201, response.get_json()
    share = response.get_json()
    assert (share["email"], share["role"], share["account_id"]) == ("guest@example.com", "user", guest.id)
    assert [e.user_id for e in _events("device.added", lock_id)][-1] == guest.id
    # The guest's Seam (an integrator token with Seam's scopes) sees the lock as a user.
    seam = {"Authorization": f"Bearer {make_token(guest)}"}
    listed = client.get("/locks", headers=seam).get_json()["locks"]
    assert [(lock["lock_id"], lock["role"]) for lock in listed] == [(lock_id, "user")]
    owner_view = client.get("/locks", headers={"Authorization": f"Bearer {make_token(account)}"}).get_json()
    assert {lock["role"] for lock in owner_view["locks"]} == {"owner"}


def test_a_user_may_lock_and_unlock_but_not_touch_codes_or_sharing(app, client, account, guest, make_token, site):
    lock_id = site.lock_ids[0]
    _share(client, account, lock_id, guest.email, "user")
    seam = {"Authorization": f"Bearer {make_token(guest)}"}
    action = client.post(f"/locks/{lock_id}/actions", headers=seam, json={"action": "unlock"})
    assert action.status_code == 200, action.get_json()
    assert client.get(f"/actions/{action.get_json()['action_id']}", headers=seam).status_code == 200
    # The owner sees the guest's action on their lock.
    owner = {"Authorization": f"Bearer {make_token(account)}"}
    assert client.get(f"/actions/{action.get_json()['action_id']}", headers=owner).status_code == 200
    for response in (
        client.get(f"/locks/{lock_id}/access_codes", headers=seam),
        client.post(f"/locks/{lock_id}/access_codes", headers=seam, json={"code": "4821"}),
        _share(client, guest, lock_id, "john@example.com", "user"),
        client.post(f"/locks/{lock_id}/transfer", headers=bearer(vendor_token(guest)),
                    json={"to_email": guest.email}),
    ):
        assert response.status_code == 403, response.get_json()
        assert response.get_json()["error_code"] == "FORBIDDEN_FOR_ROLE"


def test_an_admin_manages_codes_the_owner_sees_and_may_share_but_not_transfer(app, client, account, guest,
                                                                              other_account, make_token, site):
    lock_id = site.lock_ids[0]
    _share(client, account, lock_id, guest.email, "admin")
    admin = {"Authorization": f"Bearer {make_token(guest)}"}
    created = client.post(f"/locks/{lock_id}/access_codes", headers=admin, json={"code": "4821", "name": "Cleaner"})
    assert created.status_code in (200, 201), created.get_json()
    code_id = created.get_json()["access_code_id"]
    owner = {"Authorization": f"Bearer {make_token(account)}"}
    assert client.get(f"/access_codes/{code_id}", headers=owner).status_code == 200
    assert _share(client, guest, lock_id, other_account.email, "user").status_code == 201
    assert client.post(f"/locks/{lock_id}/unclaim", headers=bearer(vendor_token(guest))).status_code == 403


def test_a_stranger_sees_nothing_of_a_shared_lock(app, client, account, guest, other_account, make_token, site):
    lock_id = site.lock_ids[0]
    _share(client, account, lock_id, guest.email, "admin")
    code_id = client.post(f"/locks/{lock_id}/access_codes", headers={"Authorization": f"Bearer {make_token(account)}"},
                          json={"code": "4821"}).get_json()["access_code_id"]
    stranger = {"Authorization": f"Bearer {make_token(other_account)}"}
    assert client.get(f"/locks/{lock_id}", headers=stranger).status_code == 404
    assert client.get(f"/access_codes/{code_id}", headers=stranger).status_code == 404
    assert client.post(f"/locks/{lock_id}/actions", headers=stranger, json={"action": "lock"}).status_code == 404
    assert client.get(f"/locks/{lock_id}/shares", headers=bearer(vendor_token(other_account))).status_code == 404
    assert client.get("/locks", headers=stranger).get_json()["locks"] == []


def test_revoking_a_share_removes_the_lock_from_the_guest(app, client, account, guest, make_token, site):
    lock_id = site.lock_ids[0]
    share_id = _share(client, account, lock_id, guest.email, "user").get_json()["share_id"]
    response = client.delete(f"/locks/{lock_id}/shares/{share_id}", headers=bearer(vendor_token(account)))
    assert response.status_code == 200
    assert [e.user_id for e in _events("device.removed", lock_id)] == [guest.id]
    seam = {"Authorization": f"Bearer {make_token(guest)}"}
    assert client.get("/locks", headers=seam).get_json()["locks"] == []
    assert client.post(f"/locks/{lock_id}/actions", headers=seam, json={"action": "lock"}).status_code == 404


def test_a_guest_may_leave_but_not_remove_other_guests(app, client, account, guest, other_account, site):
    lock_id = site.lock_ids[0]
    mine = _share(client, account, lock_id, guest.email, "user").get_json()["share_id"]
    theirs = _share(client, account, lock_id, other_account.email, "user").get_json()["share_id"]
    as_guest = bearer(vendor_token(guest))
    assert client.delete(f"/locks/{lock_id}/shares/{theirs}", headers=as_guest).status_code == 403
    assert client.delete(f"/locks/{lock_id}/shares/{mine}", headers=as_guest).status_code == 200
    assert db.session.scalar(db.select(db.func.count()).select_from(LockShare)) == 1


def test_sharing_again_changes_the_role_without_a_second_device_added(app, client, account, guest, site):
    lock_id = site.lock_ids[0]
    _share(client, account, lock_id, guest.email, "user")
    again = _share(client, account, lock_id, guest.email, "admin")
    assert again.status_code == 200 and again.get_json()["role"] == "admin"
    assert [e.user_id for e in _events("device.added", lock_id)].count(guest.id) == 1
    listed = client.get(f"/locks/{lock_id}/shares", headers=bearer(vendor_token(account))).get_json()["shares"]
    assert [(s["email"], s["role"]) for s in listed] == [("guest@example.com", "admin")]


def test_sharing_with_the_owner_or_an_unknown_account_is_refused(app, client, account, site):
    lock_id = site.lock_ids[0]
    assert _share(client, account, lock_id, account.email, "user").status_code == 409
    assert _share(client, account, lock_id, "nobody@example.com", "user").status_code == 404
    assert _share(client, account, lock_id, "nobody@example.com", "root").status_code == 400


def test_transfer_ends_every_share_with_device_removed(app, client, account, guest, other_account, site):
    lock_id = site.lock_ids[0]
    _share(client, account, lock_id, guest.email, "admin")
    client.post(f"/locks/{lock_id}/transfer", headers=bearer(vendor_token(account)),
                json={"to_email": other_account.email})
    assert {e.user_id for e in _events("device.removed", lock_id)} == {guest.id, account.id}
    assert db.session.scalar(db.select(db.func.count()).select_from(LockShare)) == 0


def test_lock_pages_merge_owned_and_shared_locks_in_id_order(app, client, account, guest, make_token, site,
                                                             other_site):
    from tests.provider.devices.conftest import make_site

    mine = make_site(app, guest, count=2)
    _share(client, account, site.lock_ids[0], guest.email, "user")
    _share(client, account, site.lock_ids[1], guest.email, "admin")
    seam = {"Authorization": f"Bearer {make_token(guest)}"}
    expected = sorted(mine.lock_ids + site.lock_ids)
    seen, cursor = [], None
    while True:
        query = "/locks?limit=1" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(query, headers=seam).get_json()
        seen += [lock["lock_id"] for lock in page["locks"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
