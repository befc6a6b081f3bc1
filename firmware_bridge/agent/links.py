"""The `LockConnector` seam implemented with `LockClient` (bleak; any backend).

Translates between the BLE protocol's vocabulary (firmware_bridge.protocol)
and the bridge API's (model.py): statuses, code entries, events, errors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from bleak.backends.device import BLEDevice

import bridge_contract as contract
from firmware_bridge import lock_client as lc
from firmware_bridge.agent.model import (
    CodeEntry,
    EventCallback,
    LinkLost,
    LockEvent,
    LockInfo,
    LockOffline,
    LockOperationError,
    LockStatus,
    SlotEmpty,
    Unsupported,
)
from firmware_bridge.protocol import const, messages
from firmware_bridge.protocol.offline import OfflineCode
from firmware_bridge.protocol.schedule import ScheduleWindow

_LOGGER = logging.getLogger(__name__)

ERROR_CODES = {
    const.ErrorCode.JAMMED: contract.LOCK_JAMMED,
    const.ErrorCode.OBSTRUCTED: contract.BOLT_OBSTRUCTED,
    const.ErrorCode.STORAGE_FULL: contract.NO_SPACE_ON_DEVICE,
    const.ErrorCode.SLOT_OCCUPIED: contract.SLOT_OCCUPIED,
    const.ErrorCode.LOW_BATTERY: contract.MECHANISM_ERROR,
    const.ErrorCode.BUSY: contract.MECHANISM_ERROR,
}
SOURCES = {const.Source.KEYPAD: contract.SOURCE_KEYPAD, const.Source.MANUAL: contract.SOURCE_MANUAL,
           const.Source.BLE: contract.SOURCE_BLE, const.Source.AUTO_LOCK: contract.SOURCE_AUTO_LOCK}
BOLT_STATES = {const.BoltState.LOCKED: "locked", const.BoltState.UNLOCKED: "unlocked"}
DOOR_STATES = {const.DoorState.OPEN: "open", const.DoorState.CLOSED: "closed", const.DoorState.AJAR: "ajar"}
OFFLINE_KINDS = {const.OfflineKind.ONE_TIME: "one_time", const.OfflineKind.HOURLY: "hourly",
                 const.OfflineKind.DAILY: "daily"}
WIRE_KINDS = {name: kind for kind, name in OFFLINE_KINDS.items()}
DENIALS = {const.AccessDenial.OUTSIDE_SCHEDULE: "outside_schedule", const.AccessDenial.REVOKED: "revoked",
           const.AccessDenial.ALREADY_USED: "already_used", const.AccessDenial.TABLE_FULL: "table_full"}


def signal_quality(dbm: int) -> int | None:
    """RSSI to 0-100 (bridge_contract.signal_percent); None when the lock did not measure it."""
    if dbm >= 0:  # 0 means "not measured" on the wire
        return None
    return contract.signal_percent(dbm)


def _time(epoch: int | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch else None


def to_status(response: messages.StatusResponse) -> LockStatus:
    return LockStatus(
        lock_state=BOLT_STATES.get(response.bolt, "unknown"),
        door_state=DOOR_STATES.get(response.door),
        battery_level=int(response.battery_percent),
        device_time=datetime.fromtimestamp(response.device_time, UTC),
        timezone=response.timezone or "UTC",
        signal_quality=signal_quality(response.signal_dbm),
        jammed=response.bolt is const.BoltState.JAMMED,
        rssi_dbm=response.signal_dbm if response.signal_dbm < 0 else None,
        code_count=response.code_count,
    )


def settings_fields(response: messages.GetSettingsResponse) -> dict[str, Any]:
    """GET_SETTINGS in the heartbeat's vocabulary."""
    keypad = response.keypad_battery_percent
    return {"auto_lock_enabled": response.auto_lock_seconds > 0,
            "auto_lock_delay_seconds": response.auto_lock_seconds,  # 0 when off
            "keypad_battery_level": None if keypad == const.NO_KEYPAD_BATTERY else keypad}


def to_code(entry: messages.CodeEntry) -> CodeEntry:
    return CodeEntry(entry.slot, entry.pin, entry.name, _time(entry.starts_at), _time(entry.ends_at))


