"""Client registration (`provider clients create`), secrets hashed, and the sandbox's `seam` client."""

from __future__ import annotations

import re

from sqlalchemy import select

from provider.cli.clients import clients
from provider.extensions import db
from provider.models.oauth import OAuthClient
from provider.services.oauth_clients import authenticate_client, find_client
from provider.services.sandbox import SEAM_REDIRECT_URIS, describe_sandbox, seed_oauth_client


def run(app, *args):
    return app.test_cli_runner().invoke(clients, list(args))


def test_create_prints_id_and_secret_once_and_stores_a_hash(app):
    result = run(app, "create", "Seam", "--redirect-uri", "https://a.example.com/cb",
                 "--redirect-uri", "http://localhost:3020/oauth/callback")
    assert result.exit_code == 0, result.output
    client_id = re.search(r"client_id:\s+(\S+)", result.output).group(1)
    secret = re.search(r"client_secret:\s+(\S+)", result.output).group(1)
    assert len(secret) >= 40
    client = find_client(client_id)
    assert client.redirect_uris == ["https://a.example.com/cb", "http://localhost:3020/oauth/callback"]
    assert client.scope == "locks.read locks.write"
    assert not client.legacy_token_mode
    assert secret not in client.client_secret_hash and client.client_secret_hash.startswith("$argon2")
    assert authenticate_client(client_id, secret) is client
    assert authenticate_client(client_id, secret + "x") is None
    assert authenticate_client("nobody", secret) is None


def test_create_with_options(app):
    result = run(app, "create", "Legacy", "--redirect-uri", "https://a.example.com/cb",
                 "--scope", "locks.read", "--legacy-token-mode", "--client-id", "legacy")
    assert result.exit_code == 0, result.output
    client = find_client("legacy")
    assert client.scope == "locks.read" and client.legacy_token_mode


def test_create_refuses_bad_registrations(app):
    assert run(app, "create", "X").exit_code != 0  # no redirect URI
    for args in (["--redirect-uri", "not-a-uri"], ["--redirect-uri", "https://a/cb#frag"],
                 ["--redirect-uri", "https://a/cb", "--scope", "admin"]):
        result = run(app, "create", "X", *args)
        assert result.exit_code != 0
    assert db.session.scalars(select(OAuthClient)).all() == []


def test_sandbox_seeds_seam_idempotently(app):
    seed_oauth_client()
    db.session.commit()
    seed_oauth_client()
    db.session.commit()
    rows = db.session.scalars(select(OAuthClient)).all()
    assert [r.client_id for r in rows] == ["seam"]
    seam = rows[0]
    assert tuple(seam.redirect_uris) == SEAM_REDIRECT_URIS
    assert seam.scope == "locks.read locks.write"
    assert seam.legacy_token_mode
    assert authenticate_client("seam", "seamsecret") is seam
    text = describe_sandbox("http://127.0.0.1:8080")
    assert "seam / seamsecret" in text
    assert "http://127.0.0.1:8080/oauth/authorize" in text


def test_verified_secret_is_remembered_but_a_changed_secret_is_not(app, oauth_client, monkeypatch):
    from provider.services import oauth_clients, secret_hashing

    assert authenticate_client(oauth_client.client_id, oauth_client.secret) is not None
    checks = []
    real_hasher = secret_hashing._hasher

    class CountingHasher:
        def verify(self, *args):
            checks.append(args)
            return real_hasher.verify(*args)

        def hash(self, secret):
            return real_hasher.hash(secret)

    monkeypatch.setattr(secret_hashing, "_hasher", CountingHasher())
    # Remembered: no second argon2 check for the same credentials.
    assert authenticate_client(oauth_client.client_id, oauth_client.secret) is not None
    assert checks == []
    # A wrong secret always pays the full check and fails.
    assert authenticate_client(oauth_client.client_id, oauth_client.secret + "x") is None
    assert len(checks) == 1
    # A new stored hash (secret changed) misses the cache: the old secret no longer works.
    client = find_client(oauth_client.client_id)
    client.client_secret_hash = oauth_clients.hash_secret("a-brand-new-secret")
    db.session.commit()
    assert authenticate_client(oauth_client.client_id, oauth_client.secret) is None
    assert authenticate_client(oauth_client.client_id, "a-brand-new-secret") is not None
