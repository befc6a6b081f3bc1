"""Keypad PIN codes: Kwikset rules, slots, encryption at rest, and their commands.

Invalid requests are refused at once with a specific error code, never
accepted as pending. Every accepted change is a command for the lock's bridge
(put_code / delete_code) written with the change; the code stays `pending` /
`removing` until the bridge reports the result.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

import bridge_contract as contract
from provider.clock import now as clock_now
from provider.errors import ApiError, not_found
from provider.extensions import db
from provider.models import AccessCode, Command, Lock
from provider.models.device import LIVE_CODE_STATUSES
from provider.services import commands, crypto, rate_limits
from provider.services.events import record_event
from provider.services.locks import accessible_row, lock_for, lock_rows

CODE_PURPOSE = "access_code.code"
#: Stored in full in the cloud; the lock gets the first contract.NAME_MAX_CHARS characters.
NAME_LENGTH_MAX = 200
_UNSET: Any = object()


def _bad(code: str, message: str) -> ApiError:
    return ApiError(400, code, message)


def validate_pin(pin: str) -> None:
    if not pin.isascii() or not pin.isdigit():
        raise _bad("INVALID_CODE_FORMAT", "The code must contain digits only.")
    if not contract.PIN_MIN_DIGITS <= len(pin) <= contract.PIN_MAX_DIGITS:
        raise _bad(
            "INVALID_CODE_LENGTH",
            f"The code must be {contract.PIN_MIN_DIGITS} to {contract.PIN_MAX_DIGITS} digits long.",
        )


def validate_name(name: str | None) -> None:
    if name is None:
        return
    if len(name.strip()) < contract.NAME_MIN_CHARS or len(name) > NAME_LENGTH_MAX:
        raise _bad(
            "INVALID_NAME_LENGTH",
            f"The name must be {contract.NAME_MIN_CHARS} to {NAME_LENGTH_MAX} characters "
            f"(the lock shows the first {contract.NAME_MAX_CHARS}).",
        )


def validate_window(
    starts_at: datetime | None, ends_at: datetime | None, *, starts_changed: bool, at: datetime
) -> None:
    if (starts_at is None) != (ends_at is None):
        raise _bad("TIME_BOUND_REQUIRES_BOTH", "A time-bound code needs both starts_at and ends_at.")
    if starts_at is None or ends_at is None:
        return
    if starts_changed and starts_at <= at:
        raise _bad("STARTS_AT_IN_PAST", "starts_at must be in the future.")
    if ends_at <= starts_at:
        raise _bad("ENDS_AT_BEFORE_STARTS_AT", "ends_at must be after starts_at.")


def plaintext(code: AccessCode) -> str:
    return crypto.decrypt(code.code_enc, purpose=CODE_PURPOSE)


def device_name(code: AccessCode) -> str:
    return (code.name or f"Code {code.slot}")[:contract.NAME_MAX_CHARS]


def code_type(code: AccessCode) -> str:
    return "time_bound" if code.starts_at is not None else "ongoing"


def _live_codes(lock_id: str) -> list[AccessCode]:
    return list(
        db.session.scalars(
            select(AccessCode).where(
                AccessCode.lock_id == lock_id, AccessCode.status.in_(LIVE_CODE_STATUSES)
            )
        ).all()
    )


def _check_pin_free(live: list[AccessCode], pin: str, exclude_id: str | None = None) -> None:
    for other in live:
        if other.id != exclude_id and plaintext(other) == pin:
            raise ApiError(409, "PIN_CONFLICT", "This code is already in use on this lock.")


def _free_slot(lock: Lock, live: list[AccessCode]) -> int:
    used = {code.slot for code in live}
    for slot in range(1, lock.code_capacity + 1):
        if slot not in used:
            return slot
    raise ApiError(409, "NO_SPACE_ON_DEVICE", "The lock has no room for another code.")


def _send(lock: Lock, code: AccessCode, command_type: str, params: dict[str, Any]) -> None:
    """Queues the code's next change for the lock; it replaces any change still queued."""
    code.revision += 1
    commands.supersede_queued(code.id)
    command = commands.enqueue(
        lock,
        command_type,
        {"access_code_id": code.id, "slot": code.slot, **params},
        idempotency_key=f"code:{code.id}:{code.revision}",
        ttl_seconds=commands.CODE_TTL_SECONDS,
        access_code_id=code.id,
    )
    code.command_id = command.id


