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
from provider.errors import ApiError, InvalidRequest, not_found
from provider.extensions import db
from provider.models import AccessCode, Command, Lock
from provider.models.base import new_id
from provider.models.device import LIVE_CODE_STATUSES
from provider.services import commands, crypto, offline_codes, rate_limits, weekly_schedules
from provider.services.events import record_event
from provider.services.locks import accessible_row, lock_for, lock_rows

CODE_PURPOSE = "access_code.code"
PIN_LOOKUP_PURPOSE = "access_code.pin_lookup"
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


def shown_status(code: AccessCode) -> str:
    """An offline code is set from the start: nothing of it has to reach the lock."""
    return "set" if code.is_offline and code.status == "active" else code.status


def pin_lookup(lock_id: str, pin: str) -> str:
    return crypto.keyed_digest(f"{lock_id}:{pin}", purpose=PIN_LOOKUP_PURPOSE)


def _live_slots(lock_id: str, pin: str | None, exclude_id: str | None = None) -> set[int]:
    """The slots the lock's live codes hold, refusing `pin` if one of them has it: one index scan.

    Codes stored before the lookup column existed are decrypted once and given
    their lookup, so the check stays exact for them too.
    """
    rows = db.session.execute(
        select(AccessCode.id, AccessCode.slot, AccessCode.pin_lookup).where(
            AccessCode.lock_id == lock_id, AccessCode.status.in_(LIVE_CODE_STATUSES)
        )
    ).all()
    if pin is not None:
        wanted = pin_lookup(lock_id, pin)
        lookups = {row.id: row.pin_lookup for row in rows}
        for legacy in [row.id for row in rows if row.pin_lookup is None]:
            lookups[legacy] = _backfill_lookup(legacy)
        if any(lookup == wanted and code_id != exclude_id for code_id, lookup in lookups.items()):
            raise ApiError(409, "PIN_CONFLICT", "This code is already in use on this lock.")
    return {row.slot for row in rows if row.id != exclude_id}


def _backfill_lookup(access_code_id: str) -> str:
    row = db.session.get(AccessCode, access_code_id)
    assert row is not None
    row.pin_lookup = pin_lookup(row.lock_id, plaintext(row))
    return row.pin_lookup


def _free_slot(lock: Lock, used: set[int]) -> int:
    # Slots the bridge last found holding codes the cloud did not know are not free either.
    found = set(lock.unknown_code_slots or []) - set(lock.removed_code_slots or [])
    for slot in range(1, lock.code_capacity + 1):
        if slot not in used and slot not in found:
            return slot
    raise ApiError(409, "NO_SPACE_ON_DEVICE", "The lock has no room for another code.")


def _owns_slot(code: AccessCode) -> bool:
    """Whether the code's slot is the cloud's on the lock: the lock confirmed it, or a put of it
    went out before. A first put never overwrites what the lock holds there."""
    return code.confirmed_at is not None or code.revision > 1


def _move(lock: Lock, code: AccessCode, occupied: int) -> None:
    """The lock holds a code the cloud did not create in `occupied`: its own goes elsewhere."""
    lock.unknown_code_slots = sorted({*(lock.unknown_code_slots or []), occupied})
    lock.removed_code_slots = [slot for slot in (lock.removed_code_slots or []) if slot != occupied]
    try:
        code.slot = _free_slot(lock, _live_slots(lock.id, None, exclude_id=code.id))
    except ApiError as err:
        code.status, code.error_code = "failed", err.error_code
        _event(_put_event_type(code), lock, code, "failed", code.error_code)
        return
    _send_put(lock, code, replace=False)  # its first put to that slot


def _send(
    lock: Lock,
    code: AccessCode,
    command_type: str,
    params: dict[str, Any],
    sealed: dict[str, tuple[str, str]] | None = None,
) -> None:
    """Queues the code's next change for the lock; it replaces any change still queued."""
    if code.revision:  # a new code has nothing queued yet
        commands.supersede_queued(code.id)
    code.revision += 1
    code.command_id = new_id()
    commands.enqueue(
        lock,
        command_type,
        {"access_code_id": code.id, "slot": code.slot, **params},
        idempotency_key=f"code:{code.id}:{code.revision}",
        ttl_seconds=commands.CODE_TTL_SECONDS,
        sealed=sealed,
        access_code_id=code.id,
        command_id=code.command_id,
    )


