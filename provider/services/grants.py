"""Which OAuth clients an owner has authorised, and so which clients hear of the owner's events.

A grant is the family of token rows one authorization created (`OAuthToken.grant_id`).
It is live while its refresh token is usable (not revoked, not past the refresh
token's absolute lifetime) or, for a row without a refresh token, while its access
token is unexpired and unrevoked. An event of owner O reaches client C (GET /events,
GET /events/<id>, webhook fan-out, delivery, redelivery) only while O holds a live
grant to C whose scope includes EVENT_SCOPE. Everything that asks "may this client
see this owner's events" goes through `_live_grants`, so the feed, the dispatcher
and the owner's "Connected apps" page cannot disagree.

A lock shared with another account (services/sharing) is heard by the clients that
account authorised too, from the moment it was shared and while the share lasts,
within what its role allows (SHARED_EVENT_TYPES): every role hears the lock's
state and actions, only a role that manages codes hears its access codes (their
events carry the PIN). `device.added` / `device.removed` are addressed to each
account by itself (the event's user_id), never heard through a share.

Webhooks an operator created on the CLI without a client (`client_id` None) belong
to the deployment itself and see every owner's events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Select, and_, delete, func, literal, or_, select

from provider.clock import now
from provider.extensions import db
from provider.models import SHARE_ROLES, Event, LockShare
from provider.models.oauth import OAuthClient, OAuthToken
from provider.models.webhook import PENDING, Webhook, WebhookDelivery
from provider.services.events import WEBHOOK_EVENT_TYPES
from provider.services.locks import ROLE_PERMISSIONS

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


# Addressed to each account by itself: an account gains or loses a lock alone.
_PER_ACCOUNT_TYPES = frozenset({"device.added", "device.removed"})
_CODE_TYPES = frozenset(t for t in WEBHOOK_EVENT_TYPES if t.startswith("access_code."))
#: What an account a lock is shared with hears about it, by its role.
SHARED_EVENT_TYPES: dict[str, frozenset[str]] = {
    role: frozenset(
        t for t in WEBHOOK_EVENT_TYPES
        if t not in _PER_ACCOUNT_TYPES and not t.startswith("bridge.")
        and (t not in _CODE_TYPES or "manage_codes" in ROLE_PERMISSIONS[role])
    )
    for role in SHARE_ROLES
}


class EventLike(Protocol):
    seq: int
    user_id: str | None
    device_id: str | None
    event_type: str
    created_at: datetime | None


def _share_grants(at: datetime | None = None) -> Select:
    """(client_pk, lock_id, role, since) for every share whose account holds a live grant."""
    return (
        select(OAuthToken.client_pk, LockShare.lock_id, LockShare.role, LockShare.created_at)
        .join(LockShare, LockShare.account_id == OAuthToken.user_id)
        .where(_live_clause(at or now()), _has_scope(EVENT_SCOPE))
    )


def _shared_type_clause(role: Any, event_type: Any) -> ColumnElement[bool]:
    return or_(*(and_(role == name, event_type.in_(sorted(types))) for name, types in SHARED_EVENT_TYPES.items()))


def _heard_through_share(role: str, since: datetime, event: EventLike) -> bool:
    created = event.created_at or now()  # not flushed yet: it is being created now
    return event.event_type in SHARED_EVENT_TYPES.get(role, ()) and created >= since


# --- The rule, asked five ways ----------------------------------------------------------


def authorised_clients(account_id: str, at: datetime | None = None) -> set[str]:
    """The OAuth clients (primary keys) holding a live grant of this account to its events."""
    return set(
        db.session.scalars(
            _live_grants(at).with_only_columns(OAuthToken.client_pk).where(OAuthToken.user_id == account_id).distinct()
        )
    )


def event_audience(event: EventLike, at: datetime | None = None) -> set[str]:
    """The OAuth clients (primary keys) that may see this event right now: those its owner
    authorised, and those of the accounts the lock is shared with whose role hears it."""
    audience = authorised_clients(event.user_id, at) if event.user_id else set()
    if event.device_id is not None and event.event_type not in _PER_ACCOUNT_TYPES:
        for row in db.session.execute(_share_grants(at).where(LockShare.lock_id == event.device_id)):
            if _heard_through_share(row.role, row.created_at, event):
                audience.add(row.client_pk)
    return audience


def visible_events(pairs: Iterable[tuple[str, EventLike]], at: datetime | None = None) -> set[tuple[str, int]]:
    """Of these (client_pk, event) pairs, the (client_pk, event seq) of those the client may see."""
    pairs = list(pairs)
    by_owner = visible_pairs({(client_pk, event.user_id) for client_pk, event in pairs}, at)
    seen = {(c, e.seq) for c, e in pairs if (c, e.user_id) in by_owner}
    rest = [(c, e) for c, e in pairs if (c, e.seq) not in seen and e.device_id is not None
            and e.event_type not in _PER_ACCOUNT_TYPES]
    if not rest:
        return seen
    shares: dict[tuple[str, str], list[tuple[str, datetime]]] = defaultdict(list)
    query = _share_grants(at).where(OAuthToken.client_pk.in_({c for c, _ in rest}),
                                    LockShare.lock_id.in_({e.device_id for _, e in rest}))
    for row in db.session.execute(query.distinct()):
        shares[(row.client_pk, row.lock_id)].append((row.role, row.created_at))
    for client_pk, event in rest:
        if any(_heard_through_share(role, since, event) for role, since in shares[(client_pk, event.device_id)]):
            seen.add((client_pk, event.seq))
    return seen


def visible_clause(client_pk: str, at: datetime | None = None) -> ColumnElement[bool]:
    """The same rule as a WHERE clause on Event (the feed and GET /events/<id>)."""
    by_owner = Event.user_id.in_(authorised_owners(client_pk, at))
    shared = _share_grants(at).where(OAuthToken.client_pk == client_pk)
    if not db.session.scalar(select(shared.exists())):
        return by_owner  # the usual case: one index-friendly IN, no correlated subquery
    heard = shared.where(
        LockShare.lock_id == Event.device_id,
        LockShare.created_at <= Event.created_at,
        _shared_type_clause(LockShare.role, Event.event_type),
    )
    return or_(by_owner, heard.exists())


def account_clause(account_id: str) -> ColumnElement[bool]:
    """The events an account itself may see (its own token's feed, a lock's history on its
    pages): its own, and what its role hears of the locks shared with it, from the share on."""
    own = Event.user_id == account_id
    shares = select(LockShare.id).where(LockShare.account_id == account_id)
    if not db.session.scalar(select(shares.exists())):
        return own
    heard = shares.where(
        LockShare.lock_id == Event.device_id,
        LockShare.created_at <= Event.created_at,
        _shared_type_clause(LockShare.role, Event.event_type),
    )
    return or_(own, heard.exists())


def may_see_event(client_pk: str | None, event: EventLike, at: datetime | None = None) -> bool:
    """May the client (None: the deployment's own CLI webhooks) see this event?"""
    if client_pk is None:
        return True
    return (client_pk, event.seq) in visible_events([(client_pk, event)], at)


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
