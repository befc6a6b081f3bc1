"""Sign-in: argon2 passwords, and guessing slowed down per account and per address."""

from __future__ import annotations

import pytest

from provider.extensions import db
from provider.services import oauth_login
from provider.services.accounts import create_account
from tests.provider.oauth.conftest import Browser, authorize_params, csrf_token


@pytest.fixture
def params(oauth_client):
    return authorize_params(oauth_client.client_id)


def test_password_is_stored_with_argon2(account):
    assert account.password_hash.startswith("$argon2id$")
    assert "1234" not in account.password_hash


def test_unknown_email_looks_like_a_wrong_password(browser, account, params):
    response = browser.sign_in(params, email="nobody@example.com")
    assert response.status_code == 401
    assert "Wrong email or password" in response.get_data(as_text=True)


def test_account_is_blocked_after_repeated_failures(browser, account, params, frozen_clock):
    free = oauth_login.PAIR_POLICY.free_failures
    for _ in range(free - 1):
        assert browser.sign_in(params, password="wrong").status_code == 401
    # The failure that reaches the allowance starts a block...
    assert browser.sign_in(params, password="wrong").status_code == 401
    # ...during which even the right password is not checked.
    blocked = browser.sign_in(params)
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) >= 1
    assert "Too many failed sign-ins" in blocked.get_data(as_text=True)
    frozen_clock.advance(oauth_login.PAIR_POLICY.first_block.total_seconds())
    assert browser.sign_in(params).status_code == 303


def test_blocks_grow_with_further_failures(browser, account, params, frozen_clock):
    policy = oauth_login.PAIR_POLICY
    for _ in range(policy.free_failures):
        browser.sign_in(params, password="wrong")
    frozen_clock.advance(policy.first_block.total_seconds())
    assert browser.sign_in(params, password="wrong").status_code == 401
    frozen_clock.advance(policy.first_block.total_seconds())
    assert browser.sign_in(params).status_code == 429  # the second block is twice as long
    frozen_clock.advance(policy.first_block.total_seconds())
    assert browser.sign_in(params).status_code == 303


def test_success_clears_the_account_counter(browser, account, params):
    for _ in range(oauth_login.PAIR_POLICY.free_failures - 1):
        browser.sign_in(params, password="wrong")
    assert browser.sign_in(params).status_code == 303
    for _ in range(oauth_login.PAIR_POLICY.free_failures - 1):
        assert browser.sign_in(params, password="wrong").status_code == 401


def test_the_block_is_per_account(browser, account, other_account, params):
    for _ in range(oauth_login.PAIR_POLICY.free_failures):
        browser.sign_in(params, password="wrong")
    assert browser.sign_in(params).status_code == 429
    assert browser.sign_in(params, email="john@example.com", password="5678").status_code == 303


def test_one_address_guessing_many_accounts_is_blocked_on_them(client, params, frozen_clock):
    policy = oauth_login.ADDRESS_POLICY
    create_account("victim@example.com", "right")
    db.session.commit()
    guesser = Browser(client)
    for n in range(policy.free_failures):
        assert guesser.sign_in(params, email=f"user{n}@example.com", password="x").status_code == 401
    # The accounts it failed on are closed to it; one it never tried still signs in.
    assert guesser.sign_in(params, email="user0@example.com", password="x").status_code == 429
    assert guesser.sign_in(params, email="victim@example.com", password="right").status_code == 303
    # Another address is unaffected.
    elsewhere = client.application.test_client()
    other = Browser(elsewhere)
    page = other.client.get(other.path, query_string=params,
                            environ_base={"REMOTE_ADDR": "10.9.8.7"})
    response = other.client.post(
        other.path, query_string=params, environ_base={"REMOTE_ADDR": "10.9.8.7"},
        data={"csrf_token": csrf_token(page.get_data(as_text=True)), "step": "login",
              "email": "victim@example.com", "password": "right"},
    )
    assert response.status_code == 303
