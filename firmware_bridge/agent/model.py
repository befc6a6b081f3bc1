"""What the agent's parts hand each other: locks, commands, lock status, codes, events, errors.

The lock side is reached through the `LockConnector`/`LockSession` seam: the
bleak backend (`links.LockClientConnector`) implements it with `LockClient`,
and unit tests with a fake.  Nothing here imports bleak or does I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import bridge_contract as contract


@dataclass(frozen=True)
class LockInfo:
    """A lock the bridge serves, as GET /bridge/v1/locks describes it."""

    lock_id: str
    name: str
    ble_address: str
    device_key: bytes = field(repr=False)  # memory only, never logged or written
    model: str = ""
    timezone: str = "UTC"
    code_capacity: int = 250
    last_event_seq: int = 0
    # While a key rotation is pending: its new key (offered at the handshake too) and number.
    pending_device_key: bytes | None = field(default=None, repr=False)
    pending_rotation_id: int | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> LockInfo:
        return cls(
            lock_id=data["lock_id"],
            name=data.get("name") or data["lock_id"],
            ble_address=data["ble_address"],
            device_key=bytes.fromhex(data["device_key"]),
            model=data.get("model") or "",
            timezone=data.get("timezone") or "UTC",
            code_capacity=int(data.get("code_capacity") or 250),
            last_event_seq=int(data.get("last_event_seq") or 0),
            pending_device_key=bytes.fromhex(data["pending_device_key"]) if data.get("pending_device_key") else None,
            pending_rotation_id=int(data["pending_rotation_id"]) if data.get("pending_rotation_id") else None,
        )


@dataclass(frozen=True)
class Command:
    command_id: str
    lock_id: str
    type: str  # one of contract.COMMAND_TYPES
    params: dict[str, Any] = field(repr=False)  # put_code carries the PIN
    attempt: int = 1
    expires_at: str | None = None
    request_id: str | None = None  # the API call that queued it, echoed in logs and with the result

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Command:
        return cls(
            command_id=data["command_id"],
            lock_id=data["lock_id"],
            type=data["type"],
            params=dict(data.get("params") or {}),
            attempt=int(data.get("attempt") or 1),
            expires_at=data.get("expires_at"),
            request_id=data.get("request_id") or None,
        )

    @property
    def log_fields(self) -> dict[str, Any]:
        """`extra` for log lines about this command (JSON logs show them as fields)."""
        return {"command_id": self.command_id, "request_id": self.request_id or "-"}


@dataclass(frozen=True)
class Result:
    status: str  # contract.SUCCEEDED | contract.FAILED
    error_code: str | None = None
    message: str | None = None

    @classmethod
    def ok(cls) -> Result:
        return cls(contract.SUCCEEDED)

    @classmethod
    def failed(cls, error_code: str, message: str | None = None) -> Result:
        return cls(contract.FAILED, error_code, message)

    def to_api(self) -> dict[str, Any]:
        return {"status": self.status, "error_code": self.error_code, "message": self.message}


@dataclass(frozen=True)
class LockStatus:
    lock_state: str  # locked | unlocked | unknown (jammed reads as unknown)
    door_state: str | None  # open | closed | ajar | None without a door sensor
    battery_level: int
    device_time: datetime
    timezone: str
    signal_quality: float | None = None
    jammed: bool = False
    rssi_dbm: int | None = None  # as measured; None when the lock did not measure it
    code_count: int | None = None  # codes the lock holds: a change nobody asked for means a re-read
    firmware_version: str | None = None  # from the lock's info characteristic
    # From GET_SETTINGS, for a lock that has it (None otherwise).
    auto_lock_enabled: bool | None = None
    auto_lock_delay_seconds: int | None = None
    keypad_battery_level: int | None = None  # only a keypad with its own battery


@dataclass(frozen=True)
class CodeEntry:
    """A code slot as read from the lock or as the provider wants it."""

    slot: int
    code: str = field(repr=False)
    name: str = ""
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    # A weekly schedule (docs/ble-protocol.md 18): the POSIX TZ rule and (weekdays, start
    # minute, end minute) windows. A listed code never carries one (LIST_CODES omits it).
    tz_rule: str | None = None
    windows: tuple[tuple[int, int, int], ...] = ()


@dataclass(frozen=True)
class LockEvent:
    """One entry of the lock's event log, already in the bridge API's vocabulary."""

    seq: int
    type: str  # one of contract.LOCK_EVENT_TYPES
    occurred_at: datetime
    data: dict[str, Any] = field(default_factory=dict)


class AgentError(Exception):
    """Base of every error the agent's parts raise (lock operations, the provider, configuration)."""


class LockOperationError(AgentError):
    """A lock operation did not happen; `error_code` is the provider's code for it (bridge_contract)."""

    def __init__(self, error_code: str, message: str = "") -> None:
        super().__init__(message or error_code)
        self.error_code = error_code
        self.message = message or error_code


class LockOffline(LockOperationError):
    """The lock could not be connected to (out of range, not advertising, radio fault)."""

    def __init__(self, message: str = "lock not reachable") -> None:
        super().__init__(contract.DEVICE_OFFLINE, message)


class LinkLost(LockOperationError):
    """The connection dropped during an operation: it may or may not have happened."""

    def __init__(self, message: str = "connection lost during the operation") -> None:
        super().__init__(contract.ACTION_TIMEOUT, message)


class Unsupported(LockOperationError):
    """The lock's firmware does not implement the request (an older lock)."""

    def __init__(self, message: str = "not supported by the lock's firmware") -> None:
        super().__init__(contract.FIRMWARE_REFUSED, message)


class SlotEmpty(LockOperationError):
    """delete_code on a slot that holds nothing: the desired outcome already holds."""

    def __init__(self, message: str = "slot empty") -> None:
        super().__init__(contract.FIRMWARE_REFUSED, message)


class LockSession(Protocol):
    """One authenticated BLE session with a lock."""

    @property
    def is_connected(self) -> bool: ...

    async def status(self) -> LockStatus: ...

    async def lock(self) -> None: ...

    async def unlock(self) -> None: ...

    async def set_time(self, when: datetime, timezone: str) -> None: ...

    # replace=False: refuse (SLOT_OCCUPIED) rather than overwrite a slot holding another code.
    async def put_code(self, entry: CodeEntry, *, replace: bool = True) -> None: ...

    async def delete_code(self, slot: int) -> None: ...

    async def list_codes(self) -> list[CodeEntry]: ...

    async def read_events(self, since_seq: int) -> list[LockEvent]: ...

    async def disconnect(self) -> None: ...

    @property
    def key_index(self) -> int:
        """Which key the lock accepted at this connection: 0 its device key, 1 the pending one."""
        ...

    async def rotate_key(self, rotation_id: int, new_key: bytes) -> None: ...

    async def set_offline_secret(self, generation: int, secret: bytes) -> None:
        """Install the offline-code secret (raises Unsupported on a lock without offline codes)."""
        ...

    async def revoke_offline_code(self, kind: str, start_hour: int, end_hour: int, counter: int) -> int:
        """Refuse one offline code from now on; returns the room left in the lock's table."""
        ...


EventCallback = Callable[[], None]


class LockConnector(Protocol):
    """Opens sessions. `on_activity` is called (from the event loop) whenever the lock
    notifies something unsolicited, so its worker reads the event log."""

    async def connect(self, lock: LockInfo, on_activity: EventCallback) -> LockSession: ...
