"""The owner's pages for a lock's life: claim, share, stop sharing, transfer, unclaim, and the
locks shared with the signed-in account, each opened with what its role allows."""

from __future__ import annotations

import re

import pytest

from provider.extensions import db
from provider.models import AccessCode, Action, Event, Lock, LockShare
from provider.services import sharing
from tests.provider.devices.factory_helpers import device_row, labelled
from tests.provider.web.conftest import Pages


def _events(event_type: str, lock_id: str) -> list[Event]:
    db.session.expire_all()
    return list(db.session.scalars(
        db.select(Event).where(Event.event_type == event_type, Event.device_id == lock_id).order_by(Event.seq)))


@pytest.fixture
def john_pages(app, other_account):
    from flask.testing import FlaskClient

    john = Pages(FlaskClient(app, app.response_class, use_cookies=True))
    john.sign_in("john@example.com", "5678")
    return john


def _share(lock, account, other_account, role):
    sharing.share(lock, granted_by=account.id, email=other_account.email, role=role)
    db.session.commit()


# Claiming -------------------------------------------------------------------------------


def test_claim_by_code_adds_the_lock_and_tells_the_owners_clients(owner_pages, account):
    codes = labelled([device_row(900)])
    code = codes["HALO-000900"]
    response = owner_pages.post("/account/claim", {"claim_code": code.lower(), "name": "Front door",
                                                   "timezone": "Europe/Berlin"}, page="/account/claim")
    assert response.status_code == 303, response.get_data(as_text=True)
    lock = db.session.scalar(db.select(Lock).where(Lock.owner_id == account.id))
    assert (lock.name, lock.timezone, lock.serial_number) == ("Front door", "Europe/Berlin", "HALO-000900")
    assert response.headers["Location"].endswith(f"/account/locks/{lock.id}")
    assert [e.user_id for e in _events("device.added", lock.id)] == [account.id]
    # The code is single-use: a second claim gets the API's sentence.
    again = owner_pages.post("/account/claim", {"claim_code": code}, page="/account/claim")
    assert again.status_code == 404
    assert "No unclaimed device has this claim code." in again.get_data(as_text=True)


@pytest.mark.parametrize(("form", "status", "sentence"), [
    ({"claim_code": "short"}, 400, "A claim code is 16 letters and digits, as printed on the box."),
    ({"claim_code": "ABCD-EFGH-JKLM-NPQR"}, 404, "No unclaimed device has this claim code."),
])
def test_claim_errors_are_the_apis(owner_pages, form, status, sentence):
    response = owner_pages.post("/account/claim", form, page="/account/claim")
    assert response.status_code == status
    assert sentence in response.get_data(as_text=True)
    assert db.session.query(Lock).count() == 0


def test_the_boxs_qr_code_opens_the_claim_page_with_the_code_after_sign_in(pages, account):
    from provider.services import factory

    codes = labelled([device_row(903)])
    url = factory.claim_url("http://localhost", codes["HALO-000903"])
    path = url.removeprefix("http://localhost")
    first = pages.get(path)
    sign_in = first.headers["Location"]
    assert first.status_code == 303 and sign_in.startswith("/account/sign-in?next=/account/claim")
    signed = pages.post(sign_in, {"email": "jane@example.com", "password": "1234"}, page=sign_in)
    assert signed.headers["Location"].endswith(path)
    html = pages.get(path).get_data(as_text=True)
    assert f'value="{codes["HALO-000903"]}"' in html


def test_claim_without_csrf_is_refused(owner_pages):
    codes = labelled([device_row(901)])
    response = owner_pages.client.post("/account/claim", data={"claim_code": codes["HALO-000901"]})
    assert response.status_code == 400
    assert db.session.query(Lock).count() == 0


# A lock shared with the signed-in account ---------------------------------------------------


