"""The real login -> consent -> redirect flow, in headless Chromium (Playwright), on a live server.

Skipped with the reason when no Chromium is installed, unless REQUIRE_BROWSER=1
(set by .ci/run), where a missing browser is a failure.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.browser import launch, skip_or_fail, unavailable
from tests.provider.oauth.conftest import REDIRECT_URI, STATE, authorize_params, query_of

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chromium():
    reason = unavailable()
    if reason:
        skip_or_fail(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, live_server):
    context = chromium.new_context(base_url=live_server)
    page = context.new_page()
    page.set_default_timeout(15_000)
    # The client's callback never leaves the machine: answer it here and remember the URL.
    landed: list[str] = []

    def _callback(route):
        landed.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<p>callback reached</p>")

    # Anything else off-site would be a third-party load: refuse it and remember it.
    offsite: list[str] = []

    def _offsite(route):
        offsite.append(route.request.url)
        route.abort()

    page.route(REDIRECT_URI + "**", _callback)
    page.route(lambda url: not url.startswith((live_server, REDIRECT_URI)), _offsite)
    page.landed = landed
    page.offsite = offsite
    yield page
    context.close()


def _authorize_url(client_id, **extra):
    return "/oauth/authorize?" + urlencode(authorize_params(client_id, **extra))


def test_sign_in_approve_and_land_on_callback(page, app, account, oauth_client):
    response = page.goto(_authorize_url(oauth_client.client_id, prompt="login"))
    assert response.status == 200
    assert response.headers["x-frame-options"] == "DENY"
    page.fill("#email", "jane@example.com")
    page.fill("#password", "1234")
    page.click("#sign-in")
    page.wait_for_selector("#approve")
    assert "Lock and unlock your locks" in page.content()
    page.click("#approve")
    page.wait_for_url(REDIRECT_URI + "**")
    query = query_of(page.landed[-1])
    assert query["state"] == STATE
    assert query["iss"] == app.config["PROVIDER_ISSUER"]
    assert len(query["code"]) >= 43
    assert page.offsite == []


def test_wrong_password_then_deny(page, account, oauth_client):
    page.goto(_authorize_url(oauth_client.client_id))
    page.fill("#email", "jane@example.com")
    page.fill("#password", "nope")
    page.click("#sign-in")
    page.wait_for_selector("text=Wrong email or password")
    page.fill("#password", "1234")
    page.click("#sign-in")
    page.click("#deny")
    page.wait_for_url(REDIRECT_URI + "**")
    query = query_of(page.landed[-1])
    assert query["error"] == "access_denied"
    assert query["state"] == STATE


def test_unregistered_redirect_uri_stays_on_error_page(page, account, oauth_client):
    response = page.goto(_authorize_url(oauth_client.client_id,
                                        redirect_uri="https://evil.example.com/cb"))
    assert response.status == 400
    assert "Cannot continue" in page.content()
    assert page.landed == []
