"""A lock's life through the owner's pages in headless Chromium, keyboard first, axe on each page:
claim a lock with the code from its box, share it, the shared user opens it with their role,
stop sharing, transfer, unclaim."""

from __future__ import annotations

import pytest

from provider.extensions import db
from provider.models import Lock, LockShare
from tests.browser import check_page
from tests.provider.devices.factory_helpers import device_row, labelled

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]


def _sign_in(page, email: str, password: str) -> None:
    page.goto("/account/sign-in")
    page.fill("#email", email)
    page.fill("#password", password)
    page.press("#password", "Enter")
    page.wait_for_selector("h1:has-text('Your locks')")


def _sign_out(page) -> None:
    page.click("#sign-out")
    page.wait_for_selector("text=You are signed out.")


def _lock_of(account_id: str) -> Lock:
    db.session.expire_all()
    return db.session.scalar(db.select(Lock).where(Lock.owner_id == account_id))


def test_owner_claims_shares_and_the_shared_user_gets_only_their_role(page, app, account, other_account):
    codes = labelled([device_row(950)])
    _sign_in(page, "jane@example.com", "1234")
    page.click("#claim-link")
    check_page(page, "account-claim")
    page.fill("#claim-code", "not a code")
    page.press("#claim-code", "Enter")
    assert page.inner_text("#claim-error") == "A claim code is 16 letters and digits, as printed on the box."
    check_page(page, "account-claim-error")
    page.fill("#claim-code", codes["HALO-000950"])
    page.fill("#claim-name", "Front door")
    page.fill("#claim-timezone", "Europe/Berlin")
    page.press("#claim-timezone", "Enter")
    page.wait_for_selector("h1:has-text('Front door')")
    assert page.is_visible("text=Front door is now yours")
    lock = _lock_of(account.id)
    assert (lock.name, lock.timezone) == ("Front door", "Europe/Berlin")

    # Share with an address that has no account: the API's sentence, nothing shared.
    page.fill("#share-email", "nobody@example.com")
    page.click("#share-submit")
    assert page.inner_text("#share-error") == "No account has this email address."
    check_page(page, "account-share-error")
    page.fill("#share-email", "john@example.com")
    page.check("#share-role-user")
    page.click("#share-submit")
    page.wait_for_selector("tr[data-share-email='john@example.com']")
    check_page(page, "account-lock-shared")
    _sign_out(page)

    _sign_in(page, "john@example.com", "5678")
    assert page.inner_text("[data-role=user] [data-testid=role]") == "Shared with you: user (lock and unlock)"
    check_page(page, "account-locks-shared-user")
    page.click("text=Front door")
    page.wait_for_selector("h1:has-text('Front door')")
    assert page.is_visible("button[aria-label='Unlock Front door']")
    for absent in ("#code-pin", "#share-email", "#transfer", "#unclaim"):
        assert page.locator(absent).count() == 0, absent
    check_page(page, "account-lock-as-user")
    _sign_out(page)

    # Jane stops sharing: asked on a page first, then done.
    _sign_in(page, "jane@example.com", "1234")
    page.goto(f"/account/locks/{lock.id}")
    page.click("button[aria-label='Stop sharing with john@example.com']")
    page.wait_for_selector("h1:has-text('Stop sharing Front door with john@example.com?')")
    check_page(page, "account-confirm-stop-sharing")
    page.click("#cancel")
    page.wait_for_selector("tr[data-share-email='john@example.com']")
    page.click("button[aria-label='Stop sharing with john@example.com']")
    page.focus("#confirm")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Sharing stopped.")
    assert db.session.query(LockShare).count() == 0


def test_owner_transfers_then_the_new_owner_unclaims_and_gets_a_new_code(page, app, account, other_account):
    codes = labelled([device_row(951)])
    _sign_in(page, "jane@example.com", "1234")
    page.goto("/account/claim")
    page.fill("#claim-code", codes["HALO-000951"])
    page.click("#claim-submit")
    page.wait_for_selector("h1:has-text('HALO-01 0951')")
    page.fill("#transfer-email", "john@example.com")
    page.click("#transfer")
    page.wait_for_selector("h1:has-text('Give HALO-01 0951 to john@example.com?')")
    check_page(page, "account-confirm-transfer")
    page.click("#confirm")
    page.wait_for_selector("text=now belongs to john@example.com")
    assert _lock_of(other_account.id) is not None and _lock_of(account.id) is None
    _sign_out(page)

    _sign_in(page, "john@example.com", "5678")
    page.click("text=HALO-01 0951")
    page.click("#unclaim")
    page.wait_for_selector("h1:has-text('Remove HALO-01 0951 from your account?')")
    page.click("#confirm")
    page.wait_for_selector("#new-claim-code")
    check_page(page, "account-unclaimed")
    assert len(page.inner_text("#new-claim-code").replace("-", "")) == 16
    assert _lock_of(other_account.id) is None
