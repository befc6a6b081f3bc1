"""OAuth client registration and client-credential checks (argon2-hashed secrets)."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import delete, select

from provider.clock import now
from provider.errors import InvalidRequest
from provider.extensions import db
from provider.models.oauth import OAuthClient
from provider.services import secret_hashing
from provider.services.secret_hashing import hash_secret

# What each scope lets a client do, in the words the consent page uses.
SCOPES: dict[str, str] = {
    "locks.read": "See your locks, whether they are locked, their battery and their access codes",
    "locks.write": "Lock and unlock your locks, and create, change and delete their access codes",
    # For the vendor's own app, not for integrators: changes who owns and may use a lock.
    "devices.manage": "Add locks to your account, share them, hand them over and remove them",
}
DEFAULT_SCOPE = "locks.read locks.write"
# What a token of the client itself (client-credentials grant, no owner) may do. Never an
# owner's scope: such a token reads no lock, and an owner's token is never one of these.
CLIENT_SCOPES: dict[str, str] = {
    "webhooks.manage": "Register, change and delete this client's webhooks, and read their delivery log",
    "events.read": "Read the event feed of the owners who authorised this client",
}
# How long a rotated-out client secret keeps working: time to update it at Seam.
DEFAULT_ROTATION_GRACE = timedelta(hours=24)

class ClientError(InvalidRequest):
    """The registration request is not acceptable."""


class _VerifiedSecrets:
    """Recently verified (stored hash, secret digest) pairs, per process.

    argon2 costs tens of milliseconds and 64 MiB per check by design; Seam sends
    the same client credentials on every token, webhook and event call. Keyed by
    the stored hash, so a changed secret misses the cache at once; only
    successes are remembered, so a wrong secret always pays the full check.
    """

    TTL_SECONDS = 300.0
    MAX_ENTRIES = 1024

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._expiry: dict[tuple[str, bytes], float] = {}

    @staticmethod
    def _key(stored_hash: str, secret: str) -> tuple[str, bytes]:
        return stored_hash, hashlib.sha256(secret.encode()).digest()

    def __contains__(self, item: tuple[str, str]) -> bool:
        key = self._key(*item)
        with self._lock:
            expiry = self._expiry.get(key)
            return expiry is not None and expiry > time.monotonic()

    def add(self, stored_hash: str, secret: str) -> None:
        with self._lock:
            if len(self._expiry) >= self.MAX_ENTRIES:
                self._expiry.clear()
            self._expiry[self._key(stored_hash, secret)] = time.monotonic() + self.TTL_SECONDS


_verified = _VerifiedSecrets()


def verify_secret(client: OAuthClient | None, secret: str) -> bool:
    stored = client.client_secret_hash if client is not None else None
    if stored is not None and (stored, secret) in _verified:
        return True
    if secret_hashing.verify(stored, secret):  # an unknown client costs as much as a wrong secret
        _verified.add(stored, secret)  # type: ignore[arg-type]  (verify() is False without a hash)
        return True
    return _previous_secret_ok(client, secret)


def _previous_secret_ok(client: OAuthClient | None, secret: str) -> bool:
    """During a rotation's grace period the replaced secret still works (not remembered)."""
    if client is None or client.previous_secret_hash is None or client.previous_secret_expires_at is None:
        return False
    if now() >= client.previous_secret_expires_at:
        return False
    return secret_hashing.verify(client.previous_secret_hash, secret)


def list_clients() -> list[OAuthClient]:
    return list(db.session.scalars(select(OAuthClient).order_by(OAuthClient.name, OAuthClient.client_id)))


def rotate_secret(client: OAuthClient, grace: timedelta = DEFAULT_ROTATION_GRACE) -> str:
    """A new secret (returned once); the old one keeps working for `grace`, so Seam can be updated."""
    secret = secrets.token_urlsafe(32)
    client.previous_secret_hash = client.client_secret_hash
    client.previous_secret_expires_at = now() + grace
    client.client_secret_hash = hash_secret(secret)
    return secret


def delete_client(client: OAuthClient) -> int:
    """Removes a client with its codes, tokens and webhooks; returns how many webhooks went with it."""
    from provider.models import OAuthAuthorizationCode, OAuthToken, Webhook

    hooks = db.session.execute(delete(Webhook).where(Webhook.client_id == client.id)).rowcount
    db.session.execute(delete(OAuthToken).where(OAuthToken.client_pk == client.id))
    db.session.execute(delete(OAuthAuthorizationCode).where(OAuthAuthorizationCode.client_pk == client.id))
    db.session.delete(client)
    return hooks


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
