"""The event feed: what an event looks like to Seam, and the catch-up listing of events.

One payload serves both ways Seam hears of an event: the webhook delivery and
GET /events.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select

import bridge_contract as contract
from provider.extensions import db
from provider.models import Event
from provider.schemas.fields import isoformat_z
from provider.services import grants, sealed
from provider.services.events import EVENT_ALIASES

#: The envelope every event has; a field of `data` with one of these names stays inside `data`.
ENVELOPE = ("event_id", "event_type", "device_id", "user_id", "timestamp", "data", "sequence", "created_at")


def _join(public: dict[str, Any], secret: dict[str, Any]) -> dict[str, Any]:
    """`public` with `secret` merged in, nested objects joined key by key."""
    joined = dict(public)
    for key, value in secret.items():
        if isinstance(value, dict) and isinstance(joined.get(key), dict):
            joined[key] = {**joined[key], **value}
        else:
            joined[key] = value
    return joined


def _upgrade(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """Events recorded before a field was renamed read as the current ones do (an event is
    built again on every delivery, so a stored event is never rewritten)."""
    if event_type == "lock.action_completed":
        if "action" not in data and "action_type" in data:
            data["action"] = data["action_type"]
        # Movements at the lock were recorded without these; a remote action always had them.
        data.setdefault("action_id", None)
        data.setdefault("custom_id", None)
        if data.get("performed_via") == contract.SOURCE_AUTO_LOCK:
            data["performed_via"] = contract.PERFORMED_VIA[contract.SOURCE_AUTO_LOCK]
            data.setdefault("source", contract.SOURCE_AUTO_LOCK)
    elif event_type == "access_code.incorrect_attempt" and "pin" not in data and "code" in data:
        data["pin"] = data.pop("code")
    return data


def event_data(event: Event) -> dict[str, Any]:
    """The event's data as delivered: the public part, with its sealed part decrypted."""
    data = dict(event.data or {})
    if event.data_sealed:
        data = _join(data, sealed.unseal(event.data_sealed))
    if event.device_id is not None:
        data.setdefault("device_id", event.device_id)
    return _upgrade(event.event_type, data)


def event_payload(event: Event, event_type: str | None = None) -> dict[str, Any]:
    """What Seam receives for an event, by webhook and from GET /events alike.

    Seam's guide reads events two ways: its closing section puts the fields in `data`,
    every one of its examples at the top level. Both are served: each field of `data`
    is also at the top level (unless it is an envelope field). `event_type` names an
    alias the receiver subscribed to (provider.services.events.EVENT_ALIASES)."""
    data = event_data(event)
    payload: dict[str, Any] = {key: value for key, value in data.items() if key not in ENVELOPE}
    payload.update(
        {
            "event_id": event.event_id,
            "event_type": event_type or event.event_type,
            "device_id": event.device_id,
            "user_id": event.user_id,
            "timestamp": isoformat_z(event.occurred_at),
            "data": data,
            # Position in the device's own history (null for events about no device).
            "sequence": event.device_seq,
            "created_at": isoformat_z(event.created_at),
        }
    )
    return payload


def event_body(event: Event, event_type: str | None = None) -> bytes:
    """The exact bytes POSTed: deterministic, so every retry sends the same payload."""
    return json.dumps(event_payload(event, event_type), separators=(",", ":"), sort_keys=True).encode()


def _visible_to(query, user_id: str | None, client_pk: str | None):
    if user_id is not None:
        query = query.where(grants.account_clause(user_id))
    if client_pk is not None:
        query = query.where(grants.visible_clause(client_pk))
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
    the events that client may see (provider.services.grants)."""
    query = _visible_to(select(Event), user_id, client_pk)
    if device_id:
        query = query.where(Event.device_id == device_id)
    if event_type:
        # An alias finds the events recorded under its name and under the one it stands for.
        query = query.where(Event.event_type.in_({event_type, EVENT_ALIASES.get(event_type, event_type)}))
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
