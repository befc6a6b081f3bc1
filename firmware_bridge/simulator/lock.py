"""The virtual lock's state machine, with no BLE in it.

``VirtualLock`` models a Kwikset-like deadbolt: bolt (locked / unlocked /
jammed), door sensor, a battery that drains per operation, a clock with drift
and a timezone, PIN code slots 1..capacity (default 250) with validity windows
evaluated on the lock's own clock, a keypad, manual turn, auto-lock and a
bounded event log (512 entries by default; the oldest entry is dropped when it
is full, and ``ReadEventsResponse.oldest_seq`` tells a bridge what it missed).

It answers protocol requests with :meth:`VirtualLock.handle` and tells
listeners about unsolicited events. Time comes from an injectable
``time_source`` (Unix seconds, float); timers run in :meth:`tick`.

Fault injection lives in :attr:`VirtualLock.faults`. Some faults act here
(jam, obstruction, busy, storage full, low battery, clock drift); the others
are flags for the GATT layer (``simulator/peripheral.py``) to honour: response
delay, dropped notifications, disconnect mid-command / mid-response, refusing
to advertise. One-shot flags are consumed with :meth:`Faults.consume`.
"""

from __future__ import annotations

import logging
import math
import time
import zoneinfo
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

# BatteryEvent.low at or below this: the cloud's battery.low threshold too.
from bridge_contract import BATTERY_LOW_PERCENT as LOW_BATTERY_PERCENT
from firmware_bridge.protocol import (
    ANY_SLOT,
    DEFAULT_CODE_CAPACITY,
    DEFAULT_EVENT_LOG_SIZE,
    PROTOCOL_VERSION,
    AccessDenial,
    AccessDeniedEvent,
    BatteryEvent,
    BoltAction,
    BoltFault,
    BoltFaultEvent,
    BoltState,
    Capability,
    CodeEntry,
    CommitKeyRequest,
    CommitKeyResponse,
    DeleteCodeRequest,
    DeleteCodeResponse,
    DeviceInfo,
    DoorEvent,
    DoorState,
    ErrorCode,
    ErrorResponse,
    FactoryResetRequest,
    FactoryResetResponse,
    GetCodeScheduleRequest,
    GetCodeScheduleResponse,
    GetSettingsRequest,
    GetSettingsResponse,
    IncorrectPinEvent,
    ListCodesRequest,
    ListCodesResponse,
    LockedEvent,
    LockEvent,
    LockRequest,
    LockResponse,
    OfflineCodeUsedEvent,
    PutCodeRequest,
    PutCodeResponse,
    PutScheduledCodeRequest,
    PutScheduledCodeResponse,
    ReadEventsRequest,
    ReadEventsResponse,
    Request,
    Response,
    RevokeOfflineCodeRequest,
    RevokeOfflineCodeResponse,
    RotateKeyRequest,
    RotateKeyResponse,
    SetOfflineSecretRequest,
    SetOfflineSecretResponse,
    SetTimeRequest,
    SetTimeResponse,
    Source,
    StatusRequest,
    StatusResponse,
    TamperEvent,
    TamperKind,
    UnlockedEvent,
    UnlockRequest,
    UnlockResponse,
    decode_event,
    key_proof,
)
from firmware_bridge.protocol.const import (
    KEYPAD_LOCKOUT_AFTER,
    KEYPAD_LOCKOUT_INITIAL,
    KEYPAD_LOCKOUT_MAX,
    NO_KEYPAD_BATTERY,
    OFFLINE_PIN_DIGITS,
    PIN_MAX_DIGITS,
    PIN_MIN_DIGITS,
)
from firmware_bridge.protocol.offline import OfflineTable, Outcome, Verdict, secret_proof
from firmware_bridge.protocol.provisioning import Provision
from firmware_bridge.protocol.schedule import ScheduleWindow, TzRule, open_at

_LOGGER = logging.getLogger(__name__)

TimeSource = Callable[[], float]
EventListener = Callable[[LockEvent], None]

#: Percent of a full battery per motor move and per handled request (see VirtualLock).
BATTERY_PER_MOVE = 0.011
BATTERY_PER_REQUEST = 0.00001
CRITICAL_BATTERY_PERCENT = 3  # motor refuses to run (LOW_BATTERY) at or below this
EARLIEST_VALID_TIME = 1_577_836_800  # 2020-01-01: SET_TIME before this is INVALID_TIME
MODEL = "VL-1 virtual lock"
FIRMWARE = "1.0.0"
#: The owner's master code, printed inside the battery cover of a real lock: with it, codes are
#: programmed at the keypad without any app (they are the cloud's unmanaged codes).
DEFAULT_MASTER_PIN = "24681357"