def to_event(event: messages.LockEvent) -> LockEvent | None:
    """The bridge API's form of a lock event; None for types the API has no name for."""
    data: dict[str, Any]
    if isinstance(event, messages.LockedEvent | messages.UnlockedEvent):
        kind = contract.LOCKED if isinstance(event, messages.LockedEvent) else contract.UNLOCKED
        data = {"source": SOURCES.get(event.source, contract.SOURCE_MANUAL), "slot": event.slot}
    elif isinstance(event, messages.IncorrectPinEvent):
        kind, data = contract.INCORRECT_PIN, {"pin": event.digits}
    elif isinstance(event, messages.BoltFaultEvent):
        kind = contract.OBSTRUCTED if event.fault is const.BoltFault.OBSTRUCTED else contract.JAMMED
        data = {"action": event.action.name.lower(), "source": SOURCES.get(event.source, contract.SOURCE_MANUAL)}
    elif isinstance(event, messages.BatteryEvent):
        kind, data = contract.BATTERY, {"level": int(event.level_percent), "low": bool(event.low)}
    elif isinstance(event, messages.DoorEvent):
        if event.door not in DOOR_STATES:
            return None
        kind, data = contract.DOOR, {"state": DOOR_STATES[event.door]}
    elif isinstance(event, messages.TamperEvent):
        kind, data = contract.TAMPER, {"kind": event.kind.name.lower()}
    elif isinstance(event, messages.OfflineCodeUsedEvent):
        if event.kind not in OFFLINE_KINDS:
            return None
        kind, data = contract.OFFLINE_CODE_USED, _offline_fields(event)
    elif isinstance(event, messages.AccessDeniedEvent):
        kind = contract.ACCESS_DENIED
        data = {"reason": DENIALS.get(event.reason, "unknown"), "slot": event.slot}
        if event.kind in OFFLINE_KINDS:
            data.update(_offline_fields(event))
    else:
        return None
    return LockEvent(seq=event.seq, type=kind, occurred_at=datetime.fromtimestamp(event.timestamp, UTC),
                     data=data)


def _offline_fields(event: messages.OfflineCodeUsedEvent | messages.AccessDeniedEvent) -> dict[str, Any]:
    return {"generation": event.generation, "kind": OFFLINE_KINDS[event.kind], "start_hour": event.start_hour,
            "end_hour": event.end_hour, "counter": event.counter}


def translate(err: lc.LockClientError) -> LockOperationError:
    if isinstance(err, lc.LockUnreachable | lc.LockAuthenticationError):
        return LockOffline(str(err))
    if isinstance(err, lc.LockDisconnected | lc.LockTimeout):
        return LinkLost(str(err))
    if isinstance(err, lc.LockRefused | lc.LockInvalidRequest):
        if err.error_code is const.ErrorCode.SLOT_EMPTY:
            return SlotEmpty(str(err))
        if err.error_code in (const.ErrorCode.UNKNOWN_OPCODE, const.ErrorCode.UNSUPPORTED_EXTENSION):
            return Unsupported(str(err))
        return LockOperationError(ERROR_CODES.get(err.error_code, contract.FIRMWARE_REFUSED), str(err))
    return LockOperationError(contract.FIRMWARE_REFUSED, str(err))