def test_a_shared_user_sees_opens_and_operates_the_lock_but_no_codes(john_pages, site, account, other_account):
    lock = site.locks[0]
    _share(lock, account, other_account, "user")
    html = john_pages.get("/account/locks").get_data(as_text=True)
    assert lock.name in html and site.locks[1].name not in html
    assert "Shared with you: user" in html
    page = john_pages.get(f"/account/locks/{lock.id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert f"Unlock {lock.name}" in text
    for absent in ("New access code", "Access codes", "Share this lock", "Transfer", "Remove from my account"):
        assert absent not in text, absent
    assert "Leave this lock" in text
    response = john_pages.post(f"/account/locks/{lock.id}/actions", {"action": "unlock"},
                               page=f"/account/locks/{lock.id}")
    assert response.status_code == 303
    assert db.session.query(Action).one().lock_id == lock.id
    # What the role does not allow is refused with the API's sentence, never done.
    refused = john_pages.post(f"/account/locks/{lock.id}/codes", {"code": "4821"}, page=f"/account/locks/{lock.id}")
    assert refused.status_code == 403
    assert "A user of this lock may not see or change its access codes." in refused.get_data(as_text=True)
    assert john_pages.post(f"/account/locks/{lock.id}/transfer", {"to_email": "john@example.com", "confirm": "yes"},
                           page=f"/account/locks/{lock.id}").status_code == 403
    assert db.session.query(AccessCode).count() == 0
    assert db.session.get(Lock, lock.id).owner_id == account.id


def test_a_shared_users_history_starts_at_the_share_and_leaves_out_codes(john_pages, site, account,
                                                                         other_account, frozen_clock):
    from provider.services.events import record_event

    lock = site.locks[0]
    record_event("device.low_battery", device=lock, data={"battery_level": 0.3})
    db.session.commit()
    frozen_clock.advance(60)
    _share(lock, account, other_account, "user")
    frozen_clock.advance(60)
    record_event("device.door_opened", device=lock, data={"door_state": "open"})
    record_event("access_code.created", device=lock, data={"access_code_id": "x"})
    db.session.commit()
    html = john_pages.get(f"/account/locks/{lock.id}/history").get_data(as_text=True)
    shown = set(re.findall(r'<td data-label="What">([^<]+)</td>', html))
    assert shown == {"Door opened", "Added to your account"}


def test_an_admin_manages_codes_and_shares_but_may_not_hand_the_lock_over(john_pages, site, account,
                                                                          other_account):
    lock = site.locks[0]
    _share(lock, account, other_account, "admin")
    text = john_pages.get(f"/account/locks/{lock.id}").get_data(as_text=True)
    assert "New access code" in text and "Share this lock" in text and "Transfer" not in text
    response = john_pages.post(f"/account/locks/{lock.id}/codes", {"name": "Cleaner", "code": "4821"},
                               page=f"/account/locks/{lock.id}")
    assert response.status_code == 303, response.get_data(as_text=True)
    assert db.session.query(AccessCode).one().lock_id == lock.id
    assert john_pages.post(f"/account/locks/{lock.id}/unclaim", {"confirm": "yes"},
                           page=f"/account/locks/{lock.id}").status_code == 403


def test_a_stranger_gets_404_for_every_lock_page(john_pages, site):
    lock = site.locks[0]
    for path in (f"/account/locks/{lock.id}", f"/account/locks/{lock.id}/history"):
        assert john_pages.get(path).status_code == 404, path
    for path, form in ((f"/account/locks/{lock.id}/shares", {"email": "john@example.com", "role": "admin"}),
                       (f"/account/locks/{lock.id}/transfer", {"to_email": "john@example.com", "confirm": "yes"}),
                       (f"/account/locks/{lock.id}/unclaim", {"confirm": "yes"})):
        assert john_pages.post(path, form, page="/account/locks").status_code == 404, path
    assert db.session.query(LockShare).count() == 0
    assert db.session.get(Lock, lock.id) is not None


# Sharing from the owner's page ----------------------------------------------------------------


def test_owner_shares_by_email_lists_and_stops_sharing_after_confirming(owner_pages, site, account, other_account):
    lock = site.locks[0]
    page = f"/account/locks/{lock.id}"
    response = owner_pages.post(f"{page}/shares", {"email": "John@Example.com", "role": "user"}, page=page)
    assert response.status_code == 303, response.get_data(as_text=True)
    share = db.session.query(LockShare).one()
    assert (share.account_id, share.role) == (other_account.id, "user")
    assert _events("device.added", lock.id)[-1].user_id == other_account.id
    assert 'data-share-email="john@example.com"' in owner_pages.get(page).get_data(as_text=True)
    # Once more with another role: the role changes, nothing is added.
    owner_pages.post(f"{page}/shares", {"email": "john@example.com", "role": "admin"}, page=page)
    db.session.expire_all()
    assert db.session.query(LockShare).one().role == "admin"
    # Stopping asks first (a page, no script), and only the confirmed form acts.
    asked = owner_pages.post(f"{page}/shares/{share.id}/revoke", page=page)
    assert asked.status_code == 200
    assert "Stop sharing Door 0 with john@example.com?" in asked.get_data(as_text=True)
    assert db.session.query(LockShare).count() == 1
    done = owner_pages.post(f"{page}/shares/{share.id}/revoke", {"confirm": "yes"}, page=page)
    assert done.status_code == 303
    assert db.session.query(LockShare).count() == 0
    assert _events("device.removed", lock.id)[-1].user_id == other_account.id


@pytest.mark.parametrize(("form", "status", "sentence"), [
    ({"email": "nobody@example.com", "role": "user"}, 404, "No account has this email address."),
    ({"email": "jane@example.com", "role": "user"}, 409, "This account owns the lock."),
    ({"email": "john@example.com", "role": "root"}, 400, "role must be one of admin, user."),
])
def test_share_errors_are_the_apis(owner_pages, site, other_account, form, status, sentence):
    lock = site.locks[0]
    response = owner_pages.post(f"/account/locks/{lock.id}/shares", form, page=f"/account/locks/{lock.id}")
    assert response.status_code == status
    assert sentence in response.get_data(as_text=True)
    assert db.session.query(LockShare).count() == 0


def test_a_shared_user_leaves_the_lock(john_pages, site, account, other_account):
    lock = site.locks[0]
    _share(lock, account, other_account, "user")
    share = db.session.query(LockShare).one()
    response = john_pages.post(f"/account/locks/{lock.id}/shares/{share.id}/revoke", {"confirm": "yes"},
                               page=f"/account/locks/{lock.id}")
    assert response.status_code == 303
    assert db.session.query(LockShare).count() == 0
    assert john_pages.get(f"/account/locks/{lock.id}").status_code == 404


# Transfer and unclaim ------------------------------------------------------------------------


def test_transfer_asks_then_hands_the_lock_over(owner_pages, site, account, other_account):
    lock = site.locks[0]
    page = f"/account/locks/{lock.id}"
    asked = owner_pages.post(f"{page}/transfer", {"to_email": "john@example.com"}, page=page)
    assert asked.status_code == 200 and "Give Door 0 to john@example.com?" in asked.get_data(as_text=True)
    assert db.session.get(Lock, lock.id).owner_id == account.id
    done = owner_pages.post(f"{page}/transfer", {"to_email": "john@example.com", "confirm": "yes"}, page=page)
    assert done.status_code == 303
    db.session.expire_all()
    assert db.session.get(Lock, lock.id).owner_id == other_account.id
    assert owner_pages.get(page).status_code == 404
    assert [e.user_id for e in _events("device.removed", lock.id)] == [account.id]


def test_transfer_to_an_unknown_account_says_so_and_changes_nothing(owner_pages, site, account):
    lock = site.locks[0]
    page = f"/account/locks/{lock.id}"
    response = owner_pages.post(f"{page}/transfer", {"to_email": "nobody@example.com", "confirm": "yes"}, page=page)
    assert response.status_code == 404
    assert "No account has this email address." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Lock, lock.id).owner_id == account.id


