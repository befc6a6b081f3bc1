"""Offline access codes: PINs derived from a secret the lock shares, for locks no bridge reaches.

The scheme is docs/ble-protocol.md section 17 (firmware_bridge.protocol.offline,
the one implementation). A code is answered at once as set: its PIN is derived,
nothing has to reach the lock. What does have to reach it travels with the
bridge's reconciliation of the lock (at every reconnection and periodically):
the secret the cloud issues under (`offline_payload`), and the revocations of
deleted codes, queued durably on the code rows (status `removing`) whether or
not the lock has a bridge today. The lock's reports come back the same way
(`apply_sync`) and as lock events (`code_used`, `access_denied`).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

import bridge_contract as contract
from firmware_bridge.protocol import const as wire
from firmware_bridge.protocol.errors import LocalProtocolError
from firmware_bridge.protocol.offline import OfflineCode, Window, issue, round_window
from provider.clock import isoformat_z
from provider.clock import now as clock_now
from provider.errors import ApiError
from provider.extensions import db
from provider.models import AccessCode, Lock
from provider.models.base import new_id
from provider.services import crypto
from provider.services.events import record_event
from provider.services.locks import OFFLINE_SECRET_PURPOSE

#: Offline-state values of a lock.
PENDING, INSTALLED, UNSUPPORTED = "pending", "installed", "unsupported"
KINDS = dict(zip(contract.OFFLINE_KINDS, (wire.OfflineKind.ONE_TIME, wire.OfflineKind.HOURLY,
                                          wire.OfflineKind.DAILY), strict=True))
KIND_NAMES = {kind: name for name, kind in KINDS.items()}


def _bad(status: int, code: str, message: str) -> ApiError:
    return ApiError(status, code, message)


# --------------------------------------------------------------------------
# The secret
# --------------------------------------------------------------------------
def new_secret(lock: Lock) -> None:
    """A fresh secret for the lock, pending until the lock confirms it (at the claim, after a
    change of owner, for a lock registered before offline codes): its codes of earlier
    secrets stop opening it then."""
    lock.offline_secret_enc = crypto.encrypt(secrets.token_hex(wire.OFFLINE_SECRET_SIZE),
                                             purpose=OFFLINE_SECRET_PURPOSE)
    # Seconds since the epoch: a new generation is always above the lock's (and fits a u32).
    lock.offline_generation = max(int(clock_now().timestamp()), (lock.offline_generation or 0) + 1)
    lock.offline_state = PENDING


def _secret(lock: Lock) -> bytes:
    assert lock.offline_secret_enc is not None
    return bytes.fromhex(crypto.decrypt(lock.offline_secret_enc, purpose=OFFLINE_SECRET_PURPOSE))


def can_program(lock: Lock) -> bool:
    return lock.offline_state == INSTALLED


def constraints() -> dict[str, Any]:
    """What Seam shows about offline codes on a lock that can take them (section 17.1)."""
    return {
        "code_length": wire.OFFLINE_PIN_DIGITS,
        "time_granularity_seconds": 3600,
        "hourly_max_hours": wire.OFFLINE_HOURLY_MAX_HOURS,
        "daily_max_days": wire.OFFLINE_DAILY_MAX_DAYS,
        "one_time_use_hours": wire.OFFLINE_ONE_TIME_HOURS,
        "first_use_within_hours": wire.OFFLINE_ACTIVATION_HOURS,
        "codes_per_window": wire.OFFLINE_CODES_PER_WINDOW,
        "clock_tolerance_seconds": wire.OFFLINE_CLOCK_TOLERANCE,
        "revocation_needs_connection": True,
    }


# --------------------------------------------------------------------------
# Creating, refusing changes, deleting
# --------------------------------------------------------------------------
def _as_utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _hour(hour: int) -> datetime:
    return datetime.fromtimestamp(hour * 3600, UTC)


def create(lock: Lock, *, name: str | None, starts_at: datetime | None, ends_at: datetime | None,
           one_time: bool, at: datetime, lookup: Callable[[str, str], str]) -> tuple[AccessCode, str, list[dict[str, Any]]]:
    """Issues an offline code on `lock` (already locked for writing by the caller).

    Returns the row (status active: nothing to wait for), its PIN and the warnings for the
    answer (how the window was rounded, the first-use rule of long codes).
    """
    if lock.offline_state != INSTALLED:
        why = ("its firmware does not support them" if lock.offline_state == UNSUPPORTED
               else "it has not confirmed its offline-code secret yet (it will at its next connection)")
        raise _bad(409, "OFFLINE_ACCESS_CODES_NOT_SUPPORTED", f"The lock cannot take offline access codes: {why}.")
    if starts_at is None or (ends_at is None and not one_time):
        raise _bad(400, "TIME_BOUND_REQUIRES_BOTH", "An offline access code needs starts_at and ends_at "
                                                    "(a one-time code needs starts_at).")
    starts, ends = _as_utc(starts_at), _as_utc(ends_at) if ends_at is not None else None
    if int(starts.timestamp()) // 3600 < int(at.timestamp()) // 3600:
        raise _bad(400, "STARTS_AT_IN_PAST", "starts_at must not lie before the current hour.")
    try:
        window = round_window(int(starts.timestamp()), int(ends.timestamp()) if ends else None, one_time=one_time)
    except LocalProtocolError as err:
        error = "ENDS_AT_BEFORE_STARTS_AT" if ends is not None and ends <= starts else "OFFLINE_WINDOW_TOO_LONG"
        raise _bad(400, error, f"{err}.") from err
    code, pin = _issue(lock, window)
    row = AccessCode(
        id=new_id(), lock_id=lock.id, owner_id=lock.owner_id, name=name,
        code_enc=crypto.encrypt(pin, purpose=_code_purpose()), pin_lookup=lookup(lock.id, pin),
        slot=0, starts_at=_hour(code.start_hour), ends_at=_hour(code.end_hour), status="active",
        revision=0, is_managed=True, confirmed_at=at, created_at=at, updated_at=at,
        is_offline=True, offline_kind=KIND_NAMES[code.kind], offline_start_hour=code.start_hour,
        offline_end_hour=code.end_hour, offline_counter=code.counter, offline_generation=lock.offline_generation,
    )
    db.session.add(row)
    db.session.flush()
    _code_event("access_code.created", lock, row)
    return row, pin, _warnings(code, starts, ends)


def _code_purpose() -> str:
    from provider.services.access_codes import CODE_PURPOSE  # the one purpose of stored PINs

    return CODE_PURPOSE


def _code_event(event_type: str, lock: Lock, row: AccessCode) -> None:
    """The access_code.* event in the one shape every code's events have (access_codes)."""
    from provider.services.access_codes import _event  # it builds on this module

    _event(event_type, lock, row, "success")


