"""Locks: discovery and the device model (contract §2), legacy and current shapes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import available_timezones

from certify.checks.common import expect_object, expect_status, fail, is_number, parse_time, unwrap
from certify.context import Context
from certify.http import bearer
from certify.registry import CURRENT, LEGACY, CheckFailed, CheckWarning, check

DEVICE_TYPES = frozenset({"smart_lock", "hub", "bridge"})
LOCK_STATES = frozenset({"locked", "unlocked", "unknown"})
DOOR_STATES = frozenset({"open", "closed", "ajar"})
# Beyond this, device_time is reported as drifting (a note, not a failure: Seam detects drift).
DRIFT_NOTE_SECONDS = 300


def lock_key(lock: dict[str, Any]) -> str | None:
    value = lock.get("device_id") or lock.get("lock_id")
    return value if isinstance(value, str) and value else None


def api_get(ctx: Context, path: str) -> Any:
    return ctx.http.get(path, headers=bearer(ctx.api_token()))


@check("locks.list")
def list_locks(ctx: Context) -> str | None:
    """GET /locks answers {"locks": [...]} with the owner's locks; the lock under test is among them."""
    response = api_get(ctx, "/locks")
    expect_status(response, {200}, "GET /locks")
    locks = expect_object(response, "GET /locks").get("locks")
    if not isinstance(locks, list) or not all(isinstance(lock, dict) for lock in locks):
        raise fail('GET /locks: "locks" is not a list of objects', response)
    if not locks:
        raise fail("GET /locks is empty: certification needs an account with at least one lock", response)
    keys = [lock_key(lock) for lock in locks]
    if None in keys:
        raise fail("a lock in GET /locks has neither device_id nor lock_id", response)
    wanted = ctx.settings.lock_id
    if wanted:
        chosen = next((lock for lock in locks if wanted in (lock.get("device_id"), lock.get("lock_id"))), None)
        if chosen is None:
            raise fail(f"the lock given with --lock-id ({wanted}) is not in GET /locks", response)
    else:
        chosen = locks[0]
    ctx.values["locks"] = locks
    ctx.values["lock"] = chosen
    ctx.values["lock_id"] = lock_key(chosen)
    ctx.values["original_lock_state"] = chosen.get("lock_state")
    how = "given with --lock-id" if wanted else "the first one; pass --lock-id to choose"
    return f"{len(locks)} lock(s); testing {ctx.values['lock_id']} ({how})"


@check("locks.get")
def get_lock(ctx: Context) -> str | None:
    """GET /locks/<id> answers the same lock."""
    lock_id = ctx.lock_id()
    response = api_get(ctx, f"/locks/{lock_id}")
    expect_status(response, {200}, f"GET /locks/{lock_id}")
    lock = unwrap(expect_object(response, "GET /locks/<id>"), "lock")
    if lock_key(lock) != lock_id:
        raise fail(f"GET /locks/{lock_id} answered a lock with id {lock_key(lock)!r}", response)
    ctx.values["lock_detail"] = lock
    return None


def _every_lock(ctx: Context) -> list[tuple[str, dict[str, Any]]]:
    locks = ctx.need("locks")
    pairs = [(f"GET /locks[{i}]", lock) for i, lock in enumerate(locks)]
    if "lock_detail" in ctx.values:
        pairs.append(("GET /locks/<id>", ctx.values["lock_detail"]))
    return pairs


def _raise_problems(problems: list[str], pairs: list[tuple[str, dict[str, Any]]]) -> str:
    if problems:
        shown = "; ".join(problems[:8]) + (f"; and {len(problems) - 8} more" if len(problems) > 8 else "")
        raise CheckFailed(shown, [{"where": where, "lock": lock} for where, lock in pairs[:3]])
    return f"{len(pairs)} lock object(s) checked"


@check("locks.legacy_shape", profiles=(LEGACY,))
def legacy_shape(ctx: Context) -> str | None:
    """Older guide's lock object: lock_id (string); name, model, address optional."""
    problems = []
    pairs = _every_lock(ctx)
    for where, lock in pairs:
        if not isinstance(lock.get("lock_id"), str) or not lock.get("lock_id"):
            problems.append(f"{where}: lock_id missing")
        for name in ("name", "model"):
            if name in lock and not isinstance(lock[name], str | None):
                problems.append(f"{where}: {name} is {type(lock[name]).__name__}, expected a string")
        if "address" in lock and not isinstance(lock["address"], str | dict | None):
            problems.append(f"{where}: address is {type(lock['address']).__name__}")
    return _raise_problems(problems, pairs)


