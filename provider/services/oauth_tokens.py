"""Authorization codes and tokens: generation, hashed storage, claiming, revocation.

Codes and tokens are 256-bit random strings; only their SHA-256 digests are
stored, so a leaked database yields nothing usable, and a bearer check is one
lookup on a unique index (no slow hash on the API's hot path).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select, update

from provider.clock import now
from provider.extensions import db
from provider.models import Account
from provider.models.base import new_id
from provider.models.oauth import OAuthAuthorizationCode, OAuthClient, OAuthClientToken, OAuthToken
from provider.services import grants, read_cache

ACCESS_TOKEN_SECONDS = 3600
CODE_SECONDS = 600


def generate_secret() -> str:
    """256 bits from the OS CSPRNG, URL-safe."""
    return secrets.token_urlsafe(32)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# Authorization codes ---------------------------------------------------------


def save_code(
    code: str,
    *,
    client: OAuthClient,
    account: Account,
    redirect_uri: str,
    scope: str,
    code_challenge: str | None = None,
    code_challenge_method: str | None = None,
) -> OAuthAuthorizationCode:
    issued = now()
    row = OAuthAuthorizationCode(
        code_hash=digest(code),
        client_pk=client.id,
        user_id=account.id,
        redirect_uri=redirect_uri,
        scope=scope or "",
        code_challenge=code_challenge,
        code_challenge_method=code_challenge_method,
        created_at=issued,
        expires_at=issued + timedelta(seconds=CODE_SECONDS),
    )
    db.session.add(row)
    return row


def find_code(code: str, client: OAuthClient) -> OAuthAuthorizationCode | None:
    """The code row issued to this client, used or not, if it has not expired."""
    row = db.session.scalar(
        select(OAuthAuthorizationCode).where(OAuthAuthorizationCode.code_hash == digest(code))
    )
    if row is None or row.client_pk != client.id or now() >= row.expires_at:
        return None
    return row


def claim_code(row: OAuthAuthorizationCode) -> bool:
    """Marks the code used; True for exactly one caller, however many race.

    A conditional UPDATE: on PostgreSQL the losers wait on the row lock and
    then see used_at set; on SQLite the write lock serialises them.
    """
    result = db.session.execute(
        update(OAuthAuthorizationCode)
        .where(OAuthAuthorizationCode.id == row.id, OAuthAuthorizationCode.used_at.is_(None))
        .values(used_at=now())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


# Tokens ----------------------------------------------------------------------


def store_token(
    token: dict[str, Any],
    *,
    client: OAuthClient,
    account: Account,
    grant_id: str,
    store_refresh_token: bool = True,
) -> OAuthToken:
    """Persists a token response from Authlib's generator (hashes only)."""
    issued = now()
    expires_in = int(token.get("expires_in") or ACCESS_TOKEN_SECONDS)
    refresh = token.get("refresh_token") if store_refresh_token else None
    row = OAuthToken(
        client_pk=client.id,
        user_id=account.id,
        grant_id=grant_id,
        token_type=token.get("token_type", "Bearer"),
        scope=token.get("scope") or "",
        access_token_hash=digest(token["access_token"]),
        refresh_token_hash=digest(refresh) if refresh else None,
        issued_at=issued,
        expires_in=expires_in,
        expires_at=issued + timedelta(seconds=expires_in),
    )
    db.session.add(row)
    return row


def issue_token(
    client: OAuthClient,
    account: Account,
    scope: str,
    *,
    expires_in: int = ACCESS_TOKEN_SECONDS,
    with_refresh_token: bool = True,
) -> dict[str, Any]:
    """A token pair outside any browser flow (tests, tools); caller commits."""
    token: dict[str, Any] = {
        "token_type": "Bearer",
        "access_token": generate_secret(),
        "expires_in": expires_in,
        "scope": scope,
    }
    if with_refresh_token:
        token["refresh_token"] = generate_secret()
    store_token(token, client=client, account=account, grant_id=new_id())
    token["user_id"] = account.id
    return token


def find_by_access_token(access_token: str) -> OAuthToken | None:
    """One indexed query; client and account come along (joined)."""
    return db.session.scalar(
        select(OAuthToken).where(OAuthToken.access_token_hash == digest(access_token))
    )


@dataclass(frozen=True)
class BearerGrant:
    """What a bearer check needs of a live access token: the columns, not the ORM row and its joins."""

    token_id: str
    account_id: str
    client_pk: str
    grant_id: str
    scope: str
    expires_at: datetime

    def get_scope(self) -> str:
        return self.scope

    def is_expired(self) -> bool:
        return self.expires_at <= now()

    def is_revoked(self) -> bool:
        return False  # only unrevoked tokens become a BearerGrant; revocation drops cached ones

    @property
    def account(self) -> Account:
        account = db.session.get(Account, self.account_id)
        if account is None:
            raise LookupError("the token's account is gone")
        return account

    @property
    def client(self) -> OAuthClient | None:
        return db.session.get(OAuthClient, self.client_pk)


_BEARER_COLUMNS = (
    OAuthToken.id, OAuthToken.user_id, OAuthToken.client_pk, OAuthToken.grant_id,
    OAuthToken.scope, OAuthToken.expires_at,
)


