"""Translation between the BLE protocol's vocabulary and the bridge API's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from firmware_bridge import lock_client as lc
from firmware_bridge.agent import links
from firmware_bridge.agent.model import LinkLost, LockOffline, SlotEmpty
from firmware_bridge.protocol import const, messages

TS = 1_767_225_600  # 2026-01-01T00:00:00Z


@pytest.mark.parametrize(("event", "kind", "data"), [
    (messages.UnlockedEvent(1, TS, const.Source.KEYPAD, 3), "unlocked", {"source": "keypad", "slot": 3}),
    (messages.LockedEvent(2, TS, const.Source.AUTO_LOCK), "locked", {"source": "auto_lock", "slot": None}),
    (messages.LockedEvent(3, TS, const.Source.MANUAL), "locked", {"source": "manual", "slot": None}),
    (messages.UnlockedEvent(4, TS, const.Source.BLE), "unlocked", {"source": "ble", "slot": None}),
    (messages.IncorrectPinEvent(5, TS, "0000"), "incorrect_pin", {"pin": "0000"}),
    (messages.BoltFaultEvent(6, TS, const.BoltFault.JAMMED, const.BoltAction.UNLOCK, const.Source.BLE),
     "jammed", {"action": "unlock", "source": "ble"}),
    (messages.BoltFaultEvent(7, TS, const.BoltFault.OBSTRUCTED, const.BoltAction.LOCK, const.Source.KEYPAD),
     "obstructed", {"action": "lock", "source": "keypad"}),
    (messages.BatteryEvent(8, TS, 12, True), "battery", {"level": 12, "low": True}),
    (messages.DoorEvent(9, TS, const.DoorState.AJAR), "door", {"state": "ajar"}),
    (messages.TamperEvent(10, TS, const.TamperKind.KEYPAD_LOCKOUT), "tamper", {"kind": "keypad_lockout"}),
])
def test_events_in_the_bridge_api_vocabulary(event, kind, data):
    converted = links.to_event(event)
    assert (converted.seq, converted.type, converted.data) == (event.seq, kind, data)
    assert converted.occurred_at == datetime(2026, 1, 1, tzinfo=UTC)


def test_events_the_api_cannot_name_are_skipped():
    assert links.to_event(messages.UnknownLockEvent(1, TS, 0x60, b"x")) is None
    assert links.to_event(messages.DoorEvent(2, TS, const.DoorState.UNKNOWN)) is None


def test_status():
    status = links.to_status(messages.StatusResponse(
        1, const.BoltState.JAMMED, const.DoorState.UNKNOWN, 55, -70, TS, "Europe/Paris", 60, 2, 250, 9))
    assert status.lock_state == "unknown" and status.jammed
    assert status.door_state is None
    assert (status.battery_level, status.signal_quality, status.timezone) == (55, 60, "Europe/Paris")
    assert (status.rssi_dbm, status.code_count) == (-70, 2)
    unmeasured = links.to_status(messages.StatusResponse(
        1, const.BoltState.LOCKED, const.DoorState.CLOSED, 55, 0, TS, "UTC", 0, 0, 250, 9))
    assert (unmeasured.rssi_dbm, unmeasured.signal_quality) == (None, None)
    assert links.signal_quality(0) is None and links.signal_quality(-120) == 0 and links.signal_quality(-40) == 100


@pytest.mark.parametrize(("error", "expected", "code"), [
    (lc.LockRefused("x", const.ErrorCode.JAMMED), None, "LOCK_JAMMED"),
    (lc.LockRefused("x", const.ErrorCode.OBSTRUCTED), None, "BOLT_OBSTRUCTED"),
    (lc.LockRefused("x", const.ErrorCode.STORAGE_FULL), None, "NO_SPACE_ON_DEVICE"),
    (lc.LockRefused("x", const.ErrorCode.BAD_PIN), None, "FIRMWARE_REFUSED"),
    (lc.LockRefused("x", const.ErrorCode.SLOT_EMPTY), SlotEmpty, None),
    (lc.LockUnreachable("x"), LockOffline, "DEVICE_OFFLINE"),
    (lc.LockAuthenticationError("wrong key"), LockOffline, "DEVICE_OFFLINE"),
    (lc.LockDisconnected("x"), LinkLost, None),
    (lc.LockTimeout("x"), LinkLost, None),
])
def test_client_errors_translated(error, expected, code):
    translated = links.translate(error)
    if expected is not None:
        assert isinstance(translated, expected)
    if code is not None:
        assert translated.error_code == code


def test_settings_in_the_heartbeats_vocabulary():
    assert links.settings_fields(messages.GetSettingsResponse(1, 30, const.NO_KEYPAD_BATTERY, "S")) == {
        "auto_lock_enabled": True, "auto_lock_delay_seconds": 30, "keypad_battery_level": None}
    assert links.settings_fields(messages.GetSettingsResponse(1, 0, 72)) == {
        "auto_lock_enabled": False, "auto_lock_delay_seconds": 0, "keypad_battery_level": 72}
