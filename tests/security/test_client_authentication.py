"""Client secrets against guessing: one authentication method per request, failures
throttled per (client, address) without letting a guesser slow Seam down, and an unknown
client id costing the same hash as a known one."""

from __future__ import annotations

import base64

import pytest

from provider.services import oauth_login, secret_hashing


def _basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def _token(client, form, headers=None, address="203.0.113.5"):
    return client.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": "nope", **form},
                       headers=headers or {}, environ_base={"REMOTE_ADDR": address})


def test_two_client_authentication_methods_in_one_request_are_refused(client, oauth_client, make_integrator):
    other = make_integrator("Other")
    right = {"client_id": oauth_client.client_id, "client_secret": oauth_client.secret}
    wrong_basic = _basic(oauth_client.client_id, "WRONG")
    for headers, form in [
        (wrong_basic, right),  # a wrong Basic header riding on good form credentials
        (_basic(other.row.client_id, other.secret), right),  # two clients at once
        (_basic(oauth_client.client_id, oauth_client.secret), {"client_id": other.row.client_id}),
    ]:
        response = _token(client, form, headers)
        assert response.status_code == 400
        assert response.get_json()["error"] == "invalid_request"


def test_one_method_alone_still_authenticates(client, oauth_client):
    form = _token(client, {"client_id": oauth_client.client_id, "client_secret": oauth_client.secret})
    basic = _token(client, {}, _basic(oauth_client.client_id, oauth_client.secret))
    for response in (form, basic):
        assert response.get_json()["error"] == "invalid_grant"  # authenticated; the grant is what fails


def test_wrong_secrets_at_the_token_endpoint_are_throttled_per_client_and_address(client, oauth_client):
    wrong = {"client_id": oauth_client.client_id, "client_secret": "guess"}
    for _ in range(oauth_login.PAIR_POLICY.free_failures):
        assert _token(client, wrong).status_code == 401
    blocked = _token(client, {"client_id": oauth_client.client_id, "client_secret": oauth_client.secret})
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) >= 1
    # Seam, from its own address, is not held back by the guesser.
    right = {"client_id": oauth_client.client_id, "client_secret": oauth_client.secret}
    assert _token(client, right, address="198.51.100.20").get_json()["error"] == "invalid_grant"


def test_wrong_secrets_on_the_event_feed_are_throttled_too(client, oauth_client):
    env = {"REMOTE_ADDR": "203.0.113.6"}
    for _ in range(oauth_login.PAIR_POLICY.free_failures):
        assert client.get("/events", headers=_basic(oauth_client.client_id, "guess"),
                          environ_base=env).status_code == 401
    assert client.get("/events", headers=_basic(oauth_client.client_id, oauth_client.secret),
                      environ_base=env).status_code == 429
    assert client.get("/events", headers=_basic(oauth_client.client_id, oauth_client.secret),
                      environ_base={"REMOTE_ADDR": "198.51.100.20"}).status_code == 200


@pytest.mark.parametrize("where", ["token", "events"])
def test_an_unknown_client_id_is_checked_against_a_hash_like_a_known_one(client, oauth_client, monkeypatch, where):
    checked = []
    real = secret_hashing.verify

    def counting(stored, secret):
        checked.append(stored)
        return real(stored, secret)

    monkeypatch.setattr(secret_hashing, "verify", counting)
    for client_id in (oauth_client.client_id, "no-such-client"):
        if where == "token":
            _token(client, {"client_id": client_id, "client_secret": "guess-1"})
        else:
            client.get("/events", headers=_basic(client_id, "guess-1"))
    assert len(checked) == 2, "both the known and the unknown id cost one argon2 verification"