class KeypadRefused(ValueError):
    """The keypad's master mode refused the entry (wrong master code, bad PIN, no room)."""


@dataclass
class Faults:
    """Injected faults. One-shot flags are cleared when consumed."""

    jam_next: bool = False  # next bolt move jams (bolt -> JAMMED)
    obstruct_next: bool = False  # next bolt move is obstructed (bolt stays)
    busy_next: bool = False  # next request answered BUSY
    storage_full: bool = False  # new codes refused with STORAGE_FULL
    # For the GATT layer:
    response_delay: float = 0.0  # seconds to wait before answering each request
    drop_notifications: int = 0  # drop this many next notifications (chunks)
    disconnect_mid_command: bool = False  # drop the link after a request arrives, before executing
    disconnect_mid_response: bool = False  # execute, send part of the response, drop the link
    refuse_advertising_until: float = 0.0  # time_source() value until which not to advertise
    # Drop the link when a request with this opcode arrives (before acting) / after acting on it
    # (the response is never sent). One-shot, like the flags above.
    disconnect_before_opcode: int | None = None
    disconnect_after_opcode: int | None = None

    def consume(self, name: str) -> bool:
        """Read a one-shot boolean flag and clear it."""
        value = bool(getattr(self, name))
        if value:
            setattr(self, name, False)
        return value

    def consume_opcode(self, name: str, opcode: int) -> bool:
        """True (and cleared) if the one-shot opcode fault `name` is set for `opcode`."""
        if getattr(self, name) == opcode:
            setattr(self, name, None)
            return True
        return False

    def consume_drop_notification(self) -> bool:
        """True if this notification must be dropped (decrements the counter)."""
        if self.drop_notifications > 0:
            self.drop_notifications -= 1
            return True
        return False


@dataclass
class _Clock:
    """Device clock: ``anchor_device + (real - anchor_real) * (1 + drift_ppm / 1e6)``."""

    anchor_device: float
    anchor_real: float
    drift_ppm: float = 0.0

    def now(self, real: float) -> float:
        return self.anchor_device + (real - self.anchor_real) * (1 + self.drift_ppm / 1e6)

    def set(self, device: float, real: float) -> None:
        self.anchor_device, self.anchor_real = device, real


@dataclass
class _MotorResult:
    event: LockEvent | None = None  # Locked/Unlocked, or BoltFaultEvent with an error
    error: ErrorCode | None = None


class SimulatedHardware:
    """The simulated RTC and radio faults, shared by both engines' virtual locks.

    Expects ``time_source``, ``faults``, ``clock_drift_ppm`` and a ``_clock``.
    """

    time_source: TimeSource
    faults: Faults
    clock_drift_ppm: float
    _clock: _Clock

    # ------------------------------------------------------------ advertising
    def refuse_advertising(self, seconds: float) -> None:
        """Fault: stop advertising for ``seconds`` (the GATT layer checks below)."""
        self.faults.refuse_advertising_until = self.time_source() + seconds

    def advertising_allowed(self) -> bool:
        return self.time_source() >= self.faults.refuse_advertising_until

    # ----------------------------------------------------------------- clock
    def device_time(self) -> int:
        """The lock's own clock, Unix seconds (drift and skew included)."""
        return int(self._clock.now(self.time_source()))

    def set_clock_drift(self, ppm: float) -> None:
        """Fault: the RTC runs ``ppm`` parts per million fast (negative: slow)."""
        real = self.time_source()
        self._clock.set(self._clock.now(real), real)
        self._clock.drift_ppm = self.clock_drift_ppm = ppm

    def skew_clock(self, seconds: float) -> None:
        """Fault: jump the lock's clock by ``seconds``."""
        self._clock.anchor_device += seconds


