"""Locks: registration by the vendor, lookup scoped to their owner, listing with paging."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, literal, select, update

import bridge_contract as contract
from provider.errors import ApiError, InvalidRequest, not_found
from provider.extensions import db
from provider.models import (
    AccessCode,
    Action,
    Bridge,
    Command,
    FactoryDevice,
    KeyRotation,
    Lock,
    LockEventLog,
    LockShare,
)
from provider.services import crypto, cursors, device_keys, read_cache
from provider.services.events import record_event

DEVICE_KEY_PURPOSE = "lock.device_key"
OFFLINE_SECRET_PURPOSE = "lock.offline_secret"
BLE_ADDRESS = re.compile(r"^[0-9A-F]{2}(:[0-9A-F]{2}){5}$")
DEVICE_KEY_HEX = re.compile(r"^[0-9a-f]{32}$")
MAX_PAGE = 1000
# Rough memory of one dumped lock (a dict of ~25 short values), for the read cache's budget.
LOCK_DOCUMENT_BYTES = 2048



_Owned = TypeVar("_Owned", Lock, AccessCode, Action)

# What each role on a lock allows. The owner may also transfer and unclaim it ("own").
ROLE_PERMISSIONS = {
    "owner": frozenset({"view", "operate", "manage_codes", "share", "own"}),
    "admin": frozenset({"view", "operate", "manage_codes", "share"}),
    "user": frozenset({"view", "operate"}),
}
PERMISSION_WORDS = {
    "view": "see it",
    "operate": "lock or unlock it",
    "manage_codes": "see or change its access codes",
    "share": "share it",
    "own": "transfer or unclaim it",
}


class LockRegistrationError(InvalidRequest):
    """Invalid registration data (CLI and seeding)."""


#: A model code's name for people (Seam's model display name); an unknown code shows as itself.
MODEL_DISPLAY_NAMES = {"HALO-01": "Halo Touch"}


def model_display_name(model: str) -> str:
    return MODEL_DISPLAY_NAMES.get(model, model)


def door_open(door_state: str | None) -> bool | None:
    """Seam's `door_open`: an ajar door is not closed; None without a door sensor reading."""
    return None if door_state is None else door_state != "closed"


def generate_device_key() -> str:
    while True:  # a CSPRNG key is refused as weak with probability about 1e-8
        key = secrets.token_hex(16)
        if device_keys.weakness(bytes.fromhex(key)) is None:
            return key


def check_device_key(key_hex: str, *, exclude_lock_id: str | None = None) -> str:
    """The key, lower-case, if it may be given to a new lock; LockRegistrationError otherwise (also
    for a key another lock already has: a key identifies one lock)."""
    key = key_hex.strip().lower()
    if not DEVICE_KEY_HEX.match(key):
        raise LockRegistrationError("the device key must be 32 hex characters (128 bits)")
    reason = device_keys.weakness(bytes.fromhex(key))
    if reason:
        raise LockRegistrationError(f"the device key is not random ({reason}); use --device-key generate")
    query = select(Lock.id).where(Lock.device_key_fingerprint == key_fingerprint(key))
    if exclude_lock_id is not None:
        query = query.where(Lock.id != exclude_lock_id)
    if db.session.scalar(query.limit(1)) is not None:
        raise LockRegistrationError("this device key is already used by another lock")
    return key


def key_fingerprint(key_hex: str) -> str:
    return crypto.fingerprint(key_hex.lower(), purpose=DEVICE_KEY_PURPOSE)


def device_key(lock: Lock) -> str:
    return crypto.decrypt(lock.device_key_enc, purpose=DEVICE_KEY_PURPOSE)


def add_lock(
    *,
    owner_id: str,
    bridge: Bridge,
    name: str,
    ble_address: str,
    device_key_hex: str | None = None,
    model: str = "HALO-01",
    timezone: str = "UTC",
    code_capacity: int = 30,
    **state: object,
) -> Lock:
    """Registers a lock behind one of the owner's bridges; writes device.added."""
    if bridge.owner_id != owner_id:
        raise LockRegistrationError("the bridge belongs to another owner")
    ble_address = ble_address.upper()
    if not BLE_ADDRESS.match(ble_address):
        raise LockRegistrationError(f"not a BLE address: {ble_address!r}")
    key = check_device_key(device_key_hex or generate_device_key())
    validate_lock_fields(name=name, timezone=timezone)
    check_address_free(ble_address)
    taken = db.session.scalar(
        select(Lock.id).where(Lock.bridge_id == bridge.id, Lock.ble_address == ble_address)
    )
    if taken is not None:
        raise LockRegistrationError(f"the bridge already serves a lock at {ble_address} ({taken})")
    lock = Lock(
        owner_id=owner_id,
        bridge_id=bridge.id,
        name=name.strip(),
        ble_address=ble_address,
        device_key_enc=crypto.encrypt(key, purpose=DEVICE_KEY_PURPOSE),
        device_key_fingerprint=key_fingerprint(key),
        model=model,
        timezone=timezone,
        code_capacity=code_capacity,
        event_seq=0,
        **state,
    )
    from provider.services import offline_codes  # it builds on this module

    offline_codes.new_secret(lock)  # installed by the bridge at its first connection
    db.session.add(lock)
    db.session.flush()
    record_event("device.added", device=lock, data={"lock_id": lock.id, "device_type": "smart_lock"})
    return lock


