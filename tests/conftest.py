"""Fixtures shared by every test: apps on SQLite and PostgreSQL, spec-checking clients.

Chain: database_url (per session, per backend) -> migrated_app -> app (per test,
rows deleted afterwards) -> client.
"""

from __future__ import annotations

import os
import uuid

import pytest
from flask_migrate import upgrade

from provider import MIGRATIONS_DIR, create_app
from provider.clock import clock
from provider.extensions import db
from tests.openapi import SpecCheckingClient

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES") == "1"


def _postgres_admin():
    import psycopg

    return psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)


def _postgres_database(name: str):
    """Creates a fresh database for this test worker; yields its URL, drops it after."""
    try:
        admin = _postgres_admin()
    except Exception as err:  # any connection failure means "no PostgreSQL here"
        message = f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL} ({type(err).__name__}); set TEST_POSTGRES_URL"
        if REQUIRE_POSTGRES:
            pytest.fail(message + " (REQUIRE_POSTGRES=1: PostgreSQL tests are mandatory here)")
        pytest.skip(message)
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with _postgres_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _worker_id(request) -> str:
    return getattr(request.config, "workerinput", {}).get("workerid", "main")


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def database_url(request, tmp_path_factory):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'provider.db'}"
    else:
        yield from _postgres_database(f"provider_test_{_worker_id(request)}_{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="session")
def test_config(database_url, tmp_path_factory):
    return {
        "TESTING": True,
        "ENV": {"PROVIDER_VAR_DIR": str(tmp_path_factory.mktemp("var"))},
        "SQLALCHEMY_DATABASE_URI": database_url.replace("postgresql://", "postgresql+psycopg://"),
        "SECRET_KEY": "test-secret-key",
        "ACTION_WAIT_SECONDS": 2.0,
        "BRIDGE_POLL_MAX_SECONDS": 2.0,
    }


@pytest.fixture(scope="session")
def migrated_app(test_config):
    app = create_app(test_config)
    with app.app_context():
        upgrade(directory=MIGRATIONS_DIR)
    yield app
    with app.app_context():
        db.engine.dispose()


def _delete_all_rows(app) -> None:
    with app.app_context():
        # DELETE, children first: a test leaves a handful of rows, and on
        # PostgreSQL TRUNCATE of every table costs far more than deleting them.
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
        db.session.commit()


@pytest.fixture
def app(migrated_app):
    """The app, inside an app context, on an empty (migrated) database."""
    migrated_app.test_client_class = SpecCheckingClient
    with migrated_app.app_context():
        yield migrated_app
        db.session.remove()
    clock.reset()
    _delete_all_rows(migrated_app)


@pytest.fixture
def make_app(app, test_config):
    """Another app on the same database, with config overrides (base path, production...)."""

    def _make(**overrides):
        config = {**test_config, **overrides}
        env = {**test_config["ENV"], **overrides.pop("ENV", {})}
        config["ENV"] = env
        other = create_app(config)
        other.test_client_class = SpecCheckingClient
        return other

    return _make


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db_session(app):
    return db.session


@pytest.fixture
def frozen_clock():
    """The provider's clock, frozen at the current time; advance it with .advance(seconds)."""
    clock.freeze()
    yield clock
    clock.reset()


# OAuth: owners, a client and tokens without going through the browser.

OAUTH_TEST_SECRET = "test-client-secret"
OAUTH_TEST_REDIRECT_URI = "https://client.example.com/oauth/callback"


@pytest.fixture
def account(app):
    """A jane-like lock owner: jane@example.com / 1234."""
    from provider.services.accounts import create_account

    owner = create_account("jane@example.com", "1234")
    db.session.commit()
    return owner


@pytest.fixture
def other_account(app):
    """A second owner (john@example.com / 5678), for isolation tests."""
    from provider.services.accounts import create_account

    owner = create_account("john@example.com", "5678")
    db.session.commit()
    return owner


@pytest.fixture
def oauth_client(app):
    """A confidential client; `.client_id`, plus `.secret` (plaintext, test-only attribute)."""
    from provider.services.oauth_clients import create_client

    client, secret = create_client(
        "Test client", [OAUTH_TEST_REDIRECT_URI], "locks.read locks.write",
        client_id="test-client", secret=OAUTH_TEST_SECRET,
    )
    db.session.commit()
    client.secret = secret
    return client


@pytest.fixture
def make_token(oauth_client):
    """make_token(account, scope="locks.read locks.write", **kw) -> a live access token string."""
    from provider.services.oauth_tokens import issue_token

    def _make(owner, scope="locks.read locks.write", **kwargs):
        token = issue_token(oauth_client, owner, scope, **kwargs)
        db.session.commit()
        return token["access_token"]

    return _make


@pytest.fixture
def auth_headers(account, make_token):
    """Bearer headers for `account`, with both scopes."""
    return {"Authorization": f"Bearer {make_token(account)}"}


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing():
    """argon2 at its minimum cost in tests (production keeps the library defaults)."""
    from argon2 import PasswordHasher

    from provider.services import secret_hashing

    saved = secret_hashing._hasher, secret_hashing._dummy_hash
    secret_hashing._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    secret_hashing._dummy_hash = None
    yield
    secret_hashing._hasher, secret_hashing._dummy_hash = saved
