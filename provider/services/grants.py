"""An owner's connected apps: the live OAuth grants they gave, and taking one back.

A grant is every token descending from one authorization (OAuthToken.grant_id).
Revoking goes through oauth_tokens.revoke_grant, the same rule RFC 7009
revocation and code-replay use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from provider.clock import now
from provider.extensions import db
from provider.models.oauth import OAuthClient, OAuthToken
from provider.services import oauth_tokens
from provider.services.oauth_clients import SCOPES


@dataclass(frozen=True)
class Grant:
    grant_id: str
    client_name: str
    client_id: str
    scopes: list[tuple[str, str]]
    since: datetime
    last_token_at: datetime


def _live(row: OAuthToken, at: datetime) -> bool:
    access_live = row.access_token_revoked_at is None and row.expires_at > at
    return access_live or row.is_refresh_token_active()


def list_grants(owner_id: str) -> list[Grant]:
    """Grants that can still reach the owner's locks, oldest first."""
    at = now()
    rows = db.session.execute(
        select(OAuthToken, OAuthClient)
        .join(OAuthClient, OAuthClient.id == OAuthToken.client_pk)
        .where(OAuthToken.user_id == owner_id)
        .order_by(OAuthToken.issued_at)
    ).all()
    by_grant: dict[str, list[tuple[OAuthToken, OAuthClient]]] = {}
    for token, client in rows:
        by_grant.setdefault(token.grant_id, []).append((token, client))
    grants = []
    for grant_id, members in by_grant.items():
        if not any(_live(token, at) for token, _ in members):
            continue
        first, client = members[0]
        scopes = sorted({scope for token, _ in members for scope in token.scope.split()})
        grants.append(
            Grant(
                grant_id=grant_id,
                client_name=client.name,
                client_id=client.client_id,
                scopes=[(scope, SCOPES.get(scope, scope)) for scope in scopes],
                since=first.issued_at,
                last_token_at=max(token.issued_at for token, _ in members),
            )
        )
    return grants


def revoke(owner_id: str, grant_id: str) -> bool:
    """Ends one of the owner's grants; False when it is not theirs (or does not exist)."""
    owned = db.session.scalar(
        select(OAuthToken.id).where(OAuthToken.grant_id == grant_id, OAuthToken.user_id == owner_id).limit(1)
    )
    if owned is None:
        return False
    oauth_tokens.revoke_grant(grant_id)
    return True