def _issue(lock: Lock, window: Window) -> tuple[OfflineCode, str]:
    """The window's lowest free counter under the lock's secret. Codes deleted since count as
    taken: the lock may hold their revocation, so their PIN must never be handed out again."""
    taken = db.session.scalars(
        select(AccessCode.offline_counter).where(
            AccessCode.lock_id == lock.id, AccessCode.is_offline.is_(True),
            AccessCode.offline_generation == lock.offline_generation,
            AccessCode.offline_kind == KIND_NAMES[window.kind],
            AccessCode.offline_start_hour == window.start_hour, AccessCode.offline_end_hour == window.end_hour,
        )
    ).all()
    try:
        return issue(_secret(lock), window, [c for c in taken if c is not None])
    except LocalProtocolError as err:
        raise _bad(409, "OFFLINE_WINDOW_FULL",
                   f"{err}: choose another start hour for this code.") from err


def _warnings(code: OfflineCode, starts: datetime, ends: datetime | None) -> list[dict[str, Any]]:
    warnings: list[dict[str, Any]] = []
    if _hour(code.start_hour) != starts or (ends is not None and _hour(code.end_hour) != ends) \
            or (ends is not None and code.kind is wire.OfflineKind.ONE_TIME):
        warnings.append({
            "warning_code": "offline_access_code_window_rounded",
            "message": ("The lock checks offline codes by whole UTC hours: the window was rounded to "
                        f"{isoformat_z(_hour(code.start_hour))} - {isoformat_z(_hour(code.end_hour))}."),
            "requested_starts_at": isoformat_z(starts),
            "requested_ends_at": isoformat_z(ends) if ends is not None else None,
        })
    if code.remembered and code.kind is not wire.OfflineKind.ONE_TIME:
        warnings.append({
            "warning_code": "offline_access_code_first_use_deadline",
            "message": "The code must be used for the first time before first_use_deadline, "
                       "or the lock never accepts it.",
        })
    return warnings


def first_use_deadline(row: AccessCode) -> datetime | None:
    if not row.is_offline or row.offline_start_hour is None or row.offline_end_hour is None:
        return None
    hours = min(row.offline_end_hour - row.offline_start_hour, wire.OFFLINE_ACTIVATION_HOURS)
    return _hour(row.offline_start_hour + hours)


def refuse_change() -> ApiError:
    return _bad(409, "OFFLINE_ACCESS_CODE_IMMUTABLE",
                "An offline access code cannot be changed: its PIN is derived from its window. "
                "Delete it and create another.")