def _send_put(lock: Lock, code: AccessCode, *, replace: bool | None = None) -> None:
    if replace is None:  # decided before _send counts this put
        replace = code.confirmed_at is not None or code.revision > 0
    _send(
        lock,
        code,
        contract.PUT_CODE,
        {
            "replace": replace,
            "device_name": device_name(code),
            "starts_at": commands.iso_z(code.starts_at),
            "ends_at": commands.iso_z(code.ends_at),
            **_schedule_param(lock, code),
        },
        sealed={"code": (CODE_PURPOSE, code.code_enc)},  # the PIN stays encrypted in the queue
    )


def _schedule_param(lock: Lock, code: AccessCode) -> dict[str, Any]:
    """A scheduled code's windows and its lock's TZ rule (section 18 of docs/ble-protocol.md)."""
    if not code.weekly_schedule:
        return {}
    return {"schedule": weekly_schedules.to_wire(code.weekly_schedule, lock.timezone)}


def create_code(
    owner_id: str,
    lock_id: str,
    *,
    code: str | None = None,
    name: str | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    limiter: rate_limits.RateLimiter,
    is_offline_access_code: bool = False,
    is_one_time_use: bool = False,
    weekly_schedule: list[dict[str, Any]] | None = None,
) -> AccessCode:
    """Accepts a code as pending (also for an offline lock: it is applied when the lock is back).

    An offline access code (`is_offline_access_code`) is derived, not sent: `code` is not
    taken, the answer is at once and final (offline_codes)."""
    at = clock_now()
    if is_offline_access_code:
        return _create_offline(owner_id, lock_id, name=name, starts_at=starts_at, ends_at=ends_at,
                               one_time=is_one_time_use, weekly_schedule=weekly_schedule, limiter=limiter, at=at)
    if is_one_time_use:
        raise _bad("ONE_TIME_USE_NEEDS_OFFLINE", "is_one_time_use is for offline access codes "
                                                 "(is_offline_access_code: true).")
    if code is None:
        raise InvalidRequest("Missing data for required field (only an offline access code's PIN is "
                             "chosen for you).", field="code")
    validate_pin(code)
    validate_name(name)
    validate_window(starts_at, ends_at, starts_changed=True, at=at)
    schedule = weekly_schedules.normalize(weekly_schedule)
    lock = _writable_lock(owner_id, lock_id)
    rate_limits.enforce(limiter, lock.id, "create_code", at)
    if schedule is not None:
        weekly_schedules.check_timezone(lock.timezone)
    slot = _free_slot(lock, _live_slots(lock.id, code))
    row = _add_row(lock, code, slot, name=name, starts_at=starts_at, ends_at=ends_at, at=at,
                   status="pending", is_managed=True)
    row.weekly_schedule = schedule
    _send_put(lock, row)
    return row


def _writable_lock(owner_id: str, lock_id: str) -> Lock:
    """The owner check and the per-lock write lock in one statement: PIN and slot checks serialise."""
    [lock] = lock_rows([lock_id], owner_id=owner_id) or [None]
    if lock is None:
        # Not its owner: an admin of a lock shared with the account manages its codes too
        # (lock_for answers 404 for a foreign lock, 403 for a role that may not).
        [lock] = lock_rows([lock_for(owner_id, lock_id, "manage_codes").id])
    return lock


