"""PKCE (RFC 7636): S256 only; a verifier for a code issued without a challenge is refused."""

from __future__ import annotations

import secrets

import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from tests.provider.oauth.conftest import authorize_params, query_of


@pytest.fixture
def verifier():
    return secrets.token_urlsafe(48)


def test_s256_round_trip(get_code, exchange, verifier):
    code = get_code(code_challenge=create_s256_code_challenge(verifier), code_challenge_method="S256")
    response = exchange(code, code_verifier=verifier)
    assert response.status_code == 200, response.get_json()


def test_wrong_verifier_is_invalid_grant(get_code, exchange, verifier):
    code = get_code(code_challenge=create_s256_code_challenge(verifier), code_challenge_method="S256")
    response = exchange(code, code_verifier=secrets.token_urlsafe(48))
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"


def test_missing_verifier_is_refused(get_code, exchange, verifier):
    code = get_code(code_challenge=create_s256_code_challenge(verifier), code_challenge_method="S256")
    response = exchange(code)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_verifier_without_challenge_is_refused(get_code, exchange, verifier):
    response = exchange(get_code(), code_verifier=verifier)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


@pytest.mark.parametrize("method", ["plain", None])
def test_only_s256_is_accepted(browser, account, oauth_client, verifier, method):
    # Without a method RFC 7636 means "plain"; both are refused at the authorization step.
    params = authorize_params(oauth_client.client_id, code_challenge=verifier,
                              code_challenge_method=method)
    response = browser.open(params)
    assert response.status_code == 302
    assert query_of(response.headers["Location"])["error"] == "invalid_request"