def device_problems(lock: dict[str, Any], now: datetime, zones: set[str]) -> tuple[list[str], list[str]]:
    """(problems, notes) for one current-guide device object."""
    problems: list[str] = []
    notes: list[str] = []

    def bad(field: str, expected: str) -> None:
        shown = repr(lock[field]) if field in lock else "missing"
        problems.append(f"{field} is {shown}, expected {expected}")

    if not isinstance(lock.get("device_id"), str) or not lock.get("device_id"):
        bad("device_id", "a stable string id")
    if lock.get("device_type") not in DEVICE_TYPES:
        bad("device_type", "smart_lock, hub or bridge")
    if not isinstance(lock.get("device_model"), str) or not lock.get("device_model"):
        bad("device_model", "a string")
    if not isinstance(lock.get("online"), bool):
        bad("online", "true or false")
    battery = lock.get("battery_level", "missing")
    if battery is not None and not (is_number(battery) and 0 <= battery <= 100):
        bad("battery_level", "a number from 0 to 100")
    signal = lock.get("signal_quality")
    if signal is not None and not (is_number(signal) or isinstance(signal, str)):
        bad("signal_quality", "a number or a level (optional)")
    location = lock.get("location", "missing")
    if location is not None and not (
        isinstance(location, dict) and is_number(location.get("latitude")) and is_number(location.get("longitude"))
    ):
        bad("location", "{latitude, longitude} (or null)")
    if lock.get("timezone") not in zones:
        bad("timezone", "an IANA time zone name")
    if "bridge_id" not in lock or not isinstance(lock["bridge_id"], str | None):
        bad("bridge_id", "the parent bridge's id (or null)")
    if lock.get("lock_state") not in LOCK_STATES:
        bad("lock_state", "locked, unlocked or unknown")
    if lock.get("door_state") is not None and lock.get("door_state") not in DOOR_STATES:
        bad("door_state", "open, closed or ajar (or absent where unsupported)")
    if "device_time" not in lock:
        bad("device_time", "an ISO 8601 time (or null)")
    elif lock["device_time"] is not None:
        device_time = parse_time(lock["device_time"])
        if device_time is None:
            bad("device_time", "an ISO 8601 time with a zone")
        elif abs((device_time - now).total_seconds()) > DRIFT_NOTE_SECONDS:
            notes.append(f"device_time is {abs((device_time - now).total_seconds()):.0f} s off this machine's clock")
    if parse_time(lock.get("updated_at")) is None:
        bad("updated_at", "an ISO 8601 time with a zone")
    return problems, notes


@check("locks.device_fields", profiles=(CURRENT,))
def device_fields(ctx: Context) -> str | None:
    """Current guide's device object: ids, type, model, online, battery 0-100, location, timezone, states, times."""
    zones = available_timezones()
    now = datetime.now(UTC)
    problems, notes = [], []
    pairs = _every_lock(ctx)
    for where, lock in pairs:
        found, noted = device_problems(lock, now, zones)
        problems.extend(f"{where}: {p}" for p in found)
        notes.extend(f"{where}: {n}" for n in noted)
    summary = _raise_problems(problems, pairs)
    return "; ".join([summary, *notes[:2]])


def seam_reference_problems(lock: dict[str, Any]) -> list[str]:
    """What Seam shows for a lock (its device reference) that this lock object leaves out or gets wrong."""
    problems: list[str] = []
    if not isinstance(lock.get("manufacturer"), str) or not lock.get("manufacturer"):
        problems.append("no manufacturer")
    lengths = lock.get("supported_code_lengths")
    if not (isinstance(lengths, list) and lengths and all(isinstance(n, int) and n > 0 for n in lengths)):
        problems.append("no supported_code_lengths (a list of PIN lengths)")
    most = lock.get("max_active_codes_supported")
    if not (isinstance(most, int) and not isinstance(most, bool) and most > 0):
        problems.append("no max_active_codes_supported")
    if not isinstance(lock.get("can_program_online_access_codes"), bool):
        problems.append("no can_program_online_access_codes")
    for field in ("door_open", "auto_lock_enabled"):
        if not isinstance(lock.get(field), bool | None) or field not in lock:
            problems.append(f"no {field} (true, false, or null when unknown)")
    door, door_open = lock.get("door_state"), lock.get("door_open")
    if isinstance(door_open, bool) and door in DOOR_STATES and door_open != (door != "closed"):
        problems.append(f"door_open is {door_open} while door_state is {door!r}")
    signal = lock.get("signal_quality")
    if is_number(signal) and signal < 0 and not -127 <= signal <= 20:
        problems.append(f"signal_quality {signal} is no RSSI in dBm")
    return problems


@check("locks.seam_device_reference", profiles=(CURRENT,), required=False)
def seam_device_reference(ctx: Context) -> str | None:
    """The lock reports what Seam shows: manufacturer, code lengths and capacity, door_open, auto-lock, capabilities."""
    lock = ctx.values.get("lock_detail") or ctx.need("lock")
    problems = seam_reference_problems(lock)
    if problems:
        raise CheckWarning("Seam cannot show: " + "; ".join(problems),
                           [{"where": "GET /locks/<id>", "lock": lock}])
    return f"manufacturer {lock['manufacturer']!r}, {lock['max_active_codes_supported']} codes"


@check("locks.unknown_ids_404")
def unknown_ids(ctx: Context) -> str | None:
    """Unknown lock, access code and action ids answer 404."""
    ctx.api_token()
    unknown = str(uuid.uuid4())
    paths = [f"/locks/{unknown}", f"/access_codes/{unknown}"]
    if CURRENT in ctx.settings.profiles():
        paths.append(f"/locks/{unknown}/access_codes")
        if "lock_id" in ctx.values:
            paths.append(f"/locks/{ctx.values['lock_id']}/actions/{unknown}")
    for path in paths:
        response = api_get(ctx, path)
        if response.status_code != 404:
            raise fail(f"GET {path} (an id that does not exist) answered HTTP {response.status_code}, "
                       "expected 404", response)
    return f"{len(paths)} unknown ids answered 404"
