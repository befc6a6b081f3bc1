"""Device-key rotation, cloud side: schedule, hand the new key to the bridge, record the outcome.

The lock switches keys in two steps (ROTATE_KEY, then COMMIT_KEY) and keeps
its old key until the second; until the cloud hears that the lock switched,
it keeps both keys and gives the bridge both (GET /bridge/v1/locks:
`pending_device_key`), so whichever the lock holds, the bridge gets in, and
tells the cloud which one worked. So an interruption at any step (a link
lost, the bridge killed, the cloud unreachable) ends with lock and cloud on
one key: the old one while the rotation is pending, the new one once either
the command's result or the bridge's next handshake confirms it.

At most one rotation is pending per lock; a pending rotation without an open
command gets a new command from the sweeper (`resume`), so one the lock
could not be reached for finishes when it is back.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import func, select, update

import bridge_contract as contract
from provider.clock import now
from provider.errors import ApiError, not_found
from provider.extensions import db
from provider.models import Command, KeyRotation, Lock
from provider.models.device import OPEN_COMMAND_STATUSES
from provider.services import commands, crypto, device_keys
from provider.services.locks import DEVICE_KEY_PURPOSE, key_fingerprint

REASONS = ("transfer", "operator", "policy")
# A rotation may wait this long for an unreachable lock before its command expires (it is resumed).
COMMAND_TTL_SECONDS = 24 * 3600


def pending(lock_id: str) -> KeyRotation | None:
    return db.session.scalar(
        select(KeyRotation).where(KeyRotation.lock_id == lock_id, KeyRotation.status == "pending")
    )


def _new_key() -> bytes:
    while True:  # a random key is weak with negligible probability; never hand one out
        key = secrets.token_bytes(16)
        if device_keys.weakness(key) is None:
            return key


def schedule(lock: Lock, reason: str) -> KeyRotation:
    """Schedules a rotation (or returns the one already pending); sends it if the lock has a bridge."""
    if reason not in REASONS:
        raise ValueError(f"unknown rotation reason {reason!r}")
    existing = pending(lock.id)
    if existing is not None:
        return existing
    number = (db.session.scalar(
        select(func.max(KeyRotation.rotation_no)).where(KeyRotation.lock_id == lock.id)) or 0) + 1
    rotation = KeyRotation(
        lock_id=lock.id,
        rotation_no=number,
        new_key_enc=crypto.encrypt(_new_key().hex(), purpose=DEVICE_KEY_PURPOSE),
        status="pending",
        reason=reason,
        attempts=0,
        created_at=now(),
    )
    db.session.add(rotation)
    db.session.flush()
    _send(lock, rotation)
    return rotation


def _send(lock: Lock, rotation: KeyRotation) -> Command | None:
    if lock.bridge_id is None:
        return None  # resumed once the lock has a bridge
    rotation.attempts += 1
    return commands.enqueue(
        lock,
        contract.ROTATE_KEY,
        {"rotation_id": rotation.rotation_no},
        # Like a PIN, the new key stays encrypted in the queue and is decrypted as the command leaves.
        sealed={"new_key": (DEVICE_KEY_PURPOSE, rotation.new_key_enc)},
        idempotency_key=f"rotate:{rotation.id}:{rotation.attempts}",
        ttl_seconds=COMMAND_TTL_SECONDS,
    )


def new_key_hex(rotation: KeyRotation) -> str:
    return crypto.decrypt(rotation.new_key_enc, purpose=DEVICE_KEY_PURPOSE)


def _rotation_for(lock_id: str, rotation_no: int) -> KeyRotation | None:
    return db.session.scalar(
        select(KeyRotation).where(KeyRotation.lock_id == lock_id, KeyRotation.rotation_no == rotation_no)
    )


def complete(lock: Lock, rotation_no: int) -> bool:
    """The lock holds the new key of rotation `rotation_no`: the cloud switches too. Idempotent."""
    rotation = _rotation_for(lock.id, rotation_no)
    if rotation is None:
        raise not_found("Key rotation")
    if rotation.status == "completed":
        return False
    if rotation.status != "pending":
        raise ApiError(409, "ROTATION_NOT_PENDING", f"The rotation is {rotation.status}.")
    # Conditional, so a command result and a handshake report racing switch the key once.
    won = db.session.execute(
        update(KeyRotation)
        .where(KeyRotation.id == rotation.id, KeyRotation.status == "pending")
        .values(status="completed", completed_at=now())
        .execution_options(synchronize_session=False)
    ).rowcount
    if not won:
        return False
    lock.device_key_enc = rotation.new_key_enc
    lock.device_key_fingerprint = key_fingerprint(new_key_hex(rotation))
    db.session.refresh(rotation)
    return True


@commands.on_finished(contract.ROTATE_KEY)
def on_command_finished(command: Command, lock: Lock | None, succeeded: bool) -> None:
    if lock is None:
        return
    rotation = _rotation_for(lock.id, int(command.params.get("rotation_id") or 0))
    if rotation is None or rotation.status != "pending":
        return
    if succeeded:
        complete(lock, rotation.rotation_no)
    else:
        # Still pending: the lock holds the old key, or the new one and the next handshake says so.
        rotation.last_error = f"{command.error_code}: {command.error_message or ''}"[:255]


def cancel_for(lock: Lock) -> None:
    """The lock leaves its owner before switching: a new rotation starts from the key it holds."""
    db.session.execute(
        update(KeyRotation)
        .where(KeyRotation.lock_id == lock.id, KeyRotation.status == "pending")
        .values(status="cancelled", completed_at=now())
        .execution_options(synchronize_session=False)
    )


def resume(limit: int = 100) -> int:
    """Pending rotations whose lock has a bridge and no open rotate_key command get one."""
    open_locks = select(Command.lock_id).where(
        Command.type == contract.ROTATE_KEY, Command.status.in_(OPEN_COMMAND_STATUSES))
    rows = db.session.execute(
        select(KeyRotation, Lock)
        .join(Lock, Lock.id == KeyRotation.lock_id)
        .where(KeyRotation.status == "pending", Lock.bridge_id.is_not(None),
               ~KeyRotation.lock_id.in_(open_locks))
        .limit(limit)
    ).all()
    for rotation, lock in rows:
        _send(lock, rotation)
    return len(rows)


def schedule_due(max_age: timedelta, limit: int = 100) -> int:
    """Policy: locks whose key is older than `max_age` (since claim or last rotation) get a rotation."""
    cutoff = now() - max_age
    last = (
        select(KeyRotation.lock_id, func.max(KeyRotation.created_at).label("at"))
        .group_by(KeyRotation.lock_id)
        .subquery()
    )
    due = db.session.scalars(
        select(Lock)
        .outerjoin(last, last.c.lock_id == Lock.id)
        .where(func.coalesce(last.c.at, Lock.created_at) < cutoff, Lock.bridge_id.is_not(None))
        .order_by(Lock.id)
        .limit(limit)
    ).all()
    for lock in due:
        schedule(lock, "policy")
    return len(due)


def history(lock_id: str) -> list[KeyRotation]:
    return list(db.session.scalars(
        select(KeyRotation).where(KeyRotation.lock_id == lock_id).order_by(KeyRotation.rotation_no)))


def bridge_keys(lock: Lock) -> dict[str, object]:
    """What the bridge needs besides the device key: the pending key while a rotation runs."""
    rotation = pending(lock.id)
    if rotation is None:
        return {"pending_device_key": None, "pending_rotation_id": None}
    return {"pending_device_key": new_key_hex(rotation), "pending_rotation_id": rotation.rotation_no}