def _create_offline(owner_id: str, lock_id: str, *, name: str | None, starts_at: datetime | None,
                    ends_at: datetime | None, one_time: bool, weekly_schedule: list[dict[str, Any]] | None,
                    limiter: rate_limits.RateLimiter, at: datetime) -> AccessCode:
    validate_name(name)
    if weekly_schedule is not None:
        raise _bad("SCHEDULE_NEEDS_ONLINE_CODE", "A weekly schedule is for online codes; an offline code's "
                                                 "window is starts_at to ends_at.")
    lock = _writable_lock(owner_id, lock_id)
    rate_limits.enforce(limiter, lock.id, "create_code", at)
    row, pin, warnings = offline_codes.create(lock, name=name, starts_at=starts_at, ends_at=ends_at,
                                              one_time=one_time, at=at, lookup=pin_lookup)
    row.warnings = warnings  # not stored: the answer to this request reports them
    return row


def _add_row(lock: Lock, pin: str, slot: int, *, name: str | None, starts_at: datetime | None,
             ends_at: datetime | None, at: datetime, status: str, is_managed: bool) -> AccessCode:
    row = AccessCode(
        id=new_id(),
        lock_id=lock.id,
        owner_id=lock.owner_id,  # the lock's owner, also when an admin of the lock creates it
        name=name,
        code_enc=crypto.encrypt(pin, purpose=CODE_PURPOSE),
        pin_lookup=pin_lookup(lock.id, pin),
        slot=slot,
        starts_at=starts_at,
        ends_at=ends_at,
        status=status,
        revision=0,
        is_managed=is_managed,
        confirmed_at=None if is_managed else at,  # an unmanaged code is on the lock when found
        created_at=at,
        updated_at=at,
    )
    db.session.add(row)
    return row


def get_code(owner_id: str, access_code_id: str) -> AccessCode:
    code = accessible_row(AccessCode, access_code_id, owner_id, "manage_codes")
    if code is None:
        raise not_found("Access code")
    return code


def list_codes(owner_id: str, lock_id: str, *, is_managed: bool | None = None) -> list[AccessCode]:
    """Every code on the lock that is not removed, the cloud's and the unmanaged ones found on the
    lock, oldest first (one index range scan); `is_managed` keeps one kind."""
    lock = lock_for(owner_id, lock_id, "manage_codes")
    query = select(AccessCode).where(
        AccessCode.lock_id == lock.id, AccessCode.status.in_(("pending", "active", "removing", "failed"))
    )
    if is_managed is not None:
        query = query.where(AccessCode.is_managed.is_(is_managed))
    return list(db.session.scalars(query.order_by(AccessCode.created_at, AccessCode.id)).all())


def _refuse_unmanaged(row: AccessCode) -> None:
    if not row.is_managed:
        raise ApiError(
            409, "ACCESS_CODE_UNMANAGED",
            "The code was not created through this API: convert it to a managed code first.",
        )


def convert_to_managed(owner_id: str, access_code_id: str) -> AccessCode:
    """An unmanaged code becomes the cloud's: kept on the lock as it is, changeable from now on.

    Nothing is sent to the lock (the code is there); converting a managed code changes nothing."""
    row = get_code(owner_id, access_code_id)
    if row.status in ("removing", "removed"):
        raise not_found("Access code")
    if not row.is_managed:
        row.is_managed = True
        row.updated_at = clock_now()
    return row


