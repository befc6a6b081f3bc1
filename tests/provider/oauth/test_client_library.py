"""A standard OAuth client library (Authlib's requests client) against a live server, as `seam`."""

from __future__ import annotations

import concurrent.futures

import requests
from authlib.integrations.requests_client import OAuth2Session

from provider.extensions import db
from provider.services.sandbox import SEAM_REDIRECT_URIS, seed_oauth_client
from tests.provider.oauth.conftest import csrf_token, query_of


def _approve(session: requests.Session, url: str) -> str:
    """Sign in as jane and approve; returns the Location the browser is sent to."""
    page = session.get(url)
    signed_in = session.post(url, allow_redirects=False, data={
        "csrf_token": csrf_token(page.text), "step": "login",
        "email": "jane@example.com", "password": "1234"})
    assert signed_in.status_code == 303
    consent = session.get(url)
    decided = session.post(url, allow_redirects=False, data={
        "csrf_token": csrf_token(consent.text), "step": "consent", "decision": "approve"})
    assert decided.status_code == 303
    return decided.headers["Location"]


def test_standard_client_code_flow_refresh_and_old_tokens(live_server, account, probe):
    seed_oauth_client()
    db.session.commit()
    oauth = OAuth2Session(
        "seam", "seamsecret", scope="locks.read locks.write",
        redirect_uri=SEAM_REDIRECT_URIS[2], code_challenge_method="S256",
    )
    verifier = "v" * 64
    url, state = oauth.create_authorization_url(
        f"{live_server}/oauth/authorize", code_verifier=verifier, prompt="login")
    callback = _approve(requests.Session(), url)

    token = oauth.fetch_token(
        f"{live_server}/oauth/token", authorization_response=callback, code_verifier=verifier)
    assert token["user_id"] == account.id

    def refresh(_):
        return OAuth2Session("seam", "seamsecret").refresh_token(
            f"{live_server}/oauth/token", refresh_token=token["refresh_token"])

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        refreshed = list(pool.map(refresh, range(4)))
    assert {t["user_id"] for t in refreshed} == {account.id}
    for access_token in [token["access_token"], *(t["access_token"] for t in refreshed)]:
        assert probe(token=access_token).status_code == 200


def test_older_guide_token_call_as_json(live_server, account):
    seed_oauth_client()
    db.session.commit()
    redirect_uri = SEAM_REDIRECT_URIS[0]
    url = (f"{live_server}/authorize?response_type=code&client_id=seam&state=abc"
           f"&scope=locks.read%20locks.write&prompt=login&redirect_uri={redirect_uri}")
    callback = _approve(requests.Session(), url)
    query = query_of(callback)
    assert query["state"] == "abc"
    code = query["code"]
    response = requests.post(f"{live_server}/oauth/token", timeout=30,
                             json={"code": code, "client_id": "seam", "client_secret": "seamsecret"})
    assert response.status_code == 200, response.text
    assert response.json()["user_id"] == account.id
