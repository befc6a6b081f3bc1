"""OAuth client registration and client-credential checks (argon2-hashed secrets)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from provider.extensions import db
from provider.models.oauth import OAuthClient

# What each scope lets a client do, in the words the consent page uses.
SCOPES: dict[str, str] = {
    "locks.read": "See your locks, whether they are locked, their battery and their access codes",
    "locks.write": "Lock and unlock your locks, and create, change and delete their access codes",
}
DEFAULT_SCOPE = "locks.read locks.write"

_hasher = PasswordHasher()
# Verified against when the client id is unknown, so both paths cost the same.
_DUMMY_HASH = _hasher.hash("not-a-real-secret")


class ClientError(ValueError):
    """The registration request is not acceptable."""


def hash_secret(secret: str) -> str:
    return _hasher.hash(secret)


def verify_secret(client: OAuthClient | None, secret: str) -> bool:
    try:
        _hasher.verify(client.client_secret_hash if client else _DUMMY_HASH, secret)
    except (VerificationError, InvalidHashError):
        return False
    return client is not None


def find_client(client_id: str | None) -> OAuthClient | None:
    # A NUL can arrive inside HTTP Basic credentials; no client id holds one.
    if not client_id or "\x00" in client_id:
        return None
    return db.session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))


def authenticate_client(client_id: str | None, secret: str | None) -> OAuthClient | None:
    """The client these credentials belong to, or None (for HTTP Basic on non-OAuth endpoints)."""
    if not client_id or not secret:
        return None
    client = find_client(client_id)
    return client if verify_secret(client, secret) else None


def _check_registration(redirect_uris: Iterable[str], scope: str) -> tuple[list[str], str]:
    uris = [uri.strip() for uri in redirect_uris]
    if not uris:
        raise ClientError("at least one --redirect-uri is required")
    for uri in uris:
        if not (uri.startswith("https://") or uri.startswith("http://")) or "#" in uri:
            raise ClientError(f"not an absolute http(s) URI without fragment: {uri!r}")
    scopes = scope.split()
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise ClientError(f"unknown scope(s): {', '.join(unknown)}; known: {', '.join(SCOPES)}")
    return uris, " ".join(scopes)


def create_client(
    name: str,
    redirect_uris: Iterable[str],
    scope: str = DEFAULT_SCOPE,
    *,
    legacy_token_mode: bool = False,
    client_id: str | None = None,
    secret: str | None = None,
) -> tuple[OAuthClient, str]:
    """Registers a client; returns it with its secret (shown once, stored hashed)."""
    uris, scope = _check_registration(redirect_uris, scope)
    client_id = client_id or secrets.token_urlsafe(18)
    if find_client(client_id) is not None:
        raise ClientError(f"a client with id {client_id!r} already exists")
    secret = secret or secrets.token_urlsafe(32)
    client = OAuthClient(
        client_id=client_id,
        name=name,
        client_secret_hash=hash_secret(secret),
        redirect_uris=uris,
        scope=scope,
        legacy_token_mode=legacy_token_mode,
    )
    db.session.add(client)
    db.session.flush()
    return client, secret


def ensure_client(
    client_id: str,
    secret: str,
    name: str,
    redirect_uris: Iterable[str],
    scope: str = DEFAULT_SCOPE,
    *,
    legacy_token_mode: bool = False,
) -> OAuthClient:
    """Idempotent registration, for seeding."""
    existing = find_client(client_id)
    if existing is not None:
        return existing
    client, _ = create_client(
        name,
        redirect_uris,
        scope,
        legacy_token_mode=legacy_token_mode,
        client_id=client_id,
        secret=secret,
    )
    return client