def delete(lock: Lock, row: AccessCode, at: datetime) -> str:
    """Queues the code's revocation for the lock's next connection; returns what to tell the caller.

    A code already over is removed at once (nothing to revoke); a code of an older secret too
    (the lock no longer accepts it)."""
    over = row.ends_at is not None and row.ends_at + timedelta(seconds=wire.OFFLINE_CLOCK_TOLERANCE) <= at
    if over or row.offline_generation != lock.offline_generation:
        _removed(lock, row, at)
        return "The offline access code no longer opens the lock; it is removed."
    row.status, row.updated_at = "removing", at
    return ("An offline access code cannot be withdrawn from a lock no bridge reaches: it keeps opening the "
            "lock until the lock receives its revocation, queued for the lock's next connection.")


def _removed(lock: Lock, row: AccessCode, at: datetime) -> None:
    row.status, row.error_code, row.updated_at = "removed", None, at
    _code_event("access_code.deleted", lock, row)


# --------------------------------------------------------------------------
# What the bridge delivers, and what it reports
# --------------------------------------------------------------------------
def offline_payload(lock: Lock) -> dict[str, Any]:
    """The `offline` and `offline_revocations` of the bridge's desired table."""
    if lock.offline_secret_enc is None:
        new_secret(lock)  # a lock registered before offline codes existed
    if lock.offline_state == UNSUPPORTED:
        return {"offline": None, "offline_revocations": []}
    rows = db.session.scalars(
        select(AccessCode).where(AccessCode.lock_id == lock.id, AccessCode.is_offline.is_(True),
                                 AccessCode.status == "removing")
        .order_by(AccessCode.offline_start_hour, AccessCode.id)
    ).all()
    return {
        "offline": {"generation": lock.offline_generation, "secret": _secret(lock).hex()},
        "offline_revocations": [
            {"access_code_id": row.id, "kind": row.offline_kind, "start_hour": row.offline_start_hour,
             "end_hour": row.offline_end_hour, "counter": row.offline_counter,
             "generation": row.offline_generation}
            for row in rows
        ],
    }


def apply_sync(lock: Lock, offline: dict[str, Any] | None, revoked: list[str]) -> None:
    """The bridge's report: the secret generation the lock holds (or that it has no offline
    codes), and the revocations it delivered."""
    at = clock_now()
    if offline is not None:
        if offline.get("unsupported"):
            lock.offline_state = UNSUPPORTED
        elif offline.get("generation") == lock.offline_generation and lock.offline_state != INSTALLED:
            lock.offline_state = INSTALLED
            _retire_older_generations(lock, at)
    if not revoked:
        return
    rows = db.session.scalars(
        select(AccessCode).where(AccessCode.lock_id == lock.id, AccessCode.is_offline.is_(True),
                                 AccessCode.status == "removing", AccessCode.id.in_(revoked))
    ).all()
    for row in rows:
        _removed(lock, row, at)


def _retire_older_generations(lock: Lock, at: datetime) -> None:
    """The lock took a new secret: the codes of the old one stopped opening it."""
    rows = db.session.scalars(
        select(AccessCode).where(AccessCode.lock_id == lock.id, AccessCode.is_offline.is_(True),
                                 AccessCode.status.in_(("active", "removing")),
                                 AccessCode.offline_generation != lock.offline_generation)
    ).all()
    for row in rows:
        _removed(lock, row, at)


def find(lock: Lock, data: dict[str, Any]) -> AccessCode | None:
    """The offline code a lock event names (generation, kind, start, end, counter)."""
    try:
        generation, kind = int(data["generation"]), str(data["kind"])
        start, end, counter = int(data["start_hour"]), int(data["end_hour"]), int(data["counter"])
    except (KeyError, TypeError, ValueError):
        return None
    return db.session.scalar(
        select(AccessCode).where(
            AccessCode.lock_id == lock.id, AccessCode.is_offline.is_(True),
            AccessCode.offline_start_hour == start, AccessCode.offline_end_hour == end,
            AccessCode.offline_kind == kind, AccessCode.offline_counter == counter,
            AccessCode.offline_generation == generation,
        )
    )


def code_used(lock: Lock, data: dict[str, Any], at: datetime) -> None:
    """An offline code opened the lock at `at` (the lock's clock): access_code.used, whenever reported."""
    row = find(lock, data)
    if row is None:
        return  # a code of a secret this cloud never issued under (another owner's): nothing to name
    row.used_at = at
    record_event("access_code.used", device=lock, occurred_at=at,
                 data={"lock_id": lock.id, "access_code_id": row.id, "name": row.name,
                       "access_code_is_managed": True})