def _same_second(a: datetime | None, b: datetime | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.replace(microsecond=0) == b.replace(microsecond=0)


def update_code(
    owner_id: str,
    access_code_id: str,
    *,
    limiter: rate_limits.RateLimiter,
    code: str = _UNSET,
    name: str | None = _UNSET,
    starts_at: datetime | None = _UNSET,
    ends_at: datetime | None = _UNSET,
    weekly_schedule: list[dict[str, Any]] | None = _UNSET,
    is_offline_access_code: bool = _UNSET,
    is_one_time_use: bool = _UNSET,
) -> AccessCode:
    row = get_code(owner_id, access_code_id)
    if row.status == "removed":
        raise not_found("Access code")
    if row.is_offline:
        raise offline_codes.refuse_change()
    if row.status == "removing":
        raise ApiError(409, "CONFLICT", "The code is being removed.")
    _refuse_unmanaged(row)
    if is_offline_access_code is not _UNSET and is_offline_access_code or is_one_time_use is not _UNSET \
            and is_one_time_use:
        raise _bad("OFFLINE_ACCESS_CODE_IMMUTABLE", "An online code cannot become an offline one: "
                                                    "create an offline access code instead.")
    at = clock_now()
    if starts_at is not _UNSET and _same_second(starts_at, row.starts_at):
        starts_at = row.starts_at  # a client that keeps milliseconds only re-sends the stored start
    new_starts = row.starts_at if starts_at is _UNSET else starts_at
    new_ends = row.ends_at if ends_at is _UNSET else ends_at
    if code is not _UNSET:
        validate_pin(code)
    if name is not _UNSET:
        validate_name(name)
    # Re-sending the stored start (Seam's update sends both bounds) is not a new start: a code
    # that has begun can still be extended; only a start that moves must lie ahead.
    validate_window(new_starts, new_ends, starts_changed=new_starts != row.starts_at, at=at)
    new_schedule = row.weekly_schedule if weekly_schedule is _UNSET else weekly_schedules.normalize(weekly_schedule)
    current_pin = plaintext(row)
    changed = (
        (code is not _UNSET and code != current_pin)
        or (name is not _UNSET and name != row.name)
        or new_starts != row.starts_at
        or new_ends != row.ends_at
        or new_schedule != row.weekly_schedule
    )
    if not changed:
        return row
    lock = db.session.get(Lock, row.lock_id)
    rate_limits.enforce(limiter, lock.id, "update_code", at)
    lock_rows([lock.id])  # serialises PIN and slot checks per lock
    new_pin = code if code is not _UNSET and code != current_pin else None
    used = _live_slots(lock.id, new_pin, exclude_id=row.id)
    if new_pin is not None:
        row.code_enc = crypto.encrypt(new_pin, purpose=CODE_PURPOSE)
        row.pin_lookup = pin_lookup(lock.id, new_pin)
    if name is not _UNSET:
        row.name = name
    if new_schedule is not None and new_schedule != row.weekly_schedule:
        weekly_schedules.check_timezone(lock.timezone)
    row.weekly_schedule = new_schedule
    row.starts_at, row.ends_at = new_starts, new_ends
    if row.status == "failed":
        # A code that never reached the lock needs its slot back (and may have lost it).
        if row.slot in used:
            row.slot = _free_slot(lock, used)
    row.status = "pending"
    row.error_code = None
    row.updated_at = at
    _send_put(lock, row)
    return row


def _put_event_type(code: AccessCode) -> str:
    """A code the lock never confirmed is still being created, as far as Seam knows."""
    return "access_code.created" if code.confirmed_at is None else "access_code.updated"


def _confirmed(code: AccessCode) -> None:
    code.status, code.error_code = "active", None
    code.confirmed_at = code.confirmed_at or clock_now()


def delete_code(owner_id: str, access_code_id: str, *, limiter: rate_limits.RateLimiter) -> AccessCode:
    row = get_code(owner_id, access_code_id)
    if row.status == "removed":
        raise not_found("Access code")
    if row.status == "removing":
        return row
    lock = db.session.get(Lock, row.lock_id)
    if row.is_offline:
        # No bridge needed: the revocation waits on the row for whichever bridge reaches the lock.
        rate_limits.enforce(limiter, lock.id, "delete_code")
        row.delete_message = offline_codes.delete(lock, row, clock_now())
        return row
    if lock.bridge_id is None:
        raise ApiError(500, "ACCESS_CODE_REMOVAL_FAILED", "The lock is not attached to a bridge.")
    rate_limits.enforce(limiter, lock.id, "delete_code")
    row.status = "removing"
    row.error_code = None
    # A slot the cloud does not own may have been reprogrammed at the lock since the last sync: the
    # bridge clears it only if it still holds this PIN.
    sealed = None if row.is_managed else {"code": (CODE_PURPOSE, row.code_enc)}
    _send(lock, row, contract.DELETE_CODE, {}, sealed=sealed)
    return row


def _event(
    event_type: str,
    lock: Lock,
    code: AccessCode,
    status: str,
    error_code: str | None = None,
    message: str | None = None,
) -> None:
    """An access_code.* event in every shape Seam's guide shows: the code's fields at the top
    level and the nested `access_code` object. The PIN travels sealed (encrypted at rest
    in the outbox, joined in only when the event is delivered to an entitled client)."""
    window = {"starts_at": commands.iso_z(code.starts_at), "ends_at": commands.iso_z(code.ends_at)}
    data: dict[str, Any] = {
        "lock_id": lock.id,
        "access_code_id": code.id,
        "name": code.name,
        "status": status,
    }
    sealed: dict[str, Any] | None = None
    if event_type != "access_code.deleted":
        pin = plaintext(code)
        data.update(window)
        data["access_code"] = {
            "access_code_id": code.id,
            "lock_id": lock.id,
            "name": code.name,
            **window,
            "status": code.status,
        }
        sealed = {"code": pin, "access_code": {"code": pin}}
    if error_code:
        data["error_code"] = error_code
        data["message"] = message or contract.ERROR_MESSAGES.get(error_code, "The lock refused the code.")
    record_event(event_type, device=lock, data=data, sealed=sealed)


@commands.on_finished(contract.PUT_CODE, contract.DELETE_CODE)
def _command_finished(command: Command, lock: Lock | None, succeeded: bool) -> None:
    code = db.session.get(AccessCode, command.access_code_id) if command.access_code_id else None
    if code is None or lock is None or code.command_id != command.id:
        return  # a newer change superseded this command; its own result decides
    if command.type == contract.PUT_CODE:
        event_type = _put_event_type(code)
        if not succeeded and command.error_code == contract.SLOT_OCCUPIED:
            _move(lock, code, code.slot)
            return
        if succeeded:
            _confirmed(code)
        else:
            code.status, code.error_code = "failed", command.error_code
    else:
        event_type = "access_code.deleted"
        code.status = "removed" if succeeded else "active"
        code.error_code = None if succeeded else command.error_code
    _event(event_type, lock, code, "success" if succeeded else "failed", code.error_code,
           None if succeeded else command.error_message)


def desired_table(lock: Lock) -> list[dict[str, Any]]:
    """What must be on the lock: every code the cloud created and holds as pending or active
    (unmanaged codes are the lock's own business: never put back)."""
    rows = db.session.scalars(
        select(AccessCode)
        .where(
            AccessCode.lock_id == lock.id,
            AccessCode.status.in_(("pending", "active")),
            AccessCode.is_managed.is_(True),
            AccessCode.is_offline.is_(False),  # derived by the lock itself, never put
        )
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
            # False: a new code; the bridge leaves a code it finds in that slot and reports it.
            "replace": _owns_slot(code),
            **_schedule_param(lock, code),
        }
        for code in rows
    ]