def find_bearer(access_token: str) -> BearerGrant | None:
    """The live token behind a bearer string: from this worker's cache, else one narrow select."""
    key = digest(access_token)
    cache = read_cache.for_session(db.session())
    if cache is not None:
        cached = cache.get(("token", key))
        if cached is not None:
            return cached  # type: ignore[no-any-return]
    ticket = cache.ticket() if cache is not None else None
    row = db.session.execute(
        select(*_BEARER_COLUMNS).where(
            OAuthToken.access_token_hash == key, OAuthToken.access_token_revoked_at.is_(None)
        )
    ).first()
    if row is None:
        return None
    grant = BearerGrant(*row)
    if cache is not None and not grant.is_expired():
        cache.put(("token", key), grant, ticket,
                  (read_cache.token_channel(key), read_cache.account_channel(grant.account_id)))
    return grant


# Client tokens (client-credentials grant) ------------------------------------------


def store_client_token(token: dict[str, Any], *, client: OAuthClient) -> OAuthClientToken:
    """Persists a client-credentials token response (its digest only). Caller commits."""
    issued = now()
    expires_in = int(token.get("expires_in") or ACCESS_TOKEN_SECONDS)
    row = OAuthClientToken(
        client_pk=client.id,
        scope=token.get("scope") or "",
        access_token_hash=digest(token["access_token"]),
        issued_at=issued,
        expires_at=issued + timedelta(seconds=expires_in),
    )
    db.session.add(row)
    return row


def find_client_token(access_token: str) -> OAuthClientToken | None:
    """The client token behind a bearer string, live or not (None: not a client token)."""
    return db.session.scalar(
        select(OAuthClientToken).where(OAuthClientToken.access_token_hash == digest(access_token))
    )


def revoke_client_token(row: OAuthClientToken) -> None:
    if row.revoked_at is None:
        row.revoked_at = now()


def find_by_refresh_token(refresh_token: str) -> OAuthToken | None:
    return db.session.scalar(
        select(OAuthToken).where(OAuthToken.refresh_token_hash == digest(refresh_token))
    )


def find_any(token: str, hint: str | None = None) -> OAuthToken | None:
    """A token row by access or refresh token value (RFC 7009's hint only orders the lookup)."""
    value = digest(token)
    rows = db.session.scalars(
        select(OAuthToken).where(
            or_(OAuthToken.access_token_hash == value, OAuthToken.refresh_token_hash == value)
        )
    ).all()
    for row in rows:
        if row.access_token_hash == value and hint != "refresh_token":
            return row
        if row.refresh_token_hash == value:
            return row
    return rows[0] if rows else None


def revoke_access_token(row: OAuthToken) -> None:
    if row.access_token_revoked_at is None:
        row.access_token_revoked_at = now()
    if row.refresh_token_hash is None:
        # A grant without refresh token ends with its access tokens.
        grants.drop_queued(row.user_id, row.client_pk)


def revoke_grant(grant_id: str) -> int:
    """Revokes every access and refresh token descending from one authorization, and drops
    the deliveries queued for its client of its owner's events (unless another grant lives)."""
    at = now()
    access = db.session.execute(
        update(OAuthToken)
        .where(OAuthToken.grant_id == grant_id, OAuthToken.access_token_revoked_at.is_(None))
        .values(access_token_revoked_at=at)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.execute(
        update(OAuthToken)
        .where(
            OAuthToken.grant_id == grant_id,
            OAuthToken.refresh_token_hash.is_not(None),
            OAuthToken.refresh_token_revoked_at.is_(None),
        )
        .values(refresh_token_revoked_at=at)
        .execution_options(synchronize_session=False)
    )
    for client_pk, user_id in db.session.execute(
        select(OAuthToken.client_pk, OAuthToken.user_id).where(OAuthToken.grant_id == grant_id).distinct()
    ).all():
        grants.drop_queued(user_id, client_pk)
    return access


def purge_expired(keep_for: timedelta = timedelta(days=1)) -> int:
    """Deletes codes and tokens that can no longer be used, `keep_for` after they stopped working.

    Used codes are kept that long so a replay can still be recognised (and
    what the code issued revoked); a row holding a live refresh token is kept
    however old its access token is. Caller commits. Returns rows deleted.
    """
    cutoff = now() - keep_for
    codes = db.session.execute(
        delete(OAuthAuthorizationCode).where(OAuthAuthorizationCode.expires_at < cutoff)
    ).rowcount
    tokens = db.session.execute(
        delete(OAuthToken).where(
            OAuthToken.expires_at < cutoff,
            or_(
                OAuthToken.refresh_token_hash.is_(None),
                and_(
                    OAuthToken.refresh_token_revoked_at.is_not(None),
                    OAuthToken.refresh_token_revoked_at < cutoff,
                ),
            ),
        )
    ).rowcount
    client_tokens = db.session.execute(
        delete(OAuthClientToken).where(OAuthClientToken.expires_at < cutoff)
    ).rowcount
    return codes + tokens + client_tokens
