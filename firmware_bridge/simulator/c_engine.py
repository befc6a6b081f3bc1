"""The virtual lock on the C firmware core (``firmware/``), through cffi.

`CLock` is a port of the C core to this process: it implements the core's
hardware interface (``lock_hal_t``) in Python — a battery that drains per move
and per request, an RTC with drift and skew, a motor that obeys the injected
faults, non-volatile storage as a dict of records — and offers the same
surface as the Python `VirtualLock` (keypad, door, faults, state, listeners,
``to_dict``/``from_dict``), so the world, the sandbox's bridge agents and the
bench drive either engine. What differs is the protocol path: the C core does
its own framing, handshake, AES-CCM records and request decoding, so
`CLockPeripheral` hands it the raw GATT writes and notifies the chunks it
produces (``firmware_bridge.simulator.peripheral`` has the Python path).

The shared library is ``firmware/build/liblkp.so`` (``make -C firmware lib``,
run by the Makefile); ``LKP_LIBRARY`` points elsewhere. cffi's ABI mode: no
compiler is needed at import time, the declarations below mirror
``firmware/include/lkp/lock.h``.
"""

from __future__ import annotations

import logging
import math
import os
import subprocess
import threading
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cffi import FFI

from bridge_contract import BATTERY_LOW_PERCENT
from firmware_bridge.protocol import (
    DEFAULT_CODE_CAPACITY,
    DEFAULT_EVENT_LOG_SIZE,
    PROTOCOL_VERSION,
    BatteryEvent,
    BoltState,
    Capability,
    CodeEntry,
    DeviceInfo,
    DoorState,
    LockEvent,
    OfflineCodeUsedEvent,
    TamperKind,
    decode_event,
)
from firmware_bridge.protocol.messages import _Reader, _unpack_layout  # the CodeEntry codec
from firmware_bridge.simulator.lock import (
    DEFAULT_MASTER_PIN,
    FIRMWARE,
    Faults,
    KeypadRefused,
    SimulatedHardware,
    _Clock,
)

_LOGGER = logging.getLogger(__name__)

_CDEF = """
typedef struct lock_hal {
    void *user;
    uint32_t (*rtc_get)(void *user);
    void (*rtc_set)(void *user, uint32_t epoch);
    uint32_t (*uptime_ms)(void *user);
    int (*random)(void *user, uint8_t *buf, size_t len);
    int (*motor_drive)(void *user, int action);
    uint8_t (*battery_percent)(void *user);
    int (*nvs_read)(void *user, uint16_t id, uint8_t *buf, size_t len);
    int (*nvs_write)(void *user, uint16_t id, const uint8_t *buf, size_t len);
    int (*nvs_delete)(void *user, uint16_t id);
    void (*radio_notify)(void *user, const uint8_t *chunk, size_t len, int kind);
    int (*timezone_known)(void *user, const char *name, size_t len);
    int (*busy)(void *user);
    void (*event_logged)(void *user, const uint8_t *event, size_t len);
    int (*factory_sealed)(void *user);
    int (*factory_seal)(void *user);
    uint8_t (*keypad_battery_percent)(void *user);
} lock_hal_t;

typedef struct lock_config {
    uint16_t code_capacity;
    uint16_t event_log_size;
    uint32_t auto_lock_ms;
    uint32_t capabilities;
    const char *model;
    const char *firmware;
    const uint8_t *device_key;
    uint8_t protocol_version;
    const char *master_pin;
} lock_config_t;

typedef struct lock_counters {
    uint32_t frames_received, frames_sent;
    uint32_t rejected_records;
    uint32_t handshakes_failed;
    uint32_t dropped_bytes;
} lock_counters_t;

typedef struct lock_state {
    uint8_t bolt, door, battery_percent, wrong_pins;
    uint8_t session_established, request_pending, auto_lock_armed, timezone_len;
    uint8_t keypad_locked, backing_off, protocol_version, lockouts;
    int16_t utc_offset_minutes;
    uint16_t code_count;
    uint32_t head_seq, oldest_seq, auto_lock_due_ms;
    char timezone[64];
    lock_counters_t counters;
    uint8_t has_key, factory_mode, key_pending, presence;
    uint32_t pending_rotation, committed_rotation;
} lock_state_t;

size_t lock_sizeof(void);
int lock_init(void *lock, const lock_hal_t *hal, const lock_config_t *config);
void lock_radio_connected(void *lock, uint16_t att_mtu);
void lock_radio_mtu_changed(void *lock, uint16_t att_mtu);
void lock_radio_disconnected(void *lock);
void lock_radio_write(void *lock, const uint8_t *data, size_t len);
void lock_radio_discard_partial(void *lock);
size_t lock_device_info(const void *lock, uint8_t *buf, size_t len);
int lock_request_pending(const void *lock);
uint8_t lock_pending_opcode(const void *lock);
int lock_process(void *lock);
int lock_session_established(const void *lock);
void lock_set_rssi(void *lock, int rssi_dbm);
void lock_keypad_entry(void *lock, const char *digits, size_t len);
void lock_keypad_lock_button(void *lock);
int lock_keypad_program(void *lock, const char *master, size_t master_len, const char *pin, size_t pin_len);
void lock_manual_turn(void *lock, int to);
void lock_door_changed(void *lock, int door);
void lock_tamper(void *lock, int kind);
void lock_battery_changed(void *lock);
void lock_tick(void *lock);
void lock_continue_after(void *lock, uint32_t seq);
void lock_reset_button(void *lock, uint32_t window_ms);
size_t lock_code_entry(void *lock, uint16_t slot, uint8_t *buf, size_t len);
size_t lock_logged_event(void *lock, uint32_t seq, uint8_t *buf, size_t len);
void lock_get_state(const void *lock, lock_state_t *out);

uint8_t lkp_crc8(const uint8_t *data, size_t len);
uint32_t lkp_crc32(const uint8_t *data, size_t len);
int lkp_decode_request(const uint8_t *msg, size_t len, uint8_t version, void *out);
"""

