"""Sign-in throttling that nobody can turn against an owner: behind a shared proxy
address, and under a guesser spread over many addresses."""

from __future__ import annotations

import pytest

from provider.config import ConfigError, from_env
from provider.services import oauth_login
from tests.provider.oauth.conftest import authorize_params, csrf_token


@pytest.fixture
def params(oauth_client):
    return authorize_params(oauth_client.client_id)


def _sign_in(client, params, email, password, address):
    env = {"REMOTE_ADDR": address}
    page = client.get("/oauth/authorize", query_string=params, environ_base=env)
    return client.post(
        "/oauth/authorize", query_string=params, environ_base=env,
        data={"csrf_token": csrf_token(page.get_data(as_text=True)), "step": "login",
              "email": email, "password": password},
    ).status_code


def test_a_correct_password_behind_a_shared_proxy_address_is_never_refused(app, params, account):
    guesser = app.test_client()
    for n in range(oauth_login.ADDRESS_POLICY.free_failures + 5):
        _sign_in(guesser, params, f"user{n % 7}@example.com", "guess", "127.0.0.1")
    owner = app.test_client()
    assert _sign_in(owner, params, "jane@example.com", "1234", "127.0.0.1") == 303


def test_guessing_from_many_addresses_does_not_lock_the_owner_out(app, params, account, frozen_clock):
    for n in range(oauth_login.ACCOUNT_POLICY.free_failures + 5):
        _sign_in(app.test_client(), params, "jane@example.com", "wrong", f"203.0.113.{n}")
    # The owner, from an address that has not failed, gets in at once.
    assert _sign_in(app.test_client(), params, "jane@example.com", "1234", "198.51.100.7") == 303


def test_the_account_under_attack_is_slowed_for_the_failing_addresses(app, params, account, frozen_clock):
    for n in range(oauth_login.ACCOUNT_POLICY.free_failures + 3):
        _sign_in(app.test_client(), params, "jane@example.com", "wrong", f"203.0.113.{n}")
    # Each guessing address has failed once: it must wait (slowed), not try at will...
    assert _sign_in(app.test_client(), params, "jane@example.com", "wrong", "203.0.113.1") == 429
    frozen_clock.advance(oauth_login.ACCOUNT_POLICY.max_block.total_seconds())
    # ...and may try again once the interval has passed.
    assert _sign_in(app.test_client(), params, "jane@example.com", "wrong", "203.0.113.1") == 401


def test_the_hard_block_binds_one_account_from_one_address(app, params, account):
    for _ in range(oauth_login.PAIR_POLICY.free_failures):
        _sign_in(app.test_client(), params, "jane@example.com", "wrong", "203.0.113.9")
    assert _sign_in(app.test_client(), params, "jane@example.com", "1234", "203.0.113.9") == 429
    assert _sign_in(app.test_client(), params, "jane@example.com", "1234", "198.51.100.7") == 303


def test_production_refuses_to_start_without_explicit_proxy_hops():
    env = {"PROVIDER_ENV": "production", "SECRET_KEY": "k", "DATABASE_URL": "sqlite://"}
    with pytest.raises(ConfigError, match="PROVIDER_PROXY_HOPS"):
        from_env(env)
    assert from_env({**env, "PROVIDER_PROXY_HOPS": "0"})["PROVIDER_PROXY_HOPS"] == 0
    assert from_env({**env, "PROVIDER_PROXY_HOPS": "1"})["PROVIDER_PROXY_HOPS"] == 1
