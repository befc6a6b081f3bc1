"""Everything OAuth works under PROVIDER_BASE_PATH: pages, form actions, redirects, metadata, token."""

from __future__ import annotations

import pytest

from tests.provider.oauth.conftest import REDIRECT_URI, Browser, authorize_params, query_of

BASE = "/devicecloud"
ISSUER = "https://locks.example.com/devicecloud"


@pytest.fixture
def based(make_app):
    return make_app(PROVIDER_BASE_PATH=BASE, PROVIDER_ISSUER=ISSUER)


@pytest.mark.parametrize("path", ["/oauth/authorize", "/authorize"])
def test_code_flow_under_base_path(based, account, oauth_client, path):
    web = based.test_client()
    browser = Browser(web, path, prefix=BASE)
    params = authorize_params(oauth_client.client_id)

    page = browser.open(params)
    assert page.status_code == 200
    assert f'action="{BASE}{path}?' in page.get_data(as_text=True)

    signed_in = browser.sign_in(params)
    assert signed_in.status_code == 303
    assert signed_in.headers["Location"].startswith(f"{BASE}{path}?")

    consent = browser.open(params)
    assert f'action="{BASE}{path}?' in consent.get_data(as_text=True)
    decided = browser.decide(params)
    query = query_of(decided.headers["Location"])
    assert query["iss"] == ISSUER

    token = web.post(f"{BASE}/oauth/token", data={
        "grant_type": "authorization_code", "code": query["code"], "redirect_uri": REDIRECT_URI,
        "client_id": oauth_client.client_id, "client_secret": oauth_client.secret,
    })
    assert token.status_code == 200
    assert token.get_json()["user_id"] == account.id


def test_metadata_under_base_path(based):
    web = based.test_client()
    data = web.get(f"{BASE}/.well-known/oauth-authorization-server").get_json()
    assert data["issuer"] == ISSUER
    assert data["authorization_endpoint"] == f"{ISSUER}/oauth/authorize"
    # Outside the base path there is nothing.
    assert web.get("/.well-known/oauth-authorization-server", validate=False).status_code == 404
    assert web.get("/oauth/authorize", validate=False).status_code == 404