def test_unclaim_asks_then_shows_the_new_claim_code_once(owner_pages, account):
    codes = labelled([device_row(902)])
    owner_pages.post("/account/claim", {"claim_code": codes["HALO-000902"]}, page="/account/claim")
    lock = db.session.scalar(db.select(Lock).where(Lock.owner_id == account.id))
    page = f"/account/locks/{lock.id}"
    asked = owner_pages.post(f"{page}/unclaim", page=page)
    assert asked.status_code == 200 and "Remove HALO-01 0902 from your account?" in asked.get_data(as_text=True)
    assert db.session.get(Lock, lock.id) is not None
    done = owner_pages.post(f"{page}/unclaim", {"confirm": "yes"}, page=page)
    assert done.status_code == 200
    text = done.get_data(as_text=True)
    assert 'id="new-claim-code"' in text
    new_code = text.split('id="new-claim-code">')[1].split("<")[0]
    assert db.session.query(Lock).count() == 0
    # The new code claims it again; the old one no longer does.
    assert owner_pages.post("/account/claim", {"claim_code": codes["HALO-000902"]},
                            page="/account/claim").status_code == 404
    assert owner_pages.post("/account/claim", {"claim_code": new_code}, page="/account/claim").status_code == 303


# Unmanaged codes -------------------------------------------------------------------------------


def _unmanaged(site, lock, slot: int = 3, pin: str = "7788") -> AccessCode:
    """A code typed in at the keypad, as the bridge reports it when it reads the lock's table."""
    site.helper.code_sync(lock.id, [], unknown_slots=[slot], removed_slots=[],
                          unmanaged=[{"slot": slot, "code": pin, "name": None}])
    db.session.expire_all()
    return db.session.scalar(db.select(AccessCode).where(AccessCode.lock_id == lock.id, AccessCode.slot == slot))


def test_unmanaged_codes_are_marked_and_converted_or_deleted(owner_pages, site):
    lock = site.locks[0]
    code = _unmanaged(site, lock)
    page = f"/account/locks/{lock.id}"
    html = owner_pages.get(page).get_data(as_text=True)
    assert 'data-managed="no"' in html and "set on the lock" in html
    assert f"/account/codes/{code.id}/edit" not in html, "an unmanaged code is converted before it is edited"
    assert owner_pages.get(f"/account/codes/{code.id}/edit").status_code == 200
    response = owner_pages.post(f"/account/codes/{code.id}/edit", {"name": "X", "code": "7788"}, page=page)
    assert response.status_code == 409
    assert "convert it to a managed code first" in response.get_data(as_text=True)
    assert owner_pages.post(f"/account/codes/{code.id}/convert", page=page).status_code == 303
    db.session.expire_all()
    assert db.session.get(AccessCode, code.id).is_managed is True
    assert 'data-managed="no"' not in owner_pages.get(page).get_data(as_text=True)
    other = _unmanaged(site, lock, slot=4, pin="9911")
    assert owner_pages.post(f"/account/codes/{other.id}/delete", page=page).status_code == 303
    db.session.expire_all()
    assert db.session.get(AccessCode, other.id).status == "removing"
