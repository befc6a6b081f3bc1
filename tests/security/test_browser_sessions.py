"""Browser sessions live on the server: the cookie is a random id that sign-out, an idle
timeout and a password change all make worthless."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from provider.extensions import db
from provider.models import BrowserSession
from provider.services import accounts
from tests.provider.oauth.conftest import Browser, authorize_params, csrf_token


@pytest.fixture
def browser(client):
    return Browser(client)


@pytest.fixture
def params(oauth_client):
    return authorize_params(oauth_client.client_id)


def _cookie(client) -> str | None:
    cookie = client.get_cookie("session")
    return cookie.value if cookie else None


def _signed_in(client, params) -> bool:
    html = client.get("/oauth/authorize", query_string=params).get_data(as_text=True)
    return 'value="consent"' in html


def _sign_in(browser, params):
    response = browser.sign_in(params)
    assert response.status_code == 303
    assert _signed_in(browser.client, params)


def test_the_cookie_carries_a_random_id_not_the_account(browser, params, account):
    _sign_in(browser, params)
    value = _cookie(browser.client)
    assert account.id not in value and "." not in value  # no signed payload
    assert len(value) >= 43
    db.session.expire_all()
    [row] = db.session.scalars(select(BrowserSession)).all()
    assert row.account_id == account.id and row.id_hash != value


def test_signing_in_issues_a_new_session_id(client, browser, params, account):
    client.get("/oauth/authorize", query_string=params)  # an anonymous session (CSRF token)
    before = _cookie(client)
    assert before
    _sign_in(browser, params)
    assert _cookie(client) != before


def test_signing_out_ends_the_session_on_the_server(client, browser, params, account, app):
    _sign_in(browser, params)
    stolen = _cookie(client)
    page = client.get("/oauth/authorize", query_string=params).get_data(as_text=True)
    response = client.post("/oauth/logout", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 200
    assert not _signed_in(client, params)
    replay = app.test_client()
    replay.set_cookie("session", stolen)
    assert not _signed_in(replay, params)


def test_signing_out_needs_the_pages_csrf_token(client, browser, params, account):
    _sign_in(browser, params)
    assert client.post("/oauth/logout", data={"csrf_token": "forged"}).status_code == 400
    assert _signed_in(client, params)


def test_an_idle_session_ends(client, browser, params, account, frozen_clock, app):
    _sign_in(browser, params)
    idle = app.config["PROVIDER_SESSION_IDLE_MINUTES"] * 60
    frozen_clock.advance(idle - 5)
    assert _signed_in(client, params), "activity keeps it alive"
    frozen_clock.advance(idle - 5)
    assert _signed_in(client, params)
    frozen_clock.advance(idle + 1)
    assert not _signed_in(client, params)


def test_a_session_ends_at_its_absolute_lifetime(client, browser, params, account, frozen_clock, app):
    _sign_in(browser, params)
    step = app.config["PROVIDER_SESSION_IDLE_MINUTES"] * 60 - 5
    for _ in range(int(app.config["PROVIDER_SESSION_MAX_HOURS"] * 3600 // step) + 1):
        frozen_clock.advance(step)
        _signed_in(client, params)
    assert not _signed_in(client, params)


def test_a_password_change_ends_every_other_session(app, params, account):
    first, second = app.test_client(), app.test_client()
    _sign_in(Browser(first), params)
    _sign_in(Browser(second), params)
    keep = _cookie(second)
    assert accounts.set_password(account, "a new one", keep_session=keep) == 1
    db.session.commit()
    assert not _signed_in(first, params)
    assert _signed_in(second, params)
    assert not _signed_in(Browser(app.test_client()).client, params)


def test_an_anonymous_session_lives_no_longer_than_the_idle_timeout(client, params, app):
    client.get("/oauth/authorize", query_string=params)  # the sign-in page: a CSRF token
    db.session.expire_all()
    [row] = db.session.scalars(select(BrowserSession)).all()
    assert row.account_id is None
    idle_seconds = app.config["PROVIDER_SESSION_IDLE_MINUTES"] * 60
    assert (row.expires_at - row.created_at).total_seconds() <= idle_seconds