def check_address_free(ble_address: str) -> None:
    """Two locks with one radio address would be two bridges' worth of one lock: refused."""
    taken = db.session.scalar(select(Lock.id).where(Lock.ble_address == ble_address).limit(1))
    if taken is None:
        taken = db.session.scalar(
            select(FactoryDevice.serial).where(FactoryDevice.ble_address == ble_address).limit(1)
        )
    if taken is not None:
        raise LockRegistrationError(f"BLE address {ble_address} is already registered")


def validate_lock_fields(*, name: str, timezone: str) -> None:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError) as err:
        raise LockRegistrationError(f"unknown IANA timezone: {timezone!r}") from err
    if not name.strip() or len(name.strip()) > 100:
        raise LockRegistrationError("a lock needs a name of 1 to 100 characters")


def owned_row(model: type[_Owned], row_id: str, owner_id: str) -> _Owned | None:
    """The row with this id if `owner_id` owns it: another owner's row is as good as missing."""
    row = db.session.get(model, row_id) if len(row_id) <= contract.ID_MAX_CHARS else None
    return row if row is not None and row.owner_id == owner_id else None


def accessible_row(model: type[_Owned], row_id: str, account_id: str, permission: str) -> _Owned | None:
    """A lock's code or action if the account's role on its lock grants `permission`, else None.

    Raises the 403 of lock_for when the account may see the lock but not do this.
    """
    row = db.session.get(model, row_id) if len(row_id) <= 36 else None
    if row is None:
        return None
    try:
        lock_for(account_id, row.lock_id, permission)  # type: ignore[union-attr]
    except ApiError as err:
        if err.status == 404:
            return None
        raise
    return row


def role_of(account_id: str, lock: Lock) -> str | None:
    """"owner", the role of a share ("admin", "user"), or None: the account cannot use the lock."""
    if lock.owner_id == account_id:
        return "owner"
    return db.session.scalar(
        select(LockShare.role).where(LockShare.lock_id == lock.id, LockShare.account_id == account_id)
    )


def lock_for(account_id: str, lock_id: str, permission: str) -> Lock:
    """The one access check: the lock if the account's role on it grants `permission`.

    A lock the account has no role on is a 404, as if missing; a lock it may
    see but not do this with is a 403 naming the role.
    """
    lock = db.session.get(Lock, lock_id) if len(lock_id) <= 36 else None
    role = role_of(account_id, lock) if lock is not None else None
    if lock is None or role is None:
        raise not_found("Lock")
    if permission not in ROLE_PERMISSIONS[role]:
        article = "An" if role in ("admin", "owner") else "A"
        raise ApiError(403, "FORBIDDEN_FOR_ROLE",
                       f"{article} {role} of this lock may not {PERMISSION_WORDS[permission]}.")
    lock.role = role
    return lock


def allows(lock: Lock, permission: str) -> bool:
    """Whether the role lock_for (or list_locks) found for the account grants `permission`."""
    return permission in ROLE_PERMISSIONS[getattr(lock, "role", None) or "user"]


def get_owned_lock(owner_id: str, lock_id: str) -> Lock:
    """The owner's lock; any other lock is indistinguishable from a missing one."""
    return lock_for(owner_id, lock_id, "own")


def lock_rows(lock_ids: list[str], **criteria: object) -> list[Lock]:
    """Loads locks under a write lock, fresh: read-check-write on them cannot race another request.

    PostgreSQL: SELECT ... FOR UPDATE in id order (no deadlock between two such calls).
    SQLite: a no-op UPDATE first takes the database write lock, then the rows are re-read.
    """
    if not lock_ids:
        return []
    where = [Lock.id.in_(lock_ids), *(getattr(Lock, name) == value for name, value in criteria.items())]
    query = select(Lock).where(*where).order_by(Lock.id).execution_options(populate_existing=True)
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    else:
        db.session.execute(
            update(Lock).where(*where).values(event_seq=Lock.event_seq)
            .execution_options(synchronize_session=False, **{read_cache.NEUTRAL: True})
        )
    return list(db.session.scalars(query).all())


