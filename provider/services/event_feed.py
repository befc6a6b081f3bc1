"""The event feed: what an event looks like to Seam, and the catch-up listing of events.

One payload serves both ways Seam hears of an event: the webhook delivery and
GET /events.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select

from provider.extensions import db
from provider.models import Event
from provider.schemas.fields import isoformat_z
from provider.services import grants, sealed


def event_data(event: Event) -> dict[str, Any]:
    """The event's data as delivered: the public part, with its sealed part decrypted."""
    data = dict(event.data or {})
    if event.data_sealed:
        data.update(sealed.unseal(event.data_sealed))
    return data


def event_payload(event: Event) -> dict[str, Any]:
    """What Seam receives for an event, by webhook and from GET /events alike."""
    return {
        "event_id": event.event_id,
        "event_type": event.event_type,
        "device_id": event.device_id,
        "user_id": event.user_id,
        "timestamp": isoformat_z(event.occurred_at),
        "data": event_data(event),
        # Position in the device's own history (null for events about no device).
        "sequence": event.device_seq,
        "created_at": isoformat_z(event.created_at),
    }


def event_body(event: Event) -> bytes:
    """The exact bytes POSTed: deterministic, so every retry sends the same payload."""
    return json.dumps(event_payload(event), separators=(",", ":"), sort_keys=True).encode()


def _visible_to(query, user_id: str | None, client_pk: str | None):
    if user_id is not None:
        query = query.where(Event.user_id == user_id)
    if client_pk is not None:
        query = query.where(Event.user_id.in_(grants.authorised_owners(client_pk)))
    return query


def list_events(
    *,
    user_id: str | None = None,
    client_pk: str | None = None,
    device_id: str | None = None,
    event_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_seq: int | None = None,
    limit: int = 100,
) -> tuple[list[Event], int | None]:
    """Oldest first (catch-up order); user_id restricts to one owner's events, client_pk to
    the events of the owners who authorised that client (provider.services.grants)."""
    query = _visible_to(select(Event), user_id, client_pk)
    if device_id:
        query = query.where(Event.device_id == device_id)
    if event_type:
        query = query.where(Event.event_type == event_type)
    if since:
        query = query.where(Event.created_at >= since)
    if until:
        query = query.where(Event.created_at < until)
    if after_seq is not None:
        query = query.where(Event.seq > after_seq)
    page = list(db.session.scalars(query.order_by(Event.seq).limit(limit + 1)))
    more = len(page) > limit
    page = page[:limit]
    return page, (page[-1].seq if more else None)


def get_event(event_id: str, *, user_id: str | None = None, client_pk: str | None = None) -> Event | None:
    query = _visible_to(select(Event).where(Event.event_id == event_id), user_id, client_pk)
    return db.session.scalar(query)
