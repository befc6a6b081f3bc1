"""The authorization_code grant at /oauth/token (client auth, binding, expiry, single use)."""

from __future__ import annotations

import base64

import pytest

from provider.extensions import db
from provider.models.oauth import OAuthAuthorizationCode
from provider.services import oauth_tokens
from provider.services.oauth_clients import create_client
from tests.provider.oauth.conftest import REDIRECT_URI, post_at_once


def basic(client_id, secret):
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def test_exchange_with_client_secret_post(get_code, exchange, account, probe):
    response = exchange(get_code())
    assert response.status_code == 200
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "locks.read locks.write"
    assert body["user_id"] == account.id
    assert body["refresh_token"] and body["access_token"] != body["refresh_token"]
    assert response.headers["Cache-Control"] == "no-store"
    assert probe(token=body["access_token"]).get_json() == {"user_id": account.id}


def test_exchange_with_client_secret_basic(get_code, client, oauth_client, account):
    response = client.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "code": get_code(), "redirect_uri": REDIRECT_URI},
        headers=basic(oauth_client.client_id, oauth_client.secret),
    )
    assert response.status_code == 200
    assert response.get_json()["user_id"] == account.id


def test_user_id_is_permanent_across_authorizations(get_code, exchange, account):
    first = exchange(get_code()).get_json()
    second = exchange(get_code()).get_json()
    assert first["user_id"] == second["user_id"] == account.id
    assert "jane" not in first["user_id"]
    assert first["access_token"] != second["access_token"]


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "nobody"}, 400, "invalid_client"),
        ({"redirect_uri": "https://client.example.com/other"}, 400, "invalid_grant"),
        ({"redirect_uri": None}, 400, "invalid_grant"),
        ({"code": "not-a-code"}, 400, "invalid_grant"),
        ({"code": None}, 400, "invalid_request"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"grant_type": "urn:ietf:params:oauth:grant-type:device_code"}, 400, "unsupported_grant_type"),
        ({"grant_type": "implicit"}, 400, "unsupported_grant_type"),
    ],
)
def test_refusals_are_rfc6749_errors(get_code, exchange, form, status, error):
    code = get_code()
    form = {"code": code, **form}
    response = exchange(**form)
    assert response.status_code == status
    assert response.get_json()["error"] == error
    # The refusal did not consume the code.
    if error != "invalid_client":
        assert exchange(code).status_code == 200


def test_wrong_basic_credentials_are_401(get_code, client, oauth_client):
    response = client.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "code": get_code(), "redirect_uri": REDIRECT_URI},
        headers=basic(oauth_client.client_id, "wrong"),
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_code_is_bound_to_its_client(get_code, client, account):
    code = get_code()
    _, secret = create_client("Other", [REDIRECT_URI], client_id="other-client")
    db.session.commit()
    response = client.post("/oauth/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "client_id": "other-client", "client_secret": secret,
    })
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"


def test_code_expires_after_ten_minutes(get_code, exchange, frozen_clock):
    code = get_code()
    frozen_clock.advance(599)
    fresh = get_code()
    frozen_clock.advance(1)
    assert exchange(code).get_json()["error"] == "invalid_grant"
    assert exchange(fresh).status_code == 200


def test_code_is_stored_hashed_and_long(get_code):
    code = get_code()
    assert len(code) >= 43  # >= 256 bits of base64url; the minimum asked is 128
    rows = db.session.scalars(db.select(OAuthAuthorizationCode)).all()
    assert [r.code_hash for r in rows] == [oauth_tokens.digest(code)]
    assert code not in rows[0].code_hash


def test_second_exchange_fails_and_revokes_what_the_code_issued(get_code, exchange, probe, client,
                                                                 oauth_client):
    code = get_code()
    first = exchange(code).get_json()
    refreshed = client.post("/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": first["refresh_token"],
        "client_id": oauth_client.client_id, "client_secret": oauth_client.secret,
    }).get_json()
    assert probe(token=first["access_token"]).status_code == 200

    second = exchange(code)
    assert second.status_code == 400
    assert second.get_json()["error"] == "invalid_grant"
    assert probe(token=first["access_token"]).status_code == 401
    assert probe(token=refreshed["access_token"]).status_code == 401
    again = client.post("/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": first["refresh_token"],
        "client_id": oauth_client.client_id, "client_secret": oauth_client.secret,
    })
    assert again.get_json()["error"] == "invalid_grant"


def test_replay_leaves_other_authorizations_alone(get_code, exchange, probe):
    other = exchange(get_code()).get_json()
    code = get_code()
    exchange(code)
    exchange(code)
    assert probe(token=other["access_token"]).status_code == 200


def test_simultaneous_exchanges_exactly_one_succeeds(get_code, live_server, oauth_client, probe):
    code = get_code()
    form = {
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "client_id": oauth_client.client_id, "client_secret": oauth_client.secret,
    }
    racers = 6
    responses = post_at_once(f"{live_server}/oauth/token", form, racers)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [400] * (racers - 1)
    assert {r.json()["error"] for r in responses if r.status_code == 400} == {"invalid_grant"}
    # The losers count as replays: what the winner got is revoked too.
    winner = next(r.json() for r in responses if r.status_code == 200)
    assert probe(token=winner["access_token"]).status_code == 401


@pytest.mark.parametrize("credentials", ["!!!", base64.b64encode(b"\xff\xfe:x").decode(), "Zm9v"])
def test_malformed_basic_credentials_are_401_not_a_crash(client, credentials):
    response = client.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "code": "x", "redirect_uri": REDIRECT_URI},
        headers={"Authorization": f"Basic {credentials}"},
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_tokens_never_reach_the_logs(get_code, exchange, caplog):
    caplog.set_level("DEBUG")
    body = exchange(get_code()).get_json()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert body["access_token"] not in logged
    assert body["refresh_token"] not in logged
