"""Legacy token call (older guide): code + client_id + client_secret only, form or JSON.

Only for clients registered with legacy_token_mode; others get invalid_request.
"""

from __future__ import annotations

import pytest

from provider.extensions import db
from tests.provider.oauth.conftest import REDIRECT_URI


@pytest.fixture
def legacy_client(oauth_client):
    oauth_client.legacy_token_mode = True
    db.session.commit()
    return oauth_client


def legacy_body(code, client):
    return {"code": code, "client_id": client.client_id, "client_secret": client.secret}


@pytest.mark.parametrize("encoding", ["form", "json"])
def test_legacy_call_issues_tokens(legacy_client, get_code, client, account, probe, encoding):
    body = legacy_body(get_code(), legacy_client)
    kwargs = {"json": body} if encoding == "json" else {"data": body}
    response = client.post("/oauth/token", **kwargs)
    assert response.status_code == 200, response.get_json()
    tokens = response.get_json()
    assert tokens["user_id"] == account.id
    assert tokens["expires_in"] == 3600
    assert probe(token=tokens["access_token"]).status_code == 200


def test_legacy_code_is_still_single_use(legacy_client, get_code, client, probe):
    body = legacy_body(get_code(), legacy_client)
    first = client.post("/oauth/token", json=body).get_json()
    second = client.post("/oauth/token", json=body)
    assert second.status_code == 400
    assert second.get_json()["error"] == "invalid_grant"
    assert probe(token=first["access_token"]).status_code == 401


def test_legacy_call_checks_a_redirect_uri_if_given(legacy_client, get_code, client):
    body = {**legacy_body(get_code(), legacy_client), "redirect_uri": REDIRECT_URI + "x"}
    response = client.post("/oauth/token", data=body)
    assert response.get_json()["error"] == "invalid_grant"


def test_legacy_call_still_authenticates_the_client(legacy_client, get_code, client):
    body = {**legacy_body(get_code(), legacy_client), "client_secret": "wrong"}
    assert client.post("/oauth/token", json=body).get_json()["error"] == "invalid_client"


@pytest.mark.parametrize("encoding", ["form", "json"])
def test_clients_without_legacy_mode_must_send_grant_type(oauth_client, get_code, client,
                                                          encoding):
    body = legacy_body(get_code(), oauth_client)
    kwargs = {"json": body} if encoding == "json" else {"data": body}
    response = client.post("/oauth/token", **kwargs)
    assert response.status_code == 400
    assert response.get_json()["error"] in {"invalid_request", "unsupported_grant_type"}


def test_standard_call_needs_form_encoding(legacy_client, get_code, client):
    """JSON is read only for the legacy call (no grant_type); the standard path is unchanged."""
    body = {**legacy_body(get_code(), legacy_client), "grant_type": "authorization_code",
            "redirect_uri": REDIRECT_URI}
    response = client.post("/oauth/token", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "unsupported_grant_type"
