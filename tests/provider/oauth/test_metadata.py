"""Authorization server metadata (RFC 8414, with RFC 9207's iss flag)."""

from __future__ import annotations

from authlib.oauth2 import rfc8414, rfc9207


def test_metadata_is_valid_and_complete(client, app):
    response = client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    data = response.get_json()
    metadata = rfc8414.AuthorizationServerMetadata(data)
    metadata.validate(metadata_classes=[rfc9207.AuthorizationServerMetadata])
    issuer = app.config["PROVIDER_ISSUER"]
    assert data["issuer"] == issuer
    assert data["authorization_endpoint"] == issuer + "/oauth/authorize"
    assert data["token_endpoint"] == issuer + "/oauth/token"
    assert data["revocation_endpoint"] == issuer + "/oauth/revoke"
    assert data["grant_types_supported"] == ["authorization_code", "refresh_token", "client_credentials"]
    assert data["response_types_supported"] == ["code"]
    assert data["code_challenge_methods_supported"] == ["S256"]
    assert set(data["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic", "client_secret_post"}
    assert data["scopes_supported"] == ["locks.read", "locks.write", "devices.manage", "webhooks.manage", "events.read"]
    assert data["authorization_response_iss_parameter_supported"] is True


def test_issuer_comes_from_configuration(make_app):
    other = make_app(PROVIDER_ISSUER="https://locks.example.com/cloud")
    data = other.test_client().get("/.well-known/oauth-authorization-server").get_json()
    assert data["issuer"] == "https://locks.example.com/cloud"
    assert data["token_endpoint"] == "https://locks.example.com/cloud/oauth/token"