def removal_table(lock: Lock) -> list[dict[str, Any]]:
    """The only slots a reconciling bridge may clear: codes the cloud was asked to delete. An
    unmanaged one carries its PIN: the slot is cleared only while it still holds that code."""
    rows = db.session.scalars(
        select(AccessCode)
        .where(AccessCode.lock_id == lock.id, AccessCode.status == "removing", AccessCode.is_offline.is_(False))
        .order_by(AccessCode.slot)
    ).all()
    return [
        {"access_code_id": row.id, "slot": row.slot, **({} if row.is_managed else {"code": plaintext(row)})}
        for row in rows
    ]


def reconcile(
    lock: Lock,
    present: list[str],
    *,
    unknown_slots: list[int],
    removed_slots: list[int],
    unmanaged: list[dict[str, Any]] | None = None,
) -> None:
    """The bridge read the lock's table: codes present are active, codes being removed that are gone
    are removed, and the codes it found that the cloud did not create are the lock's unmanaged codes.

    `unmanaged` is the rest of the table as the lock holds it; a bridge that does not send it
    (older agents) leaves the unmanaged codes as they were."""
    at = clock_now()
    lock.code_sync_at = at
    lock.unknown_code_slots = sorted(set(unknown_slots))
    lock.removed_code_slots = sorted(set(removed_slots))
    present_ids = set(present)
    # What the lock still holds outside the cloud's table: slot -> PIN lookup (None: not reported).
    if unmanaged is None:
        still_there: dict[int, str | None] = {slot: None for slot in set(unknown_slots) - set(removed_slots)}
    else:
        still_there = {int(entry["slot"]): pin_lookup(lock.id, str(entry["code"])) for entry in unmanaged}
    rows = db.session.scalars(
        select(AccessCode).where(
            AccessCode.lock_id == lock.id, AccessCode.status.in_(("pending", "removing")),
            AccessCode.is_offline.is_(False),  # their revocations are reported apart (offline_codes)
        )
    ).all()
    for code in rows:
        if code.status == "pending" and code.id in present_ids:
            if code.command_id:
                commands.cancel_if_queued(code.command_id)
            event_type = _put_event_type(code)
            _confirmed(code)
            code.command_id = None
            _event(event_type, lock, code, "success")
        elif code.status == "removing" and code.id not in present_ids and not _still_holds(code, still_there):
            if code.command_id:
                commands.cancel_if_queued(code.command_id)
            code.status, code.error_code, code.command_id = "removed", None, None
            _event("access_code.deleted", lock, code, "success")
    if unmanaged is not None:
        _record_unmanaged(lock, unmanaged, at)


