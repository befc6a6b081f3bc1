"""The refresh_token grant: new access tokens, nothing revoked, concurrent refreshes all succeed."""

from __future__ import annotations

import pytest
import requests

from provider.extensions import db
from provider.services import oauth_tokens
from provider.services.oauth_clients import create_client
from tests.provider.oauth.conftest import REDIRECT_URI, post_at_once


@pytest.fixture
def tokens(get_code, exchange):
    response = exchange(get_code())
    assert response.status_code == 200
    return response.get_json()


def test_refresh_issues_new_access_token_and_keeps_the_old_ones(tokens, refresh, probe, account):
    seen = [tokens["access_token"]]
    for _ in range(3):
        response = refresh(tokens["refresh_token"])
        assert response.status_code == 200
        body = response.get_json()
        assert body["access_token"] not in seen
        assert body["user_id"] == account.id
        assert body["expires_in"] == 3600
        assert body["token_type"] == "Bearer"
        assert body["scope"] == "locks.read locks.write"
        # The refresh token is not rotated; it is handed back unchanged.
        assert body["refresh_token"] == tokens["refresh_token"]
        seen.append(body["access_token"])
    for token in seen:
        assert probe(token=token).status_code == 200


def test_refreshed_token_still_expires_on_its_own_schedule(tokens, refresh, probe, frozen_clock):
    frozen_clock.advance(3000)
    new = refresh(tokens["refresh_token"]).get_json()["access_token"]
    frozen_clock.advance(600)
    assert probe(token=tokens["access_token"]).status_code == 401  # 3600 s old
    assert probe(token=new).status_code == 200  # 600 s old
    # The refresh token outlives the access tokens.
    assert refresh(tokens["refresh_token"]).status_code == 200


def test_refresh_may_narrow_scope_but_not_widen(get_code, exchange, refresh, probe):
    tokens = exchange(get_code(scope="locks.read")).get_json()
    narrowed = refresh(tokens["refresh_token"], scope="locks.read")
    assert narrowed.get_json()["scope"] == "locks.read"
    widened = refresh(tokens["refresh_token"], scope="locks.read locks.write")
    assert widened.status_code == 400
    assert widened.get_json()["error"] == "invalid_scope"


def test_refresh_with_basic_auth(tokens, client, oauth_client):
    import base64

    credentials = base64.b64encode(f"{oauth_client.client_id}:{oauth_client.secret}".encode())
    response = client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers={"Authorization": "Basic " + credentials.decode()},
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"refresh_token": "nope"}, 400, "invalid_grant"),
        ({"refresh_token": None}, 400, "invalid_request"),
        ({"client_secret": "wrong"}, 401, "invalid_client"),
    ],
)
def test_refresh_refusals(tokens, client, oauth_client, form, status, error):
    data = {
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
        "client_id": oauth_client.client_id, "client_secret": oauth_client.secret, **form,
    }
    response = client.post("/oauth/token", data={k: v for k, v in data.items() if v is not None})
    assert response.status_code == status
    assert response.get_json()["error"] == error


def test_refresh_token_of_another_client_is_refused(tokens, client):
    _, secret = create_client("Other", [REDIRECT_URI], client_id="other-client")
    db.session.commit()
    response = client.post("/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
        "client_id": "other-client", "client_secret": secret,
    })
    assert response.get_json()["error"] == "invalid_grant"


def test_access_token_is_not_a_refresh_token(tokens, refresh):
    assert refresh(tokens["access_token"]).get_json()["error"] == "invalid_grant"


def test_refresh_rows_hold_no_refresh_token(tokens, refresh):
    new = refresh(tokens["refresh_token"]).get_json()
    row = oauth_tokens.find_by_access_token(new["access_token"])
    assert row.refresh_token_hash is None
    assert oauth_tokens.find_by_refresh_token(tokens["refresh_token"]).grant_id == row.grant_id


def test_concurrent_refreshes_all_succeed_and_all_tokens_work(tokens, live_server, oauth_client,
                                                               probe):
    """Seam refreshes from several workflows at once, against a real threaded server."""
    form = {
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
        "client_id": oauth_client.client_id, "client_secret": oauth_client.secret,
    }
    workers = 8
    responses = post_at_once(f"{live_server}/oauth/token", form, workers)
    assert [r.status_code for r in responses] == [200] * workers, [r.text for r in responses]
    issued = {r.json()["access_token"] for r in responses}
    assert len(issued) == workers
    for token in issued | {tokens["access_token"]}:
        assert probe(token=token).status_code == 200
    # ...and the refresh token still works afterwards.
    again = requests.post(f"{live_server}/oauth/token", data=form, timeout=30)
    assert again.status_code == 200
