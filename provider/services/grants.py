"""Which OAuth clients an owner has authorised, and so which clients hear of the owner's events.

A grant is the family of token rows one authorization created (`OAuthToken.grant_id`).
It is live while its refresh token is usable (not revoked, not past the refresh
token's absolute lifetime) or, for a row without a refresh token, while its access
token is unexpired and unrevoked. An event of owner O reaches client C (GET /events,
GET /events/<id>, webhook fan-out, delivery, redelivery) only while O holds a live
grant to C whose scope includes EVENT_SCOPE. Everything that asks "may this client
see this owner's events" goes through `_live_grants`, so the feed, the dispatcher
and the owner's "Connected apps" page cannot disagree.

Webhooks an operator created on the CLI without a client (`client_id` None) belong
to the deployment itself and see every owner's events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, delete, func, literal, or_, select

from provider.clock import now
from provider.extensions import db
from provider.models import Event
from provider.models.oauth import OAuthClient, OAuthToken
from provider.models.webhook import PENDING, Webhook, WebhookDelivery

# Every event type reports the state of a lock or bridge, which is what locks.read shows.
EVENT_SCOPE = "locks.read"

# The refresh token's absolute lifetime per app (None: until revoked), kept per engine
# like wakeups' Redis, because the dispatcher asks outside any request.
_refresh_lifetime: dict[Any, timedelta | None] = {}


def init_app(app: Any) -> None:
    days = app.config.get("PROVIDER_REFRESH_TOKEN_DAYS")
    with app.app_context():
        _refresh_lifetime[db.engine] = timedelta(days=float(days)) if days else None


def refresh_token_lifetime() -> timedelta | None:
    return _refresh_lifetime.get(db.session.get_bind())


def refresh_token_usable(row: OAuthToken, at: datetime | None = None) -> bool:
    """The row's refresh token can still be exchanged (the token endpoint asks this too)."""
    if row.refresh_token_hash is None or row.refresh_token_revoked_at is not None:
        return False
    lifetime = refresh_token_lifetime()
    return lifetime is None or (at or now()) < row.issued_at + lifetime


def _live_clause(at: datetime):
    t = OAuthToken
    refresh_live = and_(t.refresh_token_hash.is_not(None), t.refresh_token_revoked_at.is_(None))
    lifetime = refresh_token_lifetime()
    if lifetime is not None:
        refresh_live = and_(refresh_live, t.issued_at > at - lifetime)
    access_live = and_(t.access_token_revoked_at.is_(None), t.expires_at > at)
    return or_(refresh_live, access_live)


def _has_scope(scope: str):
    # Scopes are stored space-separated; padding makes "locks.read" never match "xlocks.read".
    return (literal(" ") + OAuthToken.scope + literal(" ")).like(f"% {scope} %")


def _live_grants(at: datetime | None = None, scope: str | None = EVENT_SCOPE) -> Select:
    """(client_pk, user_id) of every live grant, optionally only those carrying `scope`."""
    query = select(OAuthToken.client_pk, OAuthToken.user_id).where(_live_clause(at or now()))
    if scope is not None:
        query = query.where(_has_scope(scope))
    return query


# --- The rule, asked three ways ----------------------------------------------------------


def event_audience(owner_id: str, at: datetime | None = None) -> set[str]:
    """The OAuth clients (primary keys) that may see this owner's events right now."""
    return set(
        db.session.scalars(
            _live_grants(at).with_only_columns(OAuthToken.client_pk).where(OAuthToken.user_id == owner_id).distinct()
        )
    )


def authorised_owners(client_pk: str, at: datetime | None = None) -> Select:
    """A subquery of the owners whose events this client may see (for IN clauses)."""
    return _live_grants(at).with_only_columns(OAuthToken.user_id).where(OAuthToken.client_pk == client_pk)


def may_see(client_pk: str | None, owner_id: str | None, at: datetime | None = None) -> bool:
    """May the client (None: the deployment's own CLI webhooks) see an event of this owner?"""
    if client_pk is None:
        return True
    if owner_id is None:
        return False
    query = _live_grants(at).where(OAuthToken.client_pk == client_pk, OAuthToken.user_id == owner_id)
    return db.session.scalar(select(query.exists())) is True


def visible_pairs(pairs: Iterable[tuple[str, str | None]], at: datetime | None = None) -> set[tuple[str, str]]:
    """Of these (client_pk, owner_id) pairs, those where the client may see the owner's events."""
    wanted = {(c, o) for c, o in pairs if o is not None}
    if not wanted:
        return set()
    clients = {c for c, _ in wanted}
    owners = {o for _, o in wanted}
    found = db.session.execute(
        _live_grants(at)
        .where(OAuthToken.client_pk.in_(clients), OAuthToken.user_id.in_(owners))
        .distinct()
    ).all()
    return {(row.client_pk, row.user_id) for row in found} & wanted


# --- Connected apps (what an owner sees and revokes) -------------------------------------


@dataclass(frozen=True)
class ConnectedApp:
    client_pk: str
    client_id: str
    name: str
    scopes: list[str]
    since: datetime
    last_used: datetime


def connected_apps(owner_id: str, at: datetime | None = None) -> list[ConnectedApp]:
    """Every client this owner holds a live grant to (any scope), oldest first."""
    t = OAuthToken
    rows = db.session.execute(
        select(
            OAuthClient.id,
            OAuthClient.client_id,
            OAuthClient.name,
            func.min(t.issued_at).label("since"),
            func.max(t.issued_at).label("last_used"),
        )
        .join(OAuthClient, OAuthClient.id == t.client_pk)
        .where(t.user_id == owner_id, _live_clause(at or now()))
        .group_by(OAuthClient.id, OAuthClient.client_id, OAuthClient.name)
        .order_by(func.min(t.issued_at))
    ).all()
    apps = []
    for row in rows:
        scopes = db.session.scalars(
            select(t.scope).where(t.user_id == owner_id, t.client_pk == row.id, _live_clause(at or now()))
        ).all()
        apps.append(
            ConnectedApp(
                client_pk=row.id,
                client_id=row.client_id,
                name=row.name,
                scopes=sorted({s for scope in scopes for s in scope.split()}),
                since=row.since,
                last_used=row.last_used,
            )
        )
    return apps


def revoke_client(owner_id: str, client_pk: str) -> int:
    """The owner's "Revoke": ends every token this owner gave this client and drops what is
    queued for it. Returns the number of grants ended. Caller commits."""
    from provider.services.oauth_tokens import revoke_grant

    grant_ids = db.session.scalars(
        select(OAuthToken.grant_id)
        .where(OAuthToken.user_id == owner_id, OAuthToken.client_pk == client_pk)
        .distinct()
    ).all()
    for grant_id in grant_ids:
        revoke_grant(grant_id)
    drop_queued(owner_id, client_pk)
    return len(grant_ids)


def drop_queued(owner_id: str, client_pk: str) -> int:
    """Deletes the pending deliveries of this owner's events to this client's webhooks,
    unless the owner still holds another live grant to it. Caller commits."""
    db.session.flush()
    if may_see(client_pk, owner_id):
        return 0
    d = WebhookDelivery
    queued = (
        select(d.id)
        .join(Webhook, Webhook.id == d.webhook_id)
        .join(Event, Event.seq == d.event_seq)
        .where(Webhook.client_id == client_pk, Event.user_id == owner_id, d.status == PENDING)
    )
    return (
        db.session.execute(
            delete(d).where(d.id.in_(queued.scalar_subquery())).execution_options(synchronize_session=False)
        ).rowcount
        or 0
    )
