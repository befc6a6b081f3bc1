"""What bridges tell us about their locks: heartbeats (status) and lock-originated events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

import bridge_contract as contract
from provider.clock import isoformat_z
from provider.clock import now as clock_now
from provider.errors import not_found
from provider.extensions import db
from provider.models import Bridge, Lock, LockEventLog
from provider.services import access_codes, clock_correction, offline_codes, sealed
from provider.services.actions import action_completed_data
from provider.services.bridges import set_lock_online
from provider.services.events import record_event
from provider.services.locks import door_open, lock_rows

# The lock's own low-battery level (it reports `low` at or below it): one threshold on
# both sides of the bridge.
BATTERY_LOW_PERCENT = contract.BATTERY_LOW_PERCENT
# A rise this large from a half-empty level means fresh batteries, not measurement noise.
BATTERY_REPLACED_JUMP = 30
BATTERY_REPLACED_FROM_BELOW = 50
# Drift beyond this makes schedules on the device wrong by a noticeable amount.
TIME_DRIFT_SECONDS = 60


def _bridge_locks(bridge: Bridge, lock_ids: set[str]) -> dict[str, Lock]:
    if not lock_ids:
        return {}
    # Under the row lock: battery, online and time transitions are read-compare-write.
    found = {lock.id: lock for lock in lock_rows(sorted(lock_ids), bridge_id=bridge.id)}
    if len(found) != len(lock_ids):
        raise not_found("Lock served by this bridge")
    return found


def apply_battery(lock: Lock, level: int, at: datetime | None = None) -> None:
    previous = lock.battery_level
    lock.battery_level = level
    data = {"lock_id": lock.id, "battery_level": level}
    crossed_low = level <= BATTERY_LOW_PERCENT and (previous is None or previous > BATTERY_LOW_PERCENT)
    if crossed_low:
        # One event for one drop; a webhook that asked for device.low_battery alone gets it
        # under that name (provider.services.events.EVENT_ALIASES).
        record_event("battery.low", device=lock, data=data, occurred_at=at)
    elif (
        previous is not None
        and previous < BATTERY_REPLACED_FROM_BELOW
        and level - previous >= BATTERY_REPLACED_JUMP
    ):
        record_event("battery.replaced", device=lock, data={**data, "previous_level": previous}, occurred_at=at)


def apply_device_time(lock: Lock, device_time: datetime, at: datetime) -> None:
    lock.device_time = device_time
    drift = (device_time - at).total_seconds()
    wrong = abs(drift) > TIME_DRIFT_SECONDS
    if wrong and not lock.time_wrong:
        clock_correction.correct_clock(lock)
        record_event(
            "device.time_wrong",
            device=lock,
            data={"lock_id": lock.id, "device_time": isoformat_z(device_time),
                  "drift_seconds": round(drift, 1)},
        )
    lock.time_wrong = wrong


def apply_door(lock: Lock, state: str | None, at: datetime | None = None) -> None:
    """The door sensor's state; opening (or leaving ajar) and closing are events for Seam."""
    was_open = door_open(lock.door_state)
    lock.door_state = state
    now_open = door_open(state)
    if now_open is not None and was_open is not None and now_open != was_open:
        record_event("device.door_opened" if now_open else "device.door_closed", device=lock,
                     data={"lock_id": lock.id, "door_state": state, "door_open": now_open}, occurred_at=at)


def apply_signal(lock: Lock, signal_quality: int | None, rssi: int | None) -> None:
    """A 0-100 level and/or an RSSI in dBm (a negative `signal_quality` is one): both are kept,
    the level derived from the RSSI when only that came."""
    if signal_quality is not None and signal_quality < 0:
        rssi = signal_quality if rssi is None else rssi
        signal_quality = None
    if rssi is not None:
        lock.rssi_dbm = rssi
        if signal_quality is None:
            signal_quality = contract.signal_percent(rssi)
    if signal_quality is not None:
        lock.signal_quality = signal_quality


def heartbeat(bridge: Bridge, reports: list[dict[str, Any]]) -> None:
    at = clock_now()
    locks = _bridge_locks(bridge, {report["lock_id"] for report in reports})
    for report in reports:
        lock = locks[report["lock_id"]]
        if report.get("online") is not None:
            set_lock_online(lock, bool(report["online"]))
        if report.get("battery_level") is not None:
            apply_battery(lock, report["battery_level"])
        apply_signal(lock, report.get("signal_quality"), report.get("rssi"))
        for field in ("firmware_version", "auto_lock_enabled", "auto_lock_delay_seconds", "keypad_battery_level"):
            if report.get(field) is not None:
                setattr(lock, field, report[field])
        if report.get("lock_state") is not None:
            lock.lock_state = report["lock_state"]
        if report.get("door_state") is not None and lock.has_door_sensor:
            apply_door(lock, report["door_state"])
        if report.get("timezone"):
            lock.timezone = report["timezone"]
        if report.get("device_time") is not None:
            apply_device_time(lock, report["device_time"], at)


