"""Token revocation (RFC 7009) at /oauth/revoke."""

from __future__ import annotations

import pytest

from provider.extensions import db
from provider.services.oauth_clients import create_client
from tests.provider.oauth.conftest import REDIRECT_URI


@pytest.fixture
def tokens(get_code, exchange):
    return exchange(get_code()).get_json()


@pytest.fixture
def revoke(client, oauth_client):
    def _revoke(token, hint=None, client_id=None, secret=None):
        data = {
            "token": token,
            "client_id": client_id or oauth_client.client_id,
            "client_secret": secret or oauth_client.secret,
        }
        if hint:
            data["token_type_hint"] = hint
        return client.post("/oauth/revoke", data=data)

    return _revoke


@pytest.mark.parametrize("hint", [None, "access_token"])
def test_revoking_an_access_token_ends_only_that_token(tokens, revoke, refresh, probe, hint):
    other = refresh(tokens["refresh_token"]).get_json()["access_token"]
    response = revoke(tokens["access_token"], hint)
    assert response.status_code == 200
    assert response.get_json() == {}
    assert probe(token=tokens["access_token"]).status_code == 401
    assert probe(token=other).status_code == 200
    assert refresh(tokens["refresh_token"]).status_code == 200


@pytest.mark.parametrize("hint", [None, "refresh_token", "access_token"])
def test_revoking_the_refresh_token_ends_the_whole_grant(tokens, revoke, refresh, probe, hint):
    other = refresh(tokens["refresh_token"]).get_json()["access_token"]
    assert revoke(tokens["refresh_token"], hint).status_code == 200
    assert probe(token=tokens["access_token"]).status_code == 401
    assert probe(token=other).status_code == 401
    assert refresh(tokens["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_unknown_token_is_answered_200(revoke, oauth_client):
    assert revoke("no-such-token").status_code == 200


def test_revocation_needs_client_authentication(tokens, revoke, probe):
    response = revoke(tokens["access_token"], secret="wrong")
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    assert probe(token=tokens["access_token"]).status_code == 200


def test_a_client_cannot_revoke_another_clients_token(tokens, revoke, probe):
    _, secret = create_client("Other", [REDIRECT_URI], client_id="other-client")
    db.session.commit()
    response = revoke(tokens["access_token"], client_id="other-client", secret=secret)
    assert response.status_code == 400
    assert probe(token=tokens["access_token"]).status_code == 200