def _decode_cursor(cursor: str) -> str:
    lock_id = cursors.decode(cursor)
    if lock_id is None:
        raise ApiError(400, "INVALID_REQUEST", "Invalid cursor.")
    return lock_id


def list_locks(
    owner_id: str, *, limit: int | None = None, cursor: str | None = None
) -> tuple[list[Lock], str | None]:
    """Every lock the account can use (owned and shared with it, each with `.role`), ordered by id;
    with `limit`, one page and the cursor of the next.

    Two index range scans (owned by id; shared with it by lock id) merged here,
    rather than one OR that neither index can serve.
    """
    after = _decode_cursor(cursor) if cursor else None
    owned = select(Lock).where(Lock.owner_id == owner_id).order_by(Lock.id)
    shared = (
        select(Lock, LockShare.role)
        .join(LockShare, LockShare.lock_id == Lock.id)
        .where(LockShare.account_id == owner_id)
        .order_by(LockShare.lock_id)
    )
    if after is not None:
        owned = owned.where(Lock.id > after)
        shared = shared.where(LockShare.lock_id > after)
    if limit is not None:
        owned, shared = owned.limit(limit + 1), shared.limit(limit + 1)
    rows = list(db.session.scalars(owned).all())
    for lock in rows:
        lock.role = "owner"
    for lock, role in db.session.execute(shared).all():
        lock.role = role
        rows.append(lock)
    rows.sort(key=lambda lock: lock.id)
    if limit is not None and len(rows) > limit:
        return rows[:limit], cursors.encode(rows[limit - 1].id)
    return rows, None


def lock_documents(owner_id: str, dump: Callable[[Any], dict[str, Any]]) -> list[dict[str, Any]]:
    """Every lock of the owner as `dump` renders it: Seam's most frequent read.

    From this worker's cache while it is provably fresh (services/read_cache);
    otherwise one Core select of the lock columns, no ORM identity map. The
    returned list is shared with the cache: read it, never change it.
    """
    cache = read_cache.for_session(db.session())
    key = ("locks", owner_id)
    if cache is not None:
        cached = cache.get(key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
    ticket = cache.ticket() if cache is not None else None
    table = Lock.__table__
    owned = select(table, literal("owner").label("role")).where(table.c.owner_id == owner_id)
    # The locks shared with the account, with its role on each (a second index range scan).
    shared = (
        select(table, LockShare.role.label("role"))
        .join(LockShare, LockShare.lock_id == table.c.id)
        .where(LockShare.account_id == owner_id)
    )
    rows = sorted((*db.session.execute(owned).all(), *db.session.execute(shared).all()), key=lambda r: r.id)
    documents = [dump(row) for row in rows]
    if cache is not None:
        channels = [read_cache.account_channel(owner_id), *(read_cache.lock_channel(r.id) for r in rows)]
        cache.put(key, documents, ticket, channels, weight=LOCK_DOCUMENT_BYTES * (len(documents) + 1))
    return documents


def locks_of_bridge(bridge_id: str) -> list[Lock]:
    return list(
        db.session.scalars(select(Lock).where(Lock.bridge_id == bridge_id).order_by(Lock.id)).all()
    )


def served_lock(bridge_id: str, lock_id: str) -> Lock:
    """One lock the bridge serves; any other lock is a 404 to that bridge."""
    lock = db.session.get(Lock, lock_id) if len(lock_id) <= contract.ID_MAX_CHARS else None
    if lock is None or lock.bridge_id != bridge_id:
        raise not_found("Lock served by this bridge")
    return lock


def bridge_can_reach(lock: Lock, bridge: Bridge | None) -> bool:
    return bool(lock.online and bridge is not None and bridge.online)


def unshare_all(lock: Lock) -> None:
    """Every account the lock was shared with loses it (device.removed to that account's clients)."""
    shares = list(db.session.scalars(select(LockShare).where(LockShare.lock_id == lock.id)))
    for share in shares:
        record_event("device.removed", device=lock, user_id=share.account_id, data={"lock_id": lock.id})
    db.session.execute(delete(LockShare).where(LockShare.lock_id == lock.id))


def remove_lock(lock: Lock) -> None:
    """Unregisters a lock: device.removed, then the lock and everything that hangs off it.

    Its outbox events stay (they have no foreign key), so Seam still hears about the removal.
    """
    unshare_all(lock)
    record_event("device.removed", device=lock, data={"lock_id": lock.id})
    for model in (Command, AccessCode, Action, LockEventLog, KeyRotation):
        db.session.execute(delete(model).where(model.lock_id == lock.id))
    db.session.delete(lock)