def _send_put(lock: Lock, code: AccessCode, op: str) -> None:
    _send(
        lock,
        code,
        "put_code",
        {
            "device_name": device_name(code),
            "starts_at": commands.iso_z(code.starts_at),
            "ends_at": commands.iso_z(code.ends_at),
            "op": op,
        },
    )


def create_code(
    owner_id: str,
    lock_id: str,
    *,
    code: str,
    name: str | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    limiter: rate_limits.RateLimiter,
) -> AccessCode:
    """Accepts a code as pending (also for an offline lock: it is applied when the lock is back)."""
    lock = lock_for(owner_id, lock_id, "manage_codes")
    at = clock_now()
    validate_pin(code)
    validate_name(name)
    validate_window(starts_at, ends_at, starts_changed=True, at=at)
    rate_limits.enforce(limiter, lock.id, "create_code", at)
    lock_rows([lock.id])  # serialises PIN and slot checks per lock
    live = _live_codes(lock.id)
    _check_pin_free(live, code)
    slot = _free_slot(lock, live)
    row = AccessCode(
        lock_id=lock.id,
        owner_id=lock.owner_id,  # the lock's owner, also when an admin of the lock creates it
        name=name,
        code_enc=crypto.encrypt(code, purpose=CODE_PURPOSE),
        slot=slot,
        starts_at=starts_at,
        ends_at=ends_at,
        status="pending",
        revision=0,
        created_at=at,
        updated_at=at,
    )
    db.session.add(row)
    db.session.flush()
    _send_put(lock, row, "create")
    return row


def get_code(owner_id: str, access_code_id: str) -> AccessCode:
    code = accessible_row(AccessCode, access_code_id, owner_id, "manage_codes")
    if code is None:
        raise not_found("Access code")
    return code


def list_codes(owner_id: str, lock_id: str) -> list[AccessCode]:
    """Every code on the lock that is not removed, oldest first (one index range scan)."""
    lock = lock_for(owner_id, lock_id, "manage_codes")
    return list(
        db.session.scalars(
            select(AccessCode)
            .where(AccessCode.lock_id == lock.id, AccessCode.status.in_(("pending", "active", "removing", "failed")))
            .order_by(AccessCode.created_at, AccessCode.id)
        ).all()
    )


def update_code(
    owner_id: str,
    access_code_id: str,
    *,
    limiter: rate_limits.RateLimiter,
    code: str = _UNSET,
    name: str | None = _UNSET,
    starts_at: datetime | None = _UNSET,
    ends_at: datetime | None = _UNSET,
) -> AccessCode:
    row = get_code(owner_id, access_code_id)
    if row.status == "removed":
        raise not_found("Access code")
    if row.status == "removing":
        raise ApiError(409, "CONFLICT", "The code is being removed.")
    at = clock_now()
    new_starts = row.starts_at if starts_at is _UNSET else starts_at
    new_ends = row.ends_at if ends_at is _UNSET else ends_at
    if code is not _UNSET:
        validate_pin(code)
    if name is not _UNSET:
        validate_name(name)
    validate_window(new_starts, new_ends, starts_changed=starts_at is not _UNSET, at=at)
    current_pin = plaintext(row)
    changed = (
        (code is not _UNSET and code != current_pin)
        or (name is not _UNSET and name != row.name)
        or new_starts != row.starts_at
        or new_ends != row.ends_at
    )
    if not changed:
        return row
    lock = db.session.get(Lock, row.lock_id)
    rate_limits.enforce(limiter, lock.id, "update_code", at)
    lock_rows([lock.id])  # serialises PIN and slot checks per lock
    if code is not _UNSET and code != current_pin:
        _check_pin_free(_live_codes(lock.id), code, exclude_id=row.id)
        row.code_enc = crypto.encrypt(code, purpose=CODE_PURPOSE)
    if name is not _UNSET:
        row.name = name
    row.starts_at, row.ends_at = new_starts, new_ends
    if row.status == "failed":
        # A code that never reached the lock needs its slot back (and may have lost it).
        live = _live_codes(lock.id)
        if any(other.slot == row.slot for other in live if other.id != row.id):
            row.slot = _free_slot(lock, live)
    # A code the lock never confirmed is still being created, as far as Seam knows.
    op = "create" if _never_confirmed(row) else "update"
    row.status = "pending"
    row.error_code = None
    row.updated_at = at
    _send_put(lock, row, op)
    return row