@dataclass
class VirtualLock(SimulatedHardware):
    """A lock you can drive from tests, the GATT peripheral and the bench CLI."""

    time_source: TimeSource = time.time
    capacity: int = DEFAULT_CODE_CAPACITY
    event_log_size: int = DEFAULT_EVENT_LOG_SIZE
    auto_lock_seconds: float | None = None
    # 4 AA cells (~2,500 mAh) last about a year of 20 operations a day with a bridge visiting
    # once a minute: a motor move (~1 A for ~1 s) costs ~80 % of that budget, the radio the rest.
    battery_drain_per_move: float = BATTERY_PER_MOVE
    battery_drain_per_request: float = BATTERY_PER_REQUEST
    name: str = "virtual-lock"
    timezone: str = "UTC"  # IANA name, as set by SET_TIME
    utc_offset_minutes: int = 0
    clock_drift_ppm: float = 0.0  # the RTC runs this many parts per million fast
    faults: Faults = field(default_factory=Faults)
    signal_dbm: int = 0  # RSSI the lock sees; the GATT layer may update it
    # Fresh off the line: no key until PROVISION writes one (docs/ble-protocol.md, section 16).
    factory_mode: bool = False
    master_pin: str = DEFAULT_MASTER_PIN

    def __post_init__(self) -> None:
        if not 1 <= self.capacity <= 0xFFFE:
            raise ValueError("capacity must be 1..65534")
        now = self.time_source()
        self.bolt = BoltState.LOCKED
        self.door = DoorState.CLOSED
        self.battery = 100.0
        self._clock = _Clock(anchor_device=now, anchor_real=now, drift_ppm=self.clock_drift_ppm)
        self.codes: dict[int, CodeEntry] = {}
        self._log: deque[LockEvent] = deque(maxlen=self.event_log_size)
        self._seq = 0
        self._wrong_pins = 0
        self._lockouts = 0  # keypad lockouts since the last correct PIN
        self._keypad_locked_until = 0.0  # time_source() value
        self._auto_lock_due: float | None = None
        self._listeners: list[EventListener] = []
        # The device key as the lock's secure storage holds it, and a rotation in flight.
        self.device_key: bytes | None = None
        self.pending_key: bytes | None = None
        self.pending_rotation = 0
        self.committed_rotation = 0
        self.reset_button_until = 0.0
        self._key_listeners: list[Callable[[bytes], None]] = []
        # Offline codes: the secret, its generation, first uses, revocations, the miss count.
        self.offline = OfflineTable()
        # Weekly schedules of slots: slot -> (POSIX TZ rule, windows).
        self.schedules: dict[int, tuple[str, tuple[ScheduleWindow, ...]]] = {}
        self.serial = ""

    @property
    def offline_secret(self) -> bytes | None:
        """The offline-code secret (generation 0 is the factory's)."""
        return self.offline.secret

    @offline_secret.setter
    def offline_secret(self, secret: bytes | None) -> None:
        if secret is None:
            self.offline = OfflineTable()
        else:
            self.offline.set_secret(secret, 0)

    # ------------------------------------------------------------------ info
    @property
    def info(self) -> DeviceInfo:
        caps = 0
        for cap in Capability:
            caps |= cap
        return DeviceInfo(PROTOCOL_VERSION, caps, MODEL, FIRMWARE)

    @property
    def battery_percent(self) -> int:
        return max(0, min(100, math.ceil(self.battery)))  # 99.2 reads as 100

    @property
    def head_seq(self) -> int:
        return self._seq

    engine = "python"

    def continue_after(self, seq: int) -> None:
        """Continue the event log after ``seq`` (what the cloud already accepted)."""
        self._seq = max(self._seq, seq)

    @property
    def events(self) -> tuple[LockEvent, ...]:
        """The event log, oldest first."""
        return tuple(self._log)

    # ------------------------------------------------------------- listeners
    def add_listener(self, listener: EventListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: EventListener) -> None:
        self._listeners.remove(listener)

    def _emit(self, factory: Callable[[int, int], LockEvent]) -> LockEvent:
        """Log an event (next seq, lock clock) and tell every listener."""
        self._seq += 1
        event = factory(self._seq, self.device_time() & 0xFFFF_FFFF)
        self._log.append(event)
        _LOGGER.debug("%s: event %s", self.name, type(event).__name__)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a listener must not break the lock
                _LOGGER.exception("%s: event listener failed", self.name)
        return event

    # ---------------------------------------------------------------- battery
    def set_battery(self, percent: float) -> None:
        """Fault/bench: set the battery level (emits a BatteryEvent on change)."""
        before = self.battery_percent
        self.battery = max(0.0, min(100.0, percent))
        if self.battery_percent != before:
            self._battery_event()

    def _drain(self, amount: float) -> None:
        before = self.battery_percent
        self.battery = max(0.0, self.battery - amount)
        if self.battery_percent < before:
            self._battery_event()

    def _battery_event(self) -> None:
        level = self.battery_percent
        self._emit(lambda s, t: BatteryEvent(s, t, level, level <= LOW_BATTERY_PERCENT))

    # ------------------------------------------------------------------ bolt
    def _move_bolt(
        self, action: BoltAction, source: Source, slot: int | None = None
    ) -> _MotorResult:
        if self.battery_percent <= CRITICAL_BATTERY_PERCENT:
            return _MotorResult(error=ErrorCode.LOW_BATTERY)
        self._drain(self.battery_drain_per_move)
        fault = None
        if self.faults.consume("jam_next"):
            fault = BoltFault.JAMMED
            self.bolt = BoltState.JAMMED
        elif self.faults.consume("obstruct_next"):
            fault = BoltFault.OBSTRUCTED
        if fault is not None:
            self._auto_lock_due = None
            event = self._emit(lambda s, t: BoltFaultEvent(s, t, fault, action, source))
            code = ErrorCode.JAMMED if fault is BoltFault.JAMMED else ErrorCode.OBSTRUCTED
            return _MotorResult(event=event, error=code)
        to = BoltState.LOCKED if action is BoltAction.LOCK else BoltState.UNLOCKED
        return _MotorResult(event=self._bolt_moved(to, source, slot))

    def _bolt_moved(self, to: BoltState, source: Source, slot: int | None = None) -> LockEvent:
        """The bolt reached ``to``: auto-lock disarmed or armed, Locked/UnlockedEvent logged."""
        self.bolt = to
        if to is BoltState.LOCKED:
            self._auto_lock_due = None
            return self._emit(lambda s, t: LockedEvent(s, t, source, slot))
        self._arm_auto_lock()
        return self._emit(lambda s, t: UnlockedEvent(s, t, source, slot))

    def _arm_auto_lock(self) -> None:
        if self.auto_lock_seconds is not None:
            self._auto_lock_due = self.time_source() + self.auto_lock_seconds

    # -------------------------------------------------------- physical world
    def enter_pin(self, digits: str) -> LockEvent | None:
        """Type a PIN on the keypad: unlock with a valid code, else IncorrectPinEvent.

        Returns the event (UnlockedEvent, IncorrectPinEvent, or BoltFaultEvent if
        the bolt jammed); None if the battery is too low to move the bolt, or if the
        keypad is locked out (every PIN is refused then, the right one too, and
        nothing is logged, so a locked-out keypad cannot flood the event log).

        Lockout (docs/ble-protocol.md 7.4): the KEYPAD_LOCKOUT_AFTER-th wrong PIN in a
        row locks the keypad for KEYPAD_LOCKOUT_INITIAL seconds and emits
        TamperEvent(KEYPAD_LOCKOUT); after it, each further wrong PIN before a correct
        one locks it again for twice as long, up to KEYPAD_LOCKOUT_MAX. BLE commands
        (the owner's remote unlock) are not affected.

        A 10-digit entry is an offline code (docs/ble-protocol.md 17.4): accepted, it logs
        OfflineCodeUsedEvent before the unlock; recognised but refused (revoked, used, no
        room to record it), AccessDeniedEvent. A slot's PIN outside its weekly schedule
        logs AccessDeniedEvent(OUTSIDE_SCHEDULE). Refusals count as wrong PINs.
        """
        if self.keypad_locked_out:
            return None
        if len(digits) == OFFLINE_PIN_DIGITS:
            return self._enter_offline(digits)
        entry = self._match_pin(digits)
        if entry is None:
            return self._wrong_pin(lambda s, t: IncorrectPinEvent(s, t, digits[:16]))
        if not self._schedule_open(entry.slot):
            slot = entry.slot
            return self._wrong_pin(lambda s, t: AccessDeniedEvent(s, t, AccessDenial.OUTSIDE_SCHEDULE, slot))
        self._wrong_pins = self._lockouts = 0
        return self._move_bolt(BoltAction.UNLOCK, Source.KEYPAD, entry.slot).event

    def _wrong_pin(self, factory: Callable[[int, int], LockEvent]) -> LockEvent:
        self._wrong_pins += 1
        event = self._emit(factory)
        if self._wrong_pins >= KEYPAD_LOCKOUT_AFTER:
            seconds = min(KEYPAD_LOCKOUT_INITIAL * 2**self._lockouts, KEYPAD_LOCKOUT_MAX)
            self._lockouts += 1
            self._keypad_locked_until = self.time_source() + seconds
            self._emit(lambda s, t: TamperEvent(s, t, TamperKind.KEYPAD_LOCKOUT))
        return event

    def _enter_offline(self, digits: str) -> LockEvent | None:
        verdict: Verdict = self.offline.enter(digits, self.device_time(), self.time_source())
        code, generation = verdict.code, self.offline.generation
        if verdict.outcome is Outcome.NO_MATCH or code is None:
            return self._wrong_pin(lambda s, t: IncorrectPinEvent(s, t, digits))
        fields = (code.kind, code.start_hour, code.end_hour, code.counter)
        if verdict.outcome is Outcome.DENIED:
            reason = verdict.reason or AccessDenial.UNKNOWN
            return self._wrong_pin(lambda s, t: AccessDeniedEvent(s, t, reason, None, generation, *fields))
        self._wrong_pins = self._lockouts = 0
        self._emit(lambda s, t: OfflineCodeUsedEvent(s, t, generation, *fields))
        return self._move_bolt(BoltAction.UNLOCK, Source.KEYPAD).event

    def _schedule_open(self, slot: int) -> bool:
        schedule = self.schedules.get(slot)
        if schedule is None:
            return True
        rule, windows = schedule
        return open_at(windows, TzRule.parse(rule), self.device_time())

    @property
    def keypad_locked_out(self) -> bool:
        return self.time_source() < self._keypad_locked_until

    def program_at_keypad(self, master: str, pin: str) -> int:
        """The owner's master mode: the master code, then a new PIN; returns the slot it took.

        The code is ongoing and nameless, as a keypad makes it. It takes the highest free slot:
        the cloud hands out slots from the lowest, so the two rarely meet. A wrong master code
        counts as a wrong PIN (lockout included); nothing else is logged, as on the real lock.
        """
        if self.keypad_locked_out:
            raise KeypadRefused("the keypad is locked out")
        if master != self.master_pin:
            self.enter_pin(master)  # logged and counted as the wrong PIN it is
            raise KeypadRefused("wrong master code")
        self._wrong_pins = self._lockouts = 0
        if not (pin.isascii() and pin.isdigit() and PIN_MIN_DIGITS <= len(pin) <= PIN_MAX_DIGITS):
            raise KeypadRefused(f"a PIN is {PIN_MIN_DIGITS} to {PIN_MAX_DIGITS} digits")
        if pin == self.master_pin or any(entry.pin == pin for entry in self.codes.values()):
            raise KeypadRefused("that PIN is in use on this lock")
        free = [slot for slot in range(self.capacity, 0, -1) if slot not in self.codes]
        if not free or self.faults.storage_full:
            raise KeypadRefused("no room for another code")
        self.codes[free[0]] = CodeEntry(free[0], pin, "", None, None)
        return free[0]

    def press_lock_button(self) -> LockEvent | None:
        """The keypad's lock button: lock without a code (source KEYPAD, no slot)."""
        return self._move_bolt(BoltAction.LOCK, Source.KEYPAD).event

    def manual_turn(self, to: BoltState | None = None) -> LockEvent:
        """Turn the thumb-turn/key: toggles the bolt (a jammed bolt goes to ``to`` or locked).

        A manual turn needs no battery and cannot jam.
        """
        if to is None:
            to = BoltState.UNLOCKED if self.bolt is BoltState.LOCKED else BoltState.LOCKED
        return self._bolt_moved(
            BoltState.LOCKED if to is BoltState.LOCKED else BoltState.UNLOCKED, Source.MANUAL
        )

    def set_door(self, door: DoorState) -> LockEvent | None:
        """The door sensor changed; closing the door re-arms a pending auto-lock."""
        if door is self.door:
            return None
        self.door = door
        if door is DoorState.CLOSED and self.bolt is BoltState.UNLOCKED:
            self._arm_auto_lock()
        return self._emit(lambda s, t: DoorEvent(s, t, door))

    def tamper(self, kind: TamperKind = TamperKind.CASE_OPENED) -> LockEvent:
        return self._emit(lambda s, t: TamperEvent(s, t, kind))

    def tick(self) -> LockEvent | None:
        """Run timers (auto-lock). Returns the event it caused, if any.

        Auto-lock fires ``auto_lock_seconds`` after an unlock, only with the door
        closed; if the door is open when it is due, it waits for the door to close
        and then counts again from zero.
        """
        due = self._auto_lock_due
        if due is None or self.time_source() < due or self.bolt is not BoltState.UNLOCKED:
            return None
        self._auto_lock_due = None
        if self.door is not DoorState.CLOSED:
            return None  # set_door(CLOSED) re-arms
        return self._move_bolt(BoltAction.LOCK, Source.AUTO_LOCK).event

    @property
    def auto_lock_due(self) -> float | None:
        """time_source() value at which tick() will auto-lock (None = not armed)."""
        return self._auto_lock_due

    # ------------------------------------------------------------------ codes
    def _code_valid_now(self, entry: CodeEntry) -> bool:
        if entry.starts_at is None or entry.ends_at is None:
            return True
        now = self.device_time()
        return entry.starts_at <= now < entry.ends_at

    def _match_pin(self, digits: str) -> CodeEntry | None:
        for entry in self.codes.values():
            if entry.pin == digits and self._code_valid_now(entry):
                return entry
        return None

    def _free_slot(self) -> int | None:
        for slot in range(1, self.capacity + 1):
            if slot not in self.codes:
                return slot
        return None

    # --------------------------------------------------------------- dispatch
    def handle(self, request: Request) -> Response:
        """Answer one protocol request (the lock's firmware dispatch)."""
        self._drain(self.battery_drain_per_request)
        if self.faults.consume("busy_next"):
            return self._error(request, ErrorCode.BUSY)
        handler = self._HANDLERS.get(type(request))
        if handler is None:
            return self._error(request, ErrorCode.UNKNOWN_OPCODE)
        return handler(self, request)

    @staticmethod
    def _error(request: Request, code: ErrorCode) -> ErrorResponse:
        return ErrorResponse(request.request_id, int(request.OPCODE), code)

    def _status(self, request: Request) -> Response:
        return StatusResponse(
            request.request_id,
            bolt=self.bolt,
            door=self.door,
            battery_percent=self.battery_percent,
            signal_dbm=max(-128, min(127, self.signal_dbm)),
            device_time=self.device_time() & 0xFFFF_FFFF,
            timezone=self.timezone,
            utc_offset_minutes=self.utc_offset_minutes,
            code_count=len(self.codes),
            code_capacity=self.capacity,
            event_head_seq=self._seq,
        )

    def _bolt(self, request: Request) -> Response:
        lock = isinstance(request, LockRequest)
        action = BoltAction.LOCK if lock else BoltAction.UNLOCK
        result = self._move_bolt(action, Source.BLE)
        if result.error is not None:
            return self._error(request, result.error)
        return (LockResponse if lock else UnlockResponse)(request.request_id, self.bolt)

    def _set_time(self, request: Request) -> Response:
        assert isinstance(request, SetTimeRequest)
        if request.epoch < EARLIEST_VALID_TIME:
            return self._error(request, ErrorCode.INVALID_TIME)
        try:
            zoneinfo.ZoneInfo(request.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return self._error(request, ErrorCode.INVALID_TIMEZONE)
        self._clock.set(request.epoch, self.time_source())
        self.timezone = request.timezone
        self.utc_offset_minutes = request.utc_offset_minutes
        return SetTimeResponse(request.request_id)

    def _put_code(self, request: Request) -> Response:
        assert isinstance(request, PutCodeRequest | PutScheduledCodeRequest)
        schedule = (request.tz_rule, request.windows) if isinstance(request, PutScheduledCodeRequest) else None
        slot = request.slot
        if slot == ANY_SLOT:
            free = None if self.faults.storage_full else self._free_slot()
            if free is None:
                return self._error(request, ErrorCode.STORAGE_FULL)
            slot = free
        elif not 1 <= slot <= self.capacity:
            return self._error(request, ErrorCode.INVALID_SLOT)
        entry = CodeEntry(slot, request.pin, request.name, request.starts_at, request.ends_at)
        answer = (PutScheduledCodeResponse if schedule else PutCodeResponse)(request.request_id, slot)
        current = self.codes.get(slot)
        if current == entry and self.schedules.get(slot) == schedule:
            return answer  # idempotent retry
        if any(c.pin == request.pin and c.slot != slot for c in self.codes.values()):
            return self._error(request, ErrorCode.PIN_CONFLICT)
        if current is not None and not request.replace:
            return self._error(request, ErrorCode.SLOT_OCCUPIED)
        if current is None and self.faults.storage_full:
            return self._error(request, ErrorCode.STORAGE_FULL)
        self.codes[slot] = entry
        if schedule is None:
            self.schedules.pop(slot, None)
        else:
            self.schedules[slot] = schedule
        return answer

    def _get_code_schedule(self, request: Request) -> Response:
        assert isinstance(request, GetCodeScheduleRequest)
        if not 1 <= request.slot <= self.capacity:
            return self._error(request, ErrorCode.INVALID_SLOT)
        if request.slot not in self.codes:
            return self._error(request, ErrorCode.SLOT_EMPTY)
        rule, windows = self.schedules.get(request.slot, ("", ()))
        return GetCodeScheduleResponse(request.request_id, request.slot, rule, windows)

    # ---------------------------------------------------------- offline codes
    def _set_offline_secret(self, request: Request) -> Response:
        assert isinstance(request, SetOfflineSecretRequest)
        self.offline.set_secret(request.secret, request.generation)
        return SetOfflineSecretResponse(request.request_id, request.generation,
                                        secret_proof(request.secret, request.generation))

    def _revoke_offline_code(self, request: Request) -> Response:
        assert isinstance(request, RevokeOfflineCodeRequest)
        if self.offline.secret is None:
            return self._error(request, ErrorCode.NO_OFFLINE_SECRET)
        now = self.device_time()
        if not self.offline.revoke(request.code, now):
            return self._error(request, ErrorCode.OFFLINE_TABLE_FULL)
        return RevokeOfflineCodeResponse(request.request_id, self.offline.free(now))

    def _delete_code(self, request: Request) -> Response:
        assert isinstance(request, DeleteCodeRequest)
        if not 1 <= request.slot <= self.capacity:
            return self._error(request, ErrorCode.INVALID_SLOT)
        if self.codes.pop(request.slot, None) is None:
            return self._error(request, ErrorCode.SLOT_EMPTY)
        self.schedules.pop(request.slot, None)
        return DeleteCodeResponse(request.request_id, request.slot)

    def _list_codes(self, request: Request) -> Response:
        assert isinstance(request, ListCodesRequest)
        slots = sorted(s for s in self.codes if s >= request.start_slot)
        page = slots[: request.max_count]
        more = len(slots) > len(page)
        return ListCodesResponse(
            request.request_id,
            tuple(self.codes[s] for s in page),
            next_slot=page[-1] + 1 if more else None,
        )

    # ------------------------------------------------------------ device key
    def install_key(self, key: bytes) -> None:
        """The key the factory wrote (the peripheral installs it if the lock has none yet)."""
        if self.device_key is None and not self.factory_mode:
            self.device_key = key

    def provision(self, provision: Provision) -> bool:
        """Factory line: store the keys and serial once, then leave factory mode for good."""
        if not self.factory_mode or self.device_key is not None:
            return False
        self.device_key, self.offline_secret = provision.device_key, provision.offline_secret
        self.serial, self.factory_mode = provision.serial, False
        for listener in list(self._key_listeners):
            listener(self.device_key)
        return True

    def on_key_change(self, listener: Callable[[bytes], None]) -> None:
        self._key_listeners.append(listener)

    def _rotate_key(self, request: Request) -> Response:
        assert isinstance(request, RotateKeyRequest)
        if request.rotation_id == self.committed_rotation and request.new_key == self.device_key:
            # The bridge did not hear our COMMIT answer: the new key is already ours.
            return RotateKeyResponse(request.request_id, request.rotation_id,
                                     key_proof(request.new_key, request.rotation_id))
        self.pending_key, self.pending_rotation = request.new_key, request.rotation_id
        return RotateKeyResponse(request.request_id, request.rotation_id,
                                 key_proof(request.new_key, request.rotation_id))

    def _commit_key(self, request: Request) -> Response:
        assert isinstance(request, CommitKeyRequest)
        if self.pending_key is None or request.rotation_id != self.pending_rotation:
            if request.rotation_id == self.committed_rotation and self.pending_key is None:
                return CommitKeyResponse(request.request_id, request.rotation_id)  # repeated: idempotent
            return self._error(request, ErrorCode.NO_PENDING_KEY)
        self.device_key, self.pending_key = self.pending_key, None
        self.committed_rotation, self.pending_rotation = request.rotation_id, 0
        for listener in list(self._key_listeners):
            listener(self.device_key)
        return CommitKeyResponse(request.request_id, request.rotation_id)

    def hold_reset_button(self, seconds: float = 30.0) -> None:
        """Physical presence: someone holds the reset button (FACTORY_RESET needs it)."""
        self.reset_button_until = self.time_source() + seconds

    def _factory_reset(self, request: Request) -> Response:
        if self.time_source() >= self.reset_button_until:
            return self._error(request, ErrorCode.PRESENCE_REQUIRED)
        self.reset_button_until = 0.0
        self.codes.clear()
        self.schedules.clear()
        self._log.clear()
        self._wrong_pins = 0
        self.pending_key, self.pending_rotation = None, 0
        return FactoryResetResponse(request.request_id)

    def _get_settings(self, request: Request) -> Response:
        seconds = 0 if self.auto_lock_seconds is None else max(1, min(0xFFFF, round(self.auto_lock_seconds)))
        # The keypad is part of the lock and runs on its batteries.
        return GetSettingsResponse(request.request_id, seconds, NO_KEYPAD_BATTERY, self.serial[:32])

    def _read_events(self, request: Request) -> Response:
        assert isinstance(request, ReadEventsRequest)
        page = [e for e in self._log if e.seq > request.since_seq][: request.max_count]
        oldest = self._log[0].seq if self._log else 0
        return ReadEventsResponse(request.request_id, tuple(page), self._seq, oldest)

    _HANDLERS: ClassVar[dict[type[Request], Callable[[VirtualLock, Request], Response]]] = {
        StatusRequest: _status,
        LockRequest: _bolt,
        UnlockRequest: _bolt,
        SetTimeRequest: _set_time,
        PutCodeRequest: _put_code,
        DeleteCodeRequest: _delete_code,
        ListCodesRequest: _list_codes,
        ReadEventsRequest: _read_events,
        RotateKeyRequest: _rotate_key,
        CommitKeyRequest: _commit_key,
        FactoryResetRequest: _factory_reset,
        GetSettingsRequest: _get_settings,
        SetOfflineSecretRequest: _set_offline_secret,
        RevokeOfflineCodeRequest: _revoke_offline_code,
        PutScheduledCodeRequest: _put_code,
        GetCodeScheduleRequest: _get_code_schedule,
    }

    # ------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """Persistent state as JSON-friendly data (faults are runtime-only).

        Contains the PINs, as the lock's flash does: keep the file private.
        """
        real = self.time_source()
        return {
            "version": 1,
            "name": self.name,
            "capacity": self.capacity,
            "event_log_size": self.event_log_size,
            "auto_lock_seconds": self.auto_lock_seconds,
            "bolt": self.bolt.name,
            "door": self.door.name,
            "battery": self.battery,
            "timezone": self.timezone,
            "utc_offset_minutes": self.utc_offset_minutes,
            "clock": {
                "device": self._clock.now(real),
                "real": real,
                "drift_ppm": self._clock.drift_ppm,
            },
            "codes": [
                {
                    "slot": c.slot,
                    "pin": c.pin,
                    "name": c.name,
                    "starts_at": c.starts_at,
                    "ends_at": c.ends_at,
                }
                for c in sorted(self.codes.values(), key=lambda c: c.slot)
            ],
            "seq": self._seq,
            "wrong_pins": self._wrong_pins,
            # A power cycle must not lift a keypad lockout.
            "lockouts": self._lockouts,
            "keypad_locked_for": max(0.0, self._keypad_locked_until - real),
            "events": [bytes(e).hex() for e in self._log],
            "device_key": self.device_key.hex() if self.device_key else None,
            "pending_key": self.pending_key.hex() if self.pending_key else None,
            "pending_rotation": self.pending_rotation,
            "committed_rotation": self.committed_rotation,
            "factory_mode": self.factory_mode,
            "offline": self.offline.to_dict(real),
            "schedules": [
                {"slot": slot, "tz_rule": rule,
                 "windows": [[w.days, w.start_minute, w.end_minute] for w in windows]}
                for slot, (rule, windows) in sorted(self.schedules.items())
            ],
            "serial": self.serial,
            "master_pin": self.master_pin,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, time_source: TimeSource = time.time) -> VirtualLock:
        """Rebuild a lock saved by :meth:`to_dict`; its clock kept running meanwhile."""
        lock = cls(
            time_source=time_source,
            capacity=int(data["capacity"]),
            event_log_size=int(data["event_log_size"]),
            auto_lock_seconds=data.get("auto_lock_seconds"),
            name=str(data.get("name", "virtual-lock")),
        )
        lock.bolt = BoltState[data["bolt"]]
        lock.door = DoorState[data["door"]]
        lock.battery = float(data["battery"])
        lock.timezone = str(data["timezone"])
        lock.utc_offset_minutes = int(data["utc_offset_minutes"])
        clock = data["clock"]
        lock.clock_drift_ppm = float(clock["drift_ppm"])
        lock._clock = _Clock(float(clock["device"]), float(clock["real"]), lock.clock_drift_ppm)
        lock.codes = {
            int(c["slot"]): CodeEntry(
                int(c["slot"]), c["pin"], c["name"], c.get("starts_at"), c.get("ends_at")
            )
            for c in data["codes"]
        }
        lock._seq = int(data["seq"])
        lock._wrong_pins = int(data.get("wrong_pins", 0))
        lock._lockouts = int(data.get("lockouts", 0))
        lock._keypad_locked_until = time_source() + float(data.get("keypad_locked_for", 0.0))
        lock._log.extend(decode_event(bytes.fromhex(h)) for h in data["events"])
        if data.get("device_key"):
            lock.device_key = bytes.fromhex(data["device_key"])
        if data.get("pending_key"):
            lock.pending_key = bytes.fromhex(data["pending_key"])
        lock.pending_rotation = int(data.get("pending_rotation", 0))
        lock.committed_rotation = int(data.get("committed_rotation", 0))
        lock.factory_mode = bool(data.get("factory_mode", False))
        lock.offline = OfflineTable.from_dict(data.get("offline"), time_source())
        if data.get("offline_secret"):  # saved before the offline table existed
            lock.offline_secret = bytes.fromhex(data["offline_secret"])
        lock.schedules = {
            int(item["slot"]): (str(item["tz_rule"]), tuple(ScheduleWindow(*w) for w in item["windows"]))
            for item in data.get("schedules", [])
        }
        lock.serial = str(data.get("serial") or "")
        lock.master_pin = str(data.get("master_pin") or DEFAULT_MASTER_PIN)
        if lock.bolt is BoltState.UNLOCKED:
            lock._arm_auto_lock()
        return lock