MODEL = "VL-1 virtual lock (C core)"
# The C core's LOCK_LOW_BATTERY_PERCENT (firmware/include/lkp/lock.h) equals it.
LOW_BATTERY_PERCENT = BATTERY_LOW_PERCENT
NVS_FULL = -28
NVS_KEYS = 0x0002  # device key, pending key, rotation numbers (firmware/README.md)
NVS_SERIAL = 0x0003
NVS_OFFLINE_SECRET = 0x0004
NVS_SLOT_BASE = 0x4000
NVS_EVENT_BASE = 0x8000
MAX_CODE_SLOTS = 2000  # -DLOCK_MAX_CODE_SLOTS of the host library
_REPO = Path(__file__).resolve().parents[2]
_TX_KINDS = ("protocol", "response", "event")
# lock_keypad_program's refusals (firmware/include/lkp/lock.h), worded as VirtualLock words them.
_PROGRAM_REFUSALS = {
    -1: "the keypad is locked out",
    -2: "wrong master code",
    -3: "a PIN is 4 to 8 digits",
    -4: "that PIN is in use on this lock",
    -5: "no room for another code",
    -6: "this lock has no master code",
}

ffi = FFI()
ffi.cdef(_CDEF)
_lib: Any = None
_lib_lock = threading.Lock()


class EngineUnavailable(RuntimeError):
    """The C core's shared library is missing and cannot be built here."""


def library_path() -> Path:
    return Path(os.environ.get("LKP_LIBRARY") or _REPO / "firmware" / "build" / "liblkp.so")