class LockClientSession:
    """`LockSession` over one connected `LockClient`."""

    def __init__(self, client: lc.LockClient) -> None:
        self.client = client
        self._settings: messages.GetSettingsResponse | None = None

    @property
    def is_connected(self) -> bool:
        return self.client.has_session

    async def _call(self, fn: Callable[[], Any]) -> Any:
        try:
            return await fn()
        except lc.LockClientError as err:
            raise translate(err) from err

    async def status(self) -> LockStatus:
        status = to_status(await self._call(self.client.status))
        info = self.client.info
        if info is None:
            return status
        status = replace(status, firmware_version=info.firmware or None)
        if info.capabilities & const.Capability.SETTINGS:
            if self._settings is None:  # configuration changes rarely: once per connection
                self._settings = await self._call(self.client.settings)
            status = replace(status, **settings_fields(self._settings))
        return status

    async def lock(self) -> None:
        await self._call(self.client.lock)

    async def unlock(self) -> None:
        await self._call(self.client.unlock)

    async def set_time(self, when: datetime, timezone: str) -> None:
        await self._call(lambda: self.client.set_time(when, timezone))

    async def put_code(self, entry: CodeEntry, *, replace: bool = True) -> None:
        # replace=True only where the slot is the cloud's already: a first put never overwrites.
        name = entry.name[:contract.NAME_MAX_CHARS]
        if entry.tz_rule is None:
            await self._call(lambda: self.client.put_code(entry.slot, entry.code, name, entry.starts_at,
                                                          entry.ends_at, replace=replace))
            return
        rule = entry.tz_rule
        windows = tuple(ScheduleWindow(*window) for window in entry.windows)
        try:
            await self._call(lambda: self.client.put_scheduled_code(entry.slot, entry.code, name, entry.starts_at,
                                                                    entry.ends_at, rule, windows, replace=replace))
        except Unsupported as err:
            raise LockOperationError(contract.SCHEDULES_NOT_SUPPORTED, err.message) from err

    async def set_offline_secret(self, generation: int, secret: bytes) -> None:
        await self._call(lambda: self.client.set_offline_secret(generation, secret))

    async def revoke_offline_code(self, kind: str, start_hour: int, end_hour: int, counter: int) -> int:
        code = OfflineCode(WIRE_KINDS[kind], start_hour, end_hour, counter)
        free: int = await self._call(lambda: self.client.revoke_offline_code(code))
        return free

    async def delete_code(self, slot: int) -> None:
        await self._call(lambda: self.client.delete_code(slot))

    async def list_codes(self) -> list[CodeEntry]:
        return [to_code(entry) for entry in await self._call(self.client.list_codes)]

    async def read_events(self, since_seq: int) -> list[LockEvent]:
        log = await self._call(lambda: self.client.read_events(since_seq))
        if log.lost:
            _LOGGER.warning("%s: %d event(s) were overwritten in the lock's log before we read them",
                            self.client.name, log.lost)
        events = [to_event(event) for event in log.events]
        return [event for event in events if event is not None]

    async def disconnect(self) -> None:
        await self.client.disconnect()

    @property
    def key_index(self) -> int:
        return self.client.key_index

    async def rotate_key(self, rotation_id: int, new_key: bytes) -> None:
        await self._call(lambda: self.client.rotate_key(rotation_id, new_key))


class LockClientConnector:
    """Opens `LockClient` sessions. `device_for` turns a lock into what bleak connects to
    (an address string for bleak's own backend, a `BLEDevice` for the virtual link)."""

    def __init__(self, backend: lc.BleBackend | None = None,
                 device_for: Callable[[LockInfo], BLEDevice | str] | None = None,
                 timeouts: lc.Timeouts | None = None) -> None:
        self.backend = backend
        self.device_for = device_for or (lambda lock: lock.ble_address)
        self.timeouts = timeouts
        # One LockClient per lock, reused across connections: its bleak client keeps the
        # GATT service cache, so a reconnection skips service discovery.
        self._clients: dict[str, tuple[LockInfo, lc.LockClient]] = {}

    def _client(self, lock: LockInfo, on_activity: EventCallback) -> lc.LockClient:
        cached = self._clients.get(lock.lock_id)
        if cached is not None and cached[0] == lock:
            return cached[1]
        client = lc.LockClient(self.device_for(lock), lock.device_key, name=lock.name, backend=self.backend,
                               on_event=lambda _event: on_activity(), timeouts=self.timeouts,
                               auto_reconnect=False,
                               other_keys=(lock.pending_device_key,) if lock.pending_device_key else ())
        self._clients[lock.lock_id] = (lock, client)
        return client

    async def connect(self, lock: LockInfo, on_activity: EventCallback) -> LockClientSession:
        client = self._client(lock, on_activity)
        try:
            await client.connect()
        except lc.LockClientError as err:
            raise translate(err) from err
        return LockClientSession(client)