def _log_data(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """The columns for a report's data: sealed whole for kinds that carry secrets."""
    if kind in sealed.SEALED_LOCK_REPORTS:
        return {"data": {}, "data_sealed": sealed.seal(data)}
    return {"data": data, "data_sealed": None}


def _insert_log(lock: Lock, event: dict[str, Any]) -> bool:
    """Stores one lock event; False if (lock_id, lock_seq) was already accepted."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(LockEventLog)
        .values(
            lock_id=lock.id,
            lock_seq=event["lock_seq"],
            type=event["type"],
            occurred_at=event["occurred_at"],
            **_log_data(event["type"], event.get("data") or {}),
            received_at=clock_now(),
        )
        .on_conflict_do_nothing(index_elements=["lock_id", "lock_seq"])
        .returning(LockEventLog.id)
    )
    return db.session.execute(stmt).scalar() is not None


def _apply_event(lock: Lock, event: dict[str, Any]) -> None:
    kind = event["type"]
    data = event.get("data") or {}
    at = event["occurred_at"]
    if kind in (contract.LOCKED, contract.UNLOCKED):
        lock.lock_state = kind
        if kind == contract.LOCKED:
            lock.obstructed = False
        source = data.get("source")
        performed_via = contract.PERFORMED_VIA.get(source or "")
        if performed_via is None:
            return  # "ble": our own remote command, reported through its result
        payload = action_completed_data(
            lock, "lock" if kind == contract.LOCKED else "unlock", "success", performed_via, source=source
        )
        if source == contract.SOURCE_KEYPAD and data.get("slot") is not None:
            code = access_codes.code_for_slot(lock.id, data["slot"])
            if code is not None:
                payload["access_code_id"] = code.id
                record_event(
                    "access_code.used",
                    device=lock,
                    occurred_at=at,
                    data={"lock_id": lock.id, "access_code_id": code.id, "name": code.name,
                          "access_code_is_managed": code.is_managed},
                )
        record_event("lock.action_completed", device=lock, data=payload, occurred_at=at)
    elif kind == contract.INCORRECT_PIN:
        record_event(
            "access_code.incorrect_attempt",
            device=lock,
            occurred_at=at,
            data={"lock_id": lock.id},
            sealed={"pin": data.get("pin")},
        )
    elif kind == contract.TAMPER and data.get("kind") == contract.TAMPER_KEYPAD_LOCKOUT:
        record_event(
            "lock.access_denied",
            device=lock,
            occurred_at=at,
            data={"lock_id": lock.id, "reason": contract.TAMPER_KEYPAD_LOCKOUT},
        )
    elif kind == contract.OFFLINE_CODE_USED:
        offline_codes.code_used(lock, data, at)
    elif kind == contract.ACCESS_DENIED:
        _access_denied(lock, data, at)
    elif kind == contract.TAMPER:
        record_event(
            "device.tampered",
            device=lock,
            occurred_at=at,
            data={"lock_id": lock.id, "tamper_kind": data.get("kind") or "unknown"},
        )
    elif kind in (contract.JAMMED, contract.OBSTRUCTED):
        if kind == contract.JAMMED:
            lock.lock_state = "unknown"
        else:
            lock.obstructed = True
        _bolt_failed(lock, kind, data, at)
    elif kind == contract.BATTERY and data.get("level") is not None:
        apply_battery(lock, data["level"], at)
    elif kind == contract.DOOR and lock.has_door_sensor:
        apply_door(lock, data.get("state"), at)


def _bolt_failed(lock: Lock, kind: str, data: dict[str, Any], at: datetime) -> None:
    """A jam or obstruction the lock reports on its own (keypad, hand, auto-lock) is a
    failed lock.action_completed without an action_id; one during our own command ("ble")
    is reported through that command's result instead."""
    source = data.get("source")
    performed_via = contract.PERFORMED_VIA.get(source or "")
    if performed_via is None:
        return
    action = data.get("action") if data.get("action") in contract.BOLT_COMMANDS else (
        "lock" if kind == contract.OBSTRUCTED else "unlock"
    )
    error_code = contract.LOCK_JAMMED if kind == contract.JAMMED else contract.BOLT_OBSTRUCTED
    record_event(
        "lock.action_completed",
        device=lock,
        occurred_at=at,
        data=action_completed_data(lock, action, "failed", performed_via, error_code, source=source),
    )


def _access_denied(lock: Lock, data: dict[str, Any], at: datetime) -> None:
    """A right PIN refused: outside its weekly schedule, or an offline code revoked / used up."""
    if data.get("slot") is not None:
        code = access_codes.code_for_slot(lock.id, int(data["slot"]))
    else:
        code = offline_codes.find(lock, data)
    record_event("lock.access_denied", device=lock, occurred_at=at, data={
        "lock_id": lock.id, "access_code_id": code.id if code else None,
        "name": code.name if code else None, "reason": data.get("reason") or "unknown",
    })


def accept_events(bridge: Bridge, events: list[dict[str, Any]]) -> tuple[int, int]:
    """Applies lock-originated events in lock order; re-sent ones are counted and ignored."""
    locks = _bridge_locks(bridge, {event["lock_id"] for event in events})
    accepted = duplicates = 0
    for event in sorted(events, key=lambda e: (e["lock_id"], e["lock_seq"])):
        lock = locks[event["lock_id"]]
        if not _insert_log(lock, event):
            duplicates += 1
            continue
        accepted += 1
        lock.last_event_seq = max(lock.last_event_seq, event["lock_seq"])
        _apply_event(lock, event)
    return accepted, duplicates
