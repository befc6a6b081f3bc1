"""One lock's history for an account that can use it: its events from the event store, newest
first, paged. The owner sees every event of the lock while it owns it; an account the lock is
shared with sees what its apps hear (services.grants.SHARED_EVENT_TYPES), from the share on."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from provider.extensions import db
from provider.models import Event
from provider.services import grants
from provider.services.locks import lock_for

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
    lock = lock_for(owner_id, lock_id, "view")
    query = select(Event).where(Event.device_id == lock.id, grants.account_clause(owner_id))
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
