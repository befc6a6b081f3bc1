"""Server-side browser sessions: the cookie is a random 256-bit id, the database keeps
its SHA-256 digest, the session's contents, when it was last used and when it ends.

A session ends when its owner signs out (`end`), after `idle` without a request, at
its absolute `lifetime`, and for every browser of an account when that account's
password changes (`end_for_account`). These functions use their own short
transactions on the engine, apart from the request's ORM session, so that saving a
session never commits (or rolls back) what a view left in db.session.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update

from provider.clock import now
from provider.extensions import db
from provider.models.browser_session import BrowserSession

ACCOUNT_KEY = "account_id"  # the data key that names the signed-in owner
# last_seen_at is written at most this often for a session whose data did not change.
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class Policy:
    idle: timedelta
    lifetime: timedelta


@dataclass
class Loaded:
    data: dict[str, Any]
    last_seen_at: datetime
    expires_at: datetime


def new_id() -> str:
    return secrets.token_urlsafe(32)


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def load(session_id: str, policy: Policy, at: datetime | None = None) -> Loaded | None:
    """The live session with this id, or None (unknown, idle too long, or past its end)."""
    if not session_id or len(session_id) > 128:
        return None
    at = at or now()
    table = BrowserSession.__table__
    with db.engine.connect() as conn:
        row = conn.execute(
            select(table.c.data, table.c.last_seen_at, table.c.expires_at).where(
                table.c.id_hash == _digest(session_id)
            )
        ).first()
    if row is None or at >= row.expires_at or at - row.last_seen_at >= policy.idle:
        return None
    return Loaded(dict(row.data or {}), row.last_seen_at, row.expires_at)


def save(session_id: str, data: dict[str, Any], policy: Policy, *, new: bool, at: datetime | None = None) -> datetime:
    """Creates or updates the row; returns the session's absolute end."""
    at = at or now()
    table = BrowserSession.__table__
    account_id = data.get(ACCOUNT_KEY)
    with db.engine.begin() as conn:
        if not new:
            result = conn.execute(
                update(table)
                .where(table.c.id_hash == _digest(session_id))
                .values(data=data, account_id=account_id, last_seen_at=at)
                .returning(table.c.expires_at)
            ).first()
            if result is not None:
                return result.expires_at
        # A session nobody signed into (a sign-in page's CSRF token) lives only as long as
        # the idle timeout: anonymous visitors cannot pile up rows for the full lifetime.
        expires_at = at + (policy.lifetime if account_id else min(policy.idle, policy.lifetime))
        conn.execute(
            insert(table).values(
                id_hash=_digest(session_id),
                account_id=account_id,
                data=data,
                created_at=at,
                last_seen_at=at,
                expires_at=expires_at,
            )
        )
    return expires_at


def touch(session_id: str, at: datetime | None = None) -> None:
    table = BrowserSession.__table__
    with db.engine.begin() as conn:
        conn.execute(update(table).where(table.c.id_hash == _digest(session_id)).values(last_seen_at=at or now()))


def end(session_id: str) -> None:
    """Sign-out: the id stops working at once, on every worker."""
    table = BrowserSession.__table__
    with db.engine.begin() as conn:
        conn.execute(delete(table).where(table.c.id_hash == _digest(session_id)))


def end_for_account(account_id: str, *, keep: str | None = None) -> int:
    """Ends every browser session of this account (but `keep`, the one changing the
    password). Runs in the caller's ORM transaction, so it commits with the change."""
    query = delete(BrowserSession).where(BrowserSession.account_id == account_id)
    if keep:
        query = query.where(BrowserSession.id_hash != _digest(keep))
    return db.session.execute(query.execution_options(synchronize_session=False)).rowcount or 0


def prune(at: datetime | None = None) -> int:
    """Deletes sessions past their absolute end (an idle one is refused by load() and is
    gone by then too). Caller commits."""
    return (
        db.session.execute(
            delete(BrowserSession)
            .where(BrowserSession.expires_at <= (at or now()))
            .execution_options(synchronize_session=False)
        ).rowcount
        or 0
    )
