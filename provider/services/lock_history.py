"""One lock's history for its owner: its events from the event store, newest first, paged."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from provider.extensions import db
from provider.models import Event
from provider.services.locks import get_owned_lock

PAGE_SIZE = 25


def history(
    owner_id: str,
    lock_id: str,
    *,
    event_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_seq: int | None = None,
    limit: int = PAGE_SIZE,
) -> tuple[list[Event], int | None]:
    """A page of the lock's events and the cursor (a seq) of the next, older page."""
    lock = get_owned_lock(owner_id, lock_id)
    query = select(Event).where(Event.device_id == lock.id, Event.user_id == owner_id)
    if event_type:
        query = query.where(Event.event_type == event_type)
    if since:
        query = query.where(Event.occurred_at >= since)
    if until:
        query = query.where(Event.occurred_at < until)
    if before_seq is not None:
        query = query.where(Event.seq < before_seq)
    page = list(db.session.scalars(query.order_by(Event.seq.desc()).limit(limit + 1)))
    more = len(page) > limit
    page = page[:limit]
    return page, (page[-1].seq if more and page else None)
