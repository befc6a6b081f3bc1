"""The authorization page: sign in, consent, redirects, errors, headers (both paths)."""

from __future__ import annotations

import pytest

from tests.provider.oauth.conftest import (
    REDIRECT_URI,
    STATE,
    Browser,
    authorize_params,
    csrf_token,
    query_of,
)

PATHS = ["/oauth/authorize", "/authorize"]


@pytest.fixture(params=PATHS)
def any_page(request, client):
    """Both authorization paths (the older guide's and the current one)."""
    return Browser(client, request.param)


@pytest.fixture
def page(client):
    return Browser(client)


def assert_page_headers(response):
    assert response.headers["X-Frame-Options"] == "DENY"
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'none'" in csp
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"


def test_first_visit_shows_sign_in_form_with_csrf(any_page, account, oauth_client):
    response = any_page.open(authorize_params(oauth_client.client_id))
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert 'name="password"' in html and 'value="login"' in html
    assert csrf_token(html)
    assert_page_headers(response)


def test_pages_load_nothing_from_elsewhere(page, account, oauth_client):
    html = page.open(authorize_params(oauth_client.client_id)).get_data(as_text=True)
    assert "http://" not in html and "https://" not in html.replace(REDIRECT_URI, "")
    assert "<script" not in html and "<link" not in html


def test_approve_redirects_with_code_state_and_iss(any_page, app, account, oauth_client):
    params = authorize_params(oauth_client.client_id)
    signed_in = any_page.sign_in(params)
    assert signed_in.status_code == 303
    assert_page_headers(signed_in)
    consent = any_page.open(params)
    html = consent.get_data(as_text=True)
    # The scopes, in words.
    assert "Lock and unlock your locks" in html
    assert "See your locks" in html
    assert "jane@example.com" in html
    response = any_page.decide(params, "approve")
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    query = query_of(location)
    assert query["state"] == STATE
    assert query["iss"] == app.config["PROVIDER_ISSUER"]
    assert len(query["code"]) >= 43  # 256 random bits, base64url


def test_deny_redirects_with_access_denied_and_state(any_page, app, account, oauth_client):
    query = any_page.authorize(authorize_params(oauth_client.client_id), decision="deny")
    assert query["error"] == "access_denied"
    assert query["state"] == STATE
    assert query["iss"] == app.config["PROVIDER_ISSUER"]
    assert "code" not in query


def test_state_is_optional(page, account, oauth_client):
    query = page.authorize(authorize_params(oauth_client.client_id, state=None))
    assert "code" in query and "state" not in query


def test_live_session_goes_straight_to_consent(page, account, oauth_client):
    page.authorize(authorize_params(oauth_client.client_id))
    again = page.open(authorize_params(oauth_client.client_id, state="second"))
    html = again.get_data(as_text=True)
    assert 'value="consent"' in html and 'name="password"' not in html


def test_prompt_login_forces_sign_in_despite_session(any_page, account, oauth_client):
    any_page.authorize(authorize_params(oauth_client.client_id))
    params = authorize_params(oauth_client.client_id, prompt="login", state="fresh")
    html = any_page.open(params).get_data(as_text=True)
    assert 'name="password"' in html
    # Consent is not reachable without signing in again...
    refused = any_page.client.post(
        any_page.path, query_string=params,
        data={"csrf_token": csrf_token(html), "step": "consent", "decision": "approve"},
    )
    assert refused.status_code == 303
    assert "code=" not in refused.headers["Location"]
    # ...and signing in leads to consent, then the code.
    query = any_page.authorize(params)
    assert query["state"] == "fresh" and query["code"]


@pytest.mark.parametrize(
    "override",
    [
        {"redirect_uri": "https://evil.example.com/oauth/callback"},
        {"redirect_uri": REDIRECT_URI + "/"},
        {"redirect_uri": REDIRECT_URI + "?x=1"},
        {"redirect_uri": REDIRECT_URI.upper()},
        {"redirect_uri": None},
        {"client_id": "no-such-client"},
        {"client_id": None},
    ],
)
def test_bad_client_or_redirect_uri_shows_error_page_never_redirects(
    any_page, account, oauth_client, override
):
    params = {**authorize_params(oauth_client.client_id), **override}
    response = any_page.open({k: v for k, v in params.items() if v is not None})
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.mimetype == "text/html"
    assert "Cannot continue" in response.get_data(as_text=True)
    assert_page_headers(response)


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ({"scope": "locks.admin"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"code_challenge": "x" * 43, "code_challenge_method": "plain"}, "invalid_request"),
    ],
)
def test_bad_request_with_good_redirect_uri_redirects_error(
    page, app, account, oauth_client, override, error
):
    response = page.open(authorize_params(oauth_client.client_id, **override))
    assert response.status_code == 302
    query = query_of(response.headers["Location"])
    assert response.headers["Location"].startswith(REDIRECT_URI)
    assert query["error"] == error
    assert query["state"] == STATE
    assert query["iss"] == app.config["PROVIDER_ISSUER"]


def test_post_without_csrf_token_is_refused(page, account, oauth_client):
    params = authorize_params(oauth_client.client_id)
    page.open(params)
    for data in (
        {"step": "login", "email": "jane@example.com", "password": "1234"},
        {"step": "login", "email": "jane@example.com", "password": "1234", "csrf_token": "forged"},
    ):
        response = page.client.post(page.path, query_string=params, data=data)
        assert response.status_code == 400
        assert "Location" not in response.headers


def test_consent_post_with_stale_csrf_after_sign_in_is_refused(page, account, oauth_client):
    params = authorize_params(oauth_client.client_id)
    before = csrf_token(page.open(params).get_data(as_text=True))
    page.sign_in(params)
    response = page.client.post(
        page.path, query_string=params,
        data={"csrf_token": before, "step": "consent", "decision": "approve"},
    )
    assert response.status_code == 400


def test_wrong_password_shows_form_again(page, account, oauth_client):
    response = page.sign_in(authorize_params(oauth_client.client_id), password="wrong")
    assert response.status_code == 401
    html = response.get_data(as_text=True)
    assert "Wrong email or password" in html
    assert 'name="password"' in html


def test_scope_defaults_to_clients_scope(page, account, oauth_client):
    query = page.authorize(authorize_params(oauth_client.client_id, scope=None))
    assert query["code"]


def test_consent_names_only_the_requested_scopes(page, account, oauth_client):
    params = authorize_params(oauth_client.client_id, scope="locks.read")
    page.sign_in(params)
    html = page.open(params).get_data(as_text=True)
    assert "See your locks" in html
    assert "Lock and unlock your locks" not in html
