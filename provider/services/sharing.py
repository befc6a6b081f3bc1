"""Sharing a lock with another account: admin (codes and sharing) or user (lock and unlock).

Gaining a lock is `device.added` to the clients that account authorised,
losing it `device.removed`; a change of role is neither (the lock stays).
"""

from __future__ import annotations

from sqlalchemy import select

from provider.errors import ApiError, not_found
from provider.extensions import db
from provider.models import SHARE_ROLES, Account, Lock, LockShare
from provider.services.events import record_event


def _account_by_email(email: str) -> Account:
    account = db.session.scalar(select(Account).where(Account.email == email.strip().lower()))
    if account is None:
        raise ApiError(404, "ACCOUNT_NOT_FOUND", "No account has this email address.")
    return account


def share(lock: Lock, *, granted_by: str, email: str, role: str) -> tuple[LockShare, bool]:
    """Shares the lock (or changes the role of an existing share); returns it and whether it is new."""
    if role not in SHARE_ROLES:
        raise ApiError(400, "INVALID_REQUEST", f"role must be one of {', '.join(SHARE_ROLES)}.")
    account = _account_by_email(email)
    if account.id == lock.owner_id:
        raise ApiError(409, "ALREADY_OWNER", "This account owns the lock.")
    existing = db.session.scalar(
        select(LockShare).where(LockShare.lock_id == lock.id, LockShare.account_id == account.id)
    )
    if existing is not None:
        existing.role = role
        return existing, False
    row = LockShare(lock_id=lock.id, account_id=account.id, role=role, granted_by=granted_by)
    db.session.add(row)
    db.session.flush()
    record_event("device.added", device=lock, user_id=account.id,
                 data={"lock_id": lock.id, "device_type": "smart_lock"})
    return row, True


def list_shares(lock: Lock) -> list[tuple[LockShare, str]]:
    """(share, email of the account) for every share of the lock, oldest first."""
    rows = db.session.execute(
        select(LockShare, Account.email)
        .join(Account, Account.id == LockShare.account_id)
        .where(LockShare.lock_id == lock.id)
        .order_by(LockShare.created_at, LockShare.id)
    ).all()
    return [(row, email) for row, email in rows]


def share_of(lock: Lock, account_id: str) -> LockShare | None:
    """The account's own share of the lock (None for its owner or a stranger)."""
    return db.session.scalar(
        select(LockShare).where(LockShare.lock_id == lock.id, LockShare.account_id == account_id)
    )


def find_share(lock: Lock, share_id: str) -> LockShare:
    row = db.session.get(LockShare, share_id) if len(share_id) <= 36 else None
    if row is None or row.lock_id != lock.id:
        raise not_found("Share")
    return row


def share_to_remove(account_id: str, lock_id: str, share_id: str) -> tuple[Lock, LockShare]:
    """The lock and the share `account_id` may end: its own (leaving needs no right) or, with the
    right to share, anyone's. The caller passes them to revoke()."""
    from provider.services.locks import lock_for

    lock = lock_for(account_id, lock_id, "view")
    row = find_share(lock, share_id)
    if row.account_id != account_id:
        lock = lock_for(account_id, lock_id, "share")
    return lock, row


def revoke(lock: Lock, row: LockShare) -> None:
    """The account loses the lock, and so do the clients it authorised."""
    record_event("device.removed", device=lock, user_id=row.account_id, data={"lock_id": lock.id})
    db.session.delete(row)
