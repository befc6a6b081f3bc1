"""Which transport the OAuth endpoints accept is decided by the configured public URL (issuer)."""

from __future__ import annotations

import pytest

from provider.config import ConfigError
from provider.oauth.server import authorization
from tests.provider.oauth.conftest import REDIRECT_URI, Browser, authorize_params

PRODUCTION = {"PROVIDER_ENV": "production", "SECRET_KEY": "k", "DATABASE_URL": "sqlite://", "PROVIDER_PROXY_HOPS": "0"}


def test_production_refuses_a_plain_http_public_issuer(make_app):
    with pytest.raises(ConfigError, match="https"):
        make_app(ENV={**PRODUCTION, "PROVIDER_ISSUER": "http://locks.example.com"},
                 PROVIDER_ISSUER="http://locks.example.com")


@pytest.mark.parametrize(
    ("env", "issuer"),
    [
        # Behind a TLS-terminating proxy the app itself sees plain http.
        (PRODUCTION, "https://locks.example.com"),
        # A sandbox on a LAN box, reached over plain http.
        ({}, "http://192.168.1.20:8080"),
    ],
)
def test_code_flow_works_behind_the_configured_public_url(make_app, test_config, account,
                                                           oauth_client, env, issuer):
    other = make_app(ENV=env, PROVIDER_ISSUER=issuer,
                     SQLALCHEMY_DATABASE_URI=test_config["SQLALCHEMY_DATABASE_URI"])
    web = other.test_client()
    query = Browser(web).authorize(authorize_params(oauth_client.client_id))
    assert query["iss"] == issuer
    response = web.post("/oauth/token", data={
        "grant_type": "authorization_code", "code": query["code"], "redirect_uri": REDIRECT_URI,
        "client_id": oauth_client.client_id, "client_secret": oauth_client.secret,
    })
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize(("env", "issuer"), [(PRODUCTION, "https://locks.example.com"),
                                             ({}, "http://192.168.1.20:8080")])
def test_plain_http_seen_by_the_app_is_not_refused(make_app, env, issuer):
    """Behind a TLS-terminating proxy the app itself sees http://web-1.internal."""
    other = make_app(ENV=env, PROVIDER_ISSUER=issuer)
    with other.test_request_context("http://web-1.internal:8080/oauth/token", method="POST"):
        response = authorization.create_token_response()
    assert response.status_code == 400
    assert response.get_json()["error"] == "unsupported_grant_type"
