"""Bearer protection (`require_oauth`): valid, missing, invalid, expired, revoked, scopes."""

from __future__ import annotations

import pytest

from provider.extensions import db
from provider.services import oauth_tokens


def assert_error(response, status, code):
    assert response.status_code == status
    body = response.get_json()
    assert body["error_code"] == body["error_id"] == code
    assert body["message"] == body["error_message"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")


def test_valid_token_reaches_view_as_its_owner(probe, account, make_token):
    response = probe("/_probe/read", make_token(account))
    assert response.status_code == 200
    assert response.get_json() == {"user_id": account.id}


def test_missing_token_is_401_with_challenge(probe):
    assert_error(probe("/_probe/read"), 401, "UNAUTHORIZED")


@pytest.mark.parametrize("header", ["Bearer not-a-token", "Basic Zm9vOmJhcg==", "Bearer"])
def test_invalid_token_is_401(probe, header):
    assert_error(probe("/_probe/read", headers={"Authorization": header}), 401, "UNAUTHORIZED")


def test_expired_token_is_401(probe, account, make_token, frozen_clock):
    token = make_token(account)
    frozen_clock.advance(3599)
    assert probe("/_probe/read", token).status_code == 200
    frozen_clock.advance(1)
    response = probe("/_probe/read", token)
    assert_error(response, 401, "UNAUTHORIZED")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_revoked_token_is_401(probe, account, make_token):
    token = make_token(account)
    oauth_tokens.revoke_access_token(oauth_tokens.find_by_access_token(token))
    db.session.commit()
    assert_error(probe("/_probe/read", token), 401, "UNAUTHORIZED")


def test_missing_scope_is_403(probe, account, make_token):
    token = make_token(account, scope="locks.read")
    assert probe("/_probe/read", token).status_code == 200
    assert_error(probe("/_probe/write", token, method="POST"), 403, "INSUFFICIENT_SCOPE")


def test_tokens_are_stored_hashed(account, make_token):
    token = make_token(account)
    row = oauth_tokens.find_by_access_token(token)
    assert token not in (row.access_token_hash, row.refresh_token_hash)
    assert row.access_token_hash == oauth_tokens.digest(token)
