"""An owner uses the account pages in headless Chromium: every page checked with axe-core.

Sign in, unlock and lock (a bridge in a thread carries the commands out),
create a code and delete it, find both in the history, revoke Seam's grant and
see Seam's token refused.
"""

from __future__ import annotations

import pytest
import requests

from provider.extensions import db
from provider.models import AccessCode, Action
from tests.browser import check_page, wait_until
from tests.provider.bridge_helper import BackgroundBridge
from tests.provider.devices.conftest import make_site

# Many pages, each screenshotted and checked at two widths: minutes on a loaded 2-core machine.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]


def _settled(action_count: int):
    def check():
        db.session.expire_all()
        rows = db.session.query(Action).all()
        return len(rows) == action_count and all(row.status != "pending" for row in rows)

    return check


def _code_status(status: str, revision: int = 1):
    def check():
        db.session.expire_all()
        code = db.session.query(AccessCode).one_or_none()
        return code is not None and code.status == status and code.revision >= revision

    return check


def test_owner_signs_in_works_the_lock_and_its_codes(page, app, account, live_server):  # noqa: F811
    site = make_site(app, account)
    lock = site.locks[0]
    page.goto("/account/locks")
    check_page(page, "account-sign-in")
    page.fill("#email", "jane@example.com")
    page.fill("#password", "1234")
    page.press("#password", "Enter")  # the keyboard is enough
    page.wait_for_selector("h1:has-text('Your locks')")
    check_page(page, "account-locks")

    with BackgroundBridge(app, site.token):
        page.click(f"button[aria-label='Unlock {lock.name}']")
        page.wait_for_selector("text=unlocking — sent to the lock")
        wait_until(_settled(1), what="the unlock to finish")
        page.goto(f"/account/locks/{lock.id}")
        assert page.inner_text("[data-testid=state]") == "unlocked"
        page.click(f"button[aria-label='Lock {lock.name}']")
        wait_until(_settled(2), what="the lock to finish")
        page.reload()
        assert page.inner_text("[data-testid=state]") == "locked"
        check_page(page, "account-lock")

        page.fill("#code-name", "Cleaner")
        page.fill("#code-pin", "12")
        page.click("#save-code")
        assert page.inner_text("#code-error") == "The code must be 4 to 8 digits long."
        check_page(page, "account-code-error")
        page.fill("#code-pin", "482193")
        page.click("#save-code")
        page.wait_for_selector("tr[data-code-name='Cleaner']")
        wait_until(_code_status("active"), what="the lock to take the code")
        page.reload()
        check_page(page, "account-lock-with-code")
        page.click("a[aria-label='Edit Cleaner']")
        check_page(page, "account-edit-code")
        page.fill("#code-name", "Cleaner Tue")
        page.click("#save-code")
        page.wait_for_selector("tr[data-code-name='Cleaner Tue']")
        wait_until(_code_status("active", revision=2), what="the lock to take the change")
        page.click("button[aria-label='Delete Cleaner Tue']")
        page.wait_for_selector("text=Code removed")
        wait_until(_code_status("removed"), what="the lock to drop the code")

    page.goto(f"/account/locks/{lock.id}/history")
    whats = page.locator("td[data-label=What]").all_inner_texts()
    assert whats.count("Locked or unlocked") == 2
    assert {"Code added", "Code changed", "Code removed"} <= set(whats)
    check_page(page, "account-history")
    page.select_option("#type", "lock.action_completed")
    page.click("button:has-text('Show')")
    assert set(page.locator("td[data-label=What]").all_inner_texts()) == {"Locked or unlocked"}


def test_owner_revokes_seams_grant_and_seams_token_is_refused(page, app, account, live_server):  # noqa: F811
    from provider.services.oauth_clients import create_client
    from provider.services.oauth_tokens import issue_token

    seam, _ = create_client("Seam", ["https://connect.getseam.com/callback"], "locks.read locks.write")
    token = issue_token(seam, account, "locks.read locks.write")["access_token"]
    db.session.commit()
    bearer = {"Authorization": f"Bearer {token}"}
    assert requests.get(live_server + "/locks", headers=bearer, timeout=10).status_code == 200

    page.goto("/account/sign-in")
    page.fill("#email", "jane@example.com")
    page.fill("#password", "1234")
    page.click("#sign-in")
    page.click("text=Connected apps")
    page.wait_for_selector("h2:has-text('Seam')")
    check_page(page, "account-apps")
    page.click("button[aria-label='Revoke Seam']")
    page.wait_for_selector("text=Access revoked")
    assert page.locator("h2:has-text('Seam')").count() == 0
    assert requests.get(live_server + "/locks", headers=bearer, timeout=10).status_code == 401


def test_password_pages_and_error_page_pass_axe(page, app, account):
    page.goto("/account/reset")
    check_page(page, "account-reset")
    response = page.goto("/account/nowhere")
    assert response.status == 404
    assert "support@example.com" in page.inner_text("main")
    check_page(page, "error-404")