def _put_event_type(command: Command | None) -> str:
    """A put_code that created the code reports access_code.created, one that changed it .updated."""
    op = command.params.get("op", "create") if command is not None else "create"
    return "access_code.created" if op == "create" else "access_code.updated"


def _never_confirmed(row: AccessCode) -> bool:
    if row.status not in ("pending", "failed") or row.command_id is None:
        return False
    previous = db.session.get(Command, row.command_id)
    return previous is not None and previous.params.get("op") == "create"


def delete_code(owner_id: str, access_code_id: str, *, limiter: rate_limits.RateLimiter) -> AccessCode:
    row = get_code(owner_id, access_code_id)
    if row.status == "removed":
        raise not_found("Access code")
    if row.status == "removing":
        return row
    lock = db.session.get(Lock, row.lock_id)
    if lock.bridge_id is None:
        raise ApiError(500, "ACCESS_CODE_REMOVAL_FAILED", "The lock is not attached to a bridge.")
    rate_limits.enforce(limiter, lock.id, "delete_code")
    row.status = "removing"
    row.error_code = None
    _send(lock, row, "delete_code", {})
    return row


def _event(event_type: str, lock: Lock, code: AccessCode, status: str, error_code: str | None = None) -> None:
    data: dict[str, Any] = {
        "lock_id": lock.id,
        "access_code_id": code.id,
        "name": code.name,
        "status": status,
    }
    if error_code:
        data["error_code"] = error_code
    record_event(event_type, device=lock, data=data)


def on_command_finished(command: Command, lock: Lock | None, succeeded: bool) -> None:
    code = db.session.get(AccessCode, command.access_code_id) if command.access_code_id else None
    if code is None or lock is None or code.command_id != command.id:
        return  # a newer change superseded this command; its own result decides
    if command.type == "put_code":
        event_type = _put_event_type(command)
        code.status = "active" if succeeded else "failed"
        code.error_code = None if succeeded else command.error_code
    else:
        event_type = "access_code.deleted"
        code.status = "removed" if succeeded else "active"
        code.error_code = None if succeeded else command.error_code
    _event(event_type, lock, code, "success" if succeeded else "failed", code.error_code)


def desired_table(lock: Lock) -> list[dict[str, Any]]:
    """What must be on the lock: every code the cloud holds as pending or active."""
    rows = db.session.scalars(
        select(AccessCode)
        .where(AccessCode.lock_id == lock.id, AccessCode.status.in_(("pending", "active")))
        .order_by(AccessCode.slot)
    ).all()
    return [
        {
            "access_code_id": code.id,
            "slot": code.slot,
            "code": plaintext(code),
            "device_name": device_name(code),
            "starts_at": commands.iso_z(code.starts_at),
            "ends_at": commands.iso_z(code.ends_at),
            "status": code.status,
        }
        for code in rows
    ]


def reconcile(lock: Lock, present: list[str]) -> None:
    """The bridge read the lock's table: codes present are active, codes being removed that are gone are removed."""
    present_ids = set(present)
    rows = db.session.scalars(
        select(AccessCode).where(
            AccessCode.lock_id == lock.id, AccessCode.status.in_(("pending", "removing"))
        )
    ).all()
    for code in rows:
        if code.status == "pending" and code.id in present_ids:
            previous = db.session.get(Command, code.command_id) if code.command_id else None
            if previous is not None:
                commands.cancel_if_queued(previous.id)
            code.status, code.error_code, code.command_id = "active", None, None
            _event(_put_event_type(previous), lock, code, "success")
        elif code.status == "removing" and code.id not in present_ids:
            if code.command_id:
                commands.cancel_if_queued(code.command_id)
            code.status, code.error_code, code.command_id = "removed", None, None
            _event("access_code.deleted", lock, code, "success")


def code_for_slot(lock_id: str, slot: int) -> AccessCode | None:
    return db.session.scalar(
        select(AccessCode).where(
            AccessCode.lock_id == lock_id,
            AccessCode.slot == slot,
            AccessCode.status.in_(LIVE_CODE_STATUSES),
        )
    )