def _still_holds(code: AccessCode, still_there: dict[int, str | None]) -> bool:
    """Whether the lock still holds `code`: its slot, for the cloud's own; the slot with its PIN
    for an unmanaged one (a slot reprogrammed at the lock holds another code)."""
    if code.slot not in still_there:
        return False
    found = still_there[code.slot]
    return code.is_managed or found is None or found == code.pin_lookup


def _record_unmanaged(lock: Lock, entries: list[dict[str, Any]], at: datetime) -> None:
    """The lock's codes the cloud did not create, each with an id that stays while its slot holds
    the same PIN; one that left the lock (cleared at the keypad) is removed."""
    live = db.session.scalars(
        select(AccessCode).where(AccessCode.lock_id == lock.id, AccessCode.status.in_(LIVE_CODE_STATUSES + ("failed",)))
    ).all()
    by_slot: dict[int, list[AccessCode]] = {}
    for row in live:
        by_slot.setdefault(row.slot, []).append(row)
    seen: set[str] = set()
    for entry in entries:
        slot, pin = int(entry["slot"]), str(entry["code"])
        lookup = pin_lookup(lock.id, pin)
        here = by_slot.get(slot, [])
        same = next((row for row in here if row.pin_lookup == lookup), None)
        if same is not None and same.is_managed:
            if same.status == "failed":
                # Its put was reported failed, yet the lock holds it: the cloud's code after all.
                event_type = _put_event_type(same)
                _confirmed(same)
                same.command_id = None
                _event(event_type, lock, same, "success")
            seen.add(same.id)
            continue
        ours = [row for row in here if row.is_managed and row.status != "failed"]
        if any(_owns_slot(row) for row in ours):
            continue  # the cloud's slot: its own code is put there (a different PIN is overwritten)
        for row in ours:  # a new code of the cloud's met one set at the lock: the lock's stays
            if row.status == "pending":
                _move(lock, row, slot)
        starts, ends = entry.get("starts_at"), entry.get("ends_at")
        name = entry.get("name") or None
        if same is not None:
            seen.add(same.id)
            if (same.name, same.starts_at, same.ends_at) != (name, starts, ends):
                same.name, same.starts_at, same.ends_at, same.updated_at = name, starts, ends, at
            continue
        row = _add_row(lock, pin, slot, name=name, starts_at=starts, ends_at=ends, at=at,
                       status="active", is_managed=False)
        seen.add(row.id)
    for row in live:
        if not row.is_managed and row.status == "active" and row.id not in seen:
            row.status, row.updated_at = "removed", at


def code_for_slot(lock_id: str, slot: int) -> AccessCode | None:
    return db.session.scalar(
        select(AccessCode).where(
            AccessCode.lock_id == lock_id,
            AccessCode.slot == slot,
            AccessCode.status.in_(LIVE_CODE_STATUSES),
        )
    )