def load_library(build: bool = True) -> Any:
    """The C core (built with ``make -C firmware lib`` first if missing and we are in a checkout)."""
    global _lib
    with _lib_lock:
        if _lib is not None:
            return _lib
        path = library_path()
        if not path.exists() and build and (_REPO / "firmware" / "Makefile").exists():
            result = subprocess.run(["make", "-s", "-C", str(_REPO / "firmware"), "lib"],
                                    capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise EngineUnavailable(f"building the C core failed: {result.stderr.strip()[-500:]}")
        if not path.exists():
            raise EngineUnavailable(f"the C core library {path} is missing (make -C firmware lib)")
        _lib = ffi.dlopen(str(path))
        return _lib


def available() -> bool:
    try:
        load_library()
    except (EngineUnavailable, OSError):
        return False
    return True


@dataclass
class CLock(SimulatedHardware):
    """A virtual lock whose firmware is the C core; the hardware is simulated here."""

    device_key: bytes | None = b"\x00" * 16
    time_source: Callable[[], float] = time.time
    capacity: int = DEFAULT_CODE_CAPACITY
    event_log_size: int = DEFAULT_EVENT_LOG_SIZE
    auto_lock_seconds: float | None = None
    battery_drain_per_move: float = 0.05
    battery_drain_per_request: float = 0.005
    name: str = "virtual-lock"
    clock_drift_ppm: float = 0.0
    faults: Faults = field(default_factory=Faults)
    signal_dbm: int = 0
    randbytes: Callable[[int], bytes] = os.urandom
    nvs: dict[int, bytes] = field(default_factory=dict)  # the lock's flash
    battery: float = 100.0
    # Fresh off the line: no key until PROVISION writes one (docs/ble-protocol.md, section 16).
    factory_mode: bool = False
    otp_sealed: bool = False  # the one-way "left the factory" bit the core burns on PROVISION
    master_pin: str = DEFAULT_MASTER_PIN  # the keypad's master mode (fixed when the lock boots)

    engine = "c"

    def __post_init__(self) -> None:
        if not 1 <= self.capacity <= MAX_CODE_SLOTS:
            raise ValueError(f"capacity must be 1..{MAX_CODE_SLOTS} with the C engine")
        if not 1 <= self.event_log_size <= 512:
            raise ValueError("event_log_size must be 1..512 with the C engine")
        if not self.factory_mode and (self.device_key is None or len(self.device_key) != 16):
            raise ValueError("device key must be 16 bytes")
        self.lib = load_library()
        now = self.time_source()
        self._clock = _Clock(anchor_device=now, anchor_real=now, drift_ppm=self.clock_drift_ppm)
        self._listeners: list[Callable[[LockEvent], None]] = []
        self._captured: list[LockEvent] | None = None
        self.notify_sink: Callable[[bytes, str], None] | None = None
        self._lock = ffi.new("uint8_t[]", self.lib.lock_sizeof())
        self._keep: list[Any] = []
        hal = ffi.new("lock_hal_t *")
        callbacks: dict[str, tuple[str, Callable[..., Any], Any]] = {
            "rtc_get": ("uint32_t(void *)", lambda _u: self.device_time() & 0xFFFF_FFFF, 0),
            "rtc_set": ("void(void *, uint32_t)", self._rtc_set, None),
            "uptime_ms": ("uint32_t(void *)", lambda _u: int(self.time_source() * 1000) & 0xFFFF_FFFF, 0),
            "random": ("int(void *, uint8_t *, size_t)", self._random, -1),
            "motor_drive": ("int(void *, int)", self._motor, 1),
            "battery_percent": ("uint8_t(void *)", lambda _u: self.battery_percent, 0),
            "nvs_read": ("int(void *, uint16_t, uint8_t *, size_t)", self._nvs_read, -5),
            "nvs_write": ("int(void *, uint16_t, const uint8_t *, size_t)", self._nvs_write, -5),
            "nvs_delete": ("int(void *, uint16_t)", self._nvs_delete, -5),
            "radio_notify": ("void(void *, const uint8_t *, size_t, int)", self._notify, None),
            "timezone_known": ("int(void *, const char *, size_t)", self._timezone_known, 0),
            "busy": ("int(void *)", lambda _u: int(self.faults.consume("busy_next")), 0),
            "event_logged": ("void(void *, const uint8_t *, size_t)", self._event_logged, None),
            "factory_sealed": ("int(void *)", lambda _u: int(self.otp_sealed), 1),
            "factory_seal": ("int(void *)", self._factory_seal, -1),
        }
        for name, (signature, func, error) in callbacks.items():
            cb = ffi.callback(signature, func, error=error) if error is not None else ffi.callback(signature, func)
            self._keep.append(cb)
            setattr(hal, name, cb)
        config = ffi.new("lock_config_t *")
        config.code_capacity = self.capacity
        config.event_log_size = self.event_log_size
        config.auto_lock_ms = int(round(self.auto_lock_seconds * 1000)) if self.auto_lock_seconds else 0
        caps = 0
        for cap in Capability:
            caps |= cap
        config.capabilities = caps
        model, firmware = ffi.new("char[]", MODEL.encode()), ffi.new("char[]", FIRMWARE.encode())
        # In factory mode the core has no key until PROVISION (its KEYS record wins over this one).
        key = ffi.NULL if self.factory_mode or self.device_key is None else ffi.new("uint8_t[16]", self.device_key)
        config.model, config.firmware, config.device_key = model, firmware, key
        master = ffi.new("char[]", self.master_pin.encode())
        config.master_pin = master
        # The core speaks the version the Python protocol package speaks (it knows 1 and 2).
        config.protocol_version = PROTOCOL_VERSION
        self._keep += [hal, config, model, firmware, master]
        if self.lib.lock_init(self._lock, hal, config) != 0:
            raise ValueError("the C core refused its configuration")
        self.lib.lock_set_rssi(self._lock, max(-128, min(127, self.signal_dbm)))
        self._read_keys()

    # ----------------------------------------------------------------- HAL
    def _factory_seal(self, _user: Any) -> int:
        self.otp_sealed = True
        return 0

    def _rtc_set(self, _user: Any, epoch: int) -> None:
        self._clock.set(epoch, self.time_source())

    def _random(self, _user: Any, buf: Any, size: int) -> int:
        ffi.memmove(buf, self.randbytes(size), size)
        return 0

    def _motor(self, _user: Any, _action: int) -> int:
        self._drain(self.battery_drain_per_move)
        if self.faults.consume("jam_next"):
            return 1
        if self.faults.consume("obstruct_next"):
            return 2
        return 0

    def _nvs_read(self, _user: Any, record_id: int, buf: Any, size: int) -> int:
        data = self.nvs.get(record_id)
        if data is None:
            return -2
        ffi.memmove(buf, data[:size], min(size, len(data)))
        return len(data)

    def _nvs_write(self, _user: Any, record_id: int, buf: Any, size: int) -> int:
        new_code = NVS_SLOT_BASE <= record_id < NVS_EVENT_BASE and record_id not in self.nvs
        if new_code and self.faults.storage_full:
            return NVS_FULL
        self.nvs[record_id] = bytes(ffi.buffer(buf, size))
        return 0

    def _nvs_delete(self, _user: Any, record_id: int) -> int:
        self.nvs.pop(record_id, None)
        return 0

    def _notify(self, _user: Any, chunk: Any, size: int, kind: int) -> None:
        if self.notify_sink is not None:
            self.notify_sink(bytes(ffi.buffer(chunk, size)), _TX_KINDS[kind] if 0 <= kind < 3 else "protocol")

    def _timezone_known(self, _user: Any, name: Any, size: int) -> int:
        try:
            zoneinfo.ZoneInfo(bytes(ffi.buffer(name, size)).decode())
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, UnicodeDecodeError):
            return 0
        return 1

    def _event_logged(self, _user: Any, data: Any, size: int) -> None:
        event = decode_event(bytes(ffi.buffer(data, size)))
        if self._captured is not None:
            self._captured.append(event)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a listener must not break the lock
                _LOGGER.exception("%s: event listener failed", self.name)

    # ------------------------------------------------------------- state
    def _state(self) -> Any:
        state = ffi.new("lock_state_t *")
        self.lib.lock_get_state(self._lock, state)
        return state

    @property
    def bolt(self) -> BoltState:
        return BoltState(self._state().bolt)

    @property
    def door(self) -> DoorState:
        return DoorState(self._state().door)

    @property
    def battery_percent(self) -> int:
        return max(0, min(100, math.ceil(self.battery)))

    @property
    def head_seq(self) -> int:
        return int(self._state().head_seq)

    @property
    def timezone(self) -> str:
        state = self._state()
        return bytes(ffi.buffer(state.timezone, state.timezone_len)).decode()

    @property
    def utc_offset_minutes(self) -> int:
        return int(self._state().utc_offset_minutes)

    @property
    def keypad_locked_out(self) -> bool:
        return bool(self._state().keypad_locked)

    @property
    def counters(self) -> dict[str, int]:
        c = self._state().counters
        return {name: int(getattr(c, name)) for name in
                ("frames_received", "frames_sent", "rejected_records", "handshakes_failed", "dropped_bytes")}

    @property
    def info(self) -> DeviceInfo:
        buf = ffi.new("uint8_t[80]")
        size = self.lib.lock_device_info(self._lock, buf, 80)
        return DeviceInfo.from_bytes(bytes(ffi.buffer(buf, size)))

    @property
    def events(self) -> tuple[LockEvent, ...]:
        """The event log, oldest first."""
        state = self._state()
        if not state.oldest_seq:
            return ()
        buf = ffi.new("uint8_t[32]")
        out = []
        for seq in range(state.oldest_seq, state.head_seq + 1):
            size = self.lib.lock_logged_event(self._lock, seq, buf, 32)
            if size:
                out.append(decode_event(bytes(ffi.buffer(buf, size))))
        return tuple(out)

    @property
    def codes(self) -> dict[int, CodeEntry]:
        buf = ffi.new("uint8_t[80]")
        out = {}
        for record_id in sorted(self.nvs):
            slot = record_id - NVS_SLOT_BASE
            if 1 <= slot <= self.capacity:
                size = self.lib.lock_code_entry(self._lock, slot, buf, 80)
                if size:
                    reader = _Reader(bytes(ffi.buffer(buf, size)))
                    out[slot] = CodeEntry(**_unpack_layout(CodeEntry, reader))
        return out

    @property
    def auto_lock_due(self) -> float | None:
        state = self._state()
        if not state.auto_lock_armed:
            return None
        now = self.time_source()
        delta = (state.auto_lock_due_ms - int(now * 1000)) & 0xFFFF_FFFF
        if delta >= 1 << 31:
            delta -= 1 << 32
        return now + delta / 1000

    def _read_keys(self) -> None:
        """Mirror the core's key state (its KEYS, serial and secret records) as `VirtualLock` names it."""
        state = self._state()
        self.factory_mode = bool(state.factory_mode)
        record = self.nvs.get(NVS_KEYS)
        if record is not None and len(record) == 43 and record[0] == 0x4B:
            self.device_key = record[3:19]
            self.pending_key = record[19:35] if record[2] & 1 else None
        elif not state.has_key:
            self.device_key = None
            self.pending_key = None
        else:
            self.pending_key = None
        self.pending_rotation = int(state.pending_rotation)
        self.committed_rotation = int(state.committed_rotation)
        serial, secret = self.nvs.get(NVS_SERIAL), self.nvs.get(NVS_OFFLINE_SECRET)
        self.serial = serial[1:1 + serial[0]].decode("ascii") if serial else ""
        self.offline_secret = secret[1:1 + secret[0]] if secret else None

    def hold_reset_button(self, seconds: float = 30.0) -> None:
        """Physical presence: someone pressed the reset button (FACTORY_RESET needs it)."""
        self.lib.lock_reset_button(self._lock, max(1, int(seconds * 1000)))

    def continue_after(self, seq: int) -> None:
        """Continue the event log after ``seq`` (what the cloud already accepted)."""
        self.lib.lock_continue_after(self._lock, seq)

    # --------------------------------------------------------- listeners
    def add_listener(self, listener: Callable[[LockEvent], None]) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[LockEvent], None]) -> None:
        self._listeners.remove(listener)

    def _capture(self, action: Callable[[], None]) -> LockEvent | None:
        """Run an input and return the first event it caused (a battery reading aside, and the
        OfflineCodeUsedEvent that precedes an offline code's unlock: the outcome is the unlock,
        as the Python engine answers)."""
        self._captured = captured = []
        try:
            action()
        finally:
            self._captured = None
        return next((e for e in captured if not isinstance(e, BatteryEvent | OfflineCodeUsedEvent)), None)

    # --------------------------------------------------------- battery
    def _drain(self, amount: float) -> None:
        self.battery = max(0.0, self.battery - amount)

    def set_battery(self, percent: float) -> None:
        self.battery = max(0.0, min(100.0, percent))
        self.lib.lock_battery_changed(self._lock)

    # ---------------------------------------------------- physical world
    def enter_pin(self, digits: str) -> LockEvent | None:
        raw = digits.encode()
        return self._capture(lambda: self.lib.lock_keypad_entry(self._lock, raw, len(raw)))

    def program_at_keypad(self, master: str, pin: str) -> int:
        """The owner's master mode: the master code, then a new PIN; returns the slot it took."""
        raw_master, raw_pin = master.encode(), pin.encode()
        result = int(self.lib.lock_keypad_program(self._lock, raw_master, len(raw_master), raw_pin, len(raw_pin)))
        if result < 0:
            raise KeypadRefused(_PROGRAM_REFUSALS.get(result, f"refused ({result})"))
        return result

    def press_lock_button(self) -> LockEvent | None:
        return self._capture(lambda: self.lib.lock_keypad_lock_button(self._lock))

    def manual_turn(self, to: BoltState | None = None) -> LockEvent | None:
        return self._capture(lambda: self.lib.lock_manual_turn(self._lock, int(to or 0)))

    def set_door(self, door: DoorState) -> LockEvent | None:
        return self._capture(lambda: self.lib.lock_door_changed(self._lock, int(door)))

    def tamper(self, kind: TamperKind = TamperKind.CASE_OPENED) -> LockEvent | None:
        return self._capture(lambda: self.lib.lock_tamper(self._lock, int(kind)))

    def tick(self) -> LockEvent | None:
        return self._capture(lambda: self.lib.lock_tick(self._lock))

    # ------------------------------------------------------------- radio
    def radio_connected(self, mtu: int) -> None:
        self.lib.lock_radio_connected(self._lock, mtu)

    def radio_mtu_changed(self, mtu: int) -> None:
        self.lib.lock_radio_mtu_changed(self._lock, mtu)

    def radio_disconnected(self) -> None:
        self.lib.lock_radio_disconnected(self._lock)

    def radio_write(self, data: bytes) -> None:
        self.lib.lock_radio_write(self._lock, data, len(data))
        if self.factory_mode:
            self._read_keys()  # PROVISION is answered inside the write

    def radio_discard_partial(self) -> None:
        self.lib.lock_radio_discard_partial(self._lock)

    def session_established(self) -> bool:
        return bool(self.lib.lock_session_established(self._lock))

    def request_pending(self) -> bool:
        return bool(self.lib.lock_request_pending(self._lock))

    def pending_opcode(self) -> int:
        return int(self.lib.lock_pending_opcode(self._lock))

    def process(self) -> bool:
        """Execute the pending request (the core answers through the notify sink)."""
        if not self.request_pending():
            return False
        self._drain(self.battery_drain_per_request)
        self.lib.lock_set_rssi(self._lock, max(-128, min(127, self.signal_dbm)))
        ran = bool(self.lib.lock_process(self._lock))
        self._read_keys()
        return ran

    # -------------------------------------------------------- persistence
    def to_dict(self) -> dict[str, Any]:
        """Persistent state: the flash records plus the simulated hardware (holds PINs)."""
        real = self.time_source()
        return {
            "version": 1,
            "engine": "c",
            "name": self.name,
            "capacity": self.capacity,
            "event_log_size": self.event_log_size,
            "auto_lock_seconds": self.auto_lock_seconds,
            "battery": self.battery,
            "clock": {"device": self._clock.now(real), "real": real, "drift_ppm": self._clock.drift_ppm},
            "nvs": {str(k): v.hex() for k, v in sorted(self.nvs.items())},
            "factory_mode": self.factory_mode,
            "otp_sealed": self.otp_sealed,
            "master_pin": self.master_pin,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, device_key: bytes,
                  time_source: Callable[[], float] = time.time) -> CLock:
        """Power the lock up again on the flash it had (its clock kept running meanwhile)."""
        if data.get("engine") != "c":
            raise ValueError("not a C-engine lock state")
        clock = data["clock"]
        lock = cls(
            device_key=device_key,
            time_source=time_source,
            capacity=int(data["capacity"]),
            event_log_size=int(data["event_log_size"]),
            auto_lock_seconds=data.get("auto_lock_seconds"),
            name=str(data.get("name", "virtual-lock")),
            clock_drift_ppm=float(clock["drift_ppm"]),
            nvs={int(k): bytes.fromhex(v) for k, v in data["nvs"].items()},
            battery=float(data["battery"]),
            factory_mode=bool(data.get("factory_mode", False)),
            otp_sealed=bool(data.get("otp_sealed", False)),
            master_pin=str(data.get("master_pin") or DEFAULT_MASTER_PIN),
        )
        lock._clock = _Clock(float(clock["device"]), float(clock["real"]), lock.clock_drift_ppm)
        return lock
