"""Every message both ways between the Python central and the C lock, against the Python lock.

Each scenario runs on both engines with the same clock, nonces and inputs; the
bridge must decode exactly the same messages from each (responses, refusals,
events with their seq and timestamp). The Python engine is the reference
implementation, so a difference is a bug in one of them. Requests are also
fed to the C lock one byte at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from firmware_bridge.protocol import (
    ANY_SLOT,
    BoltState,
    CommitKeyRequest,
    DeleteCodeRequest,
    DoorState,
    FactoryResetRequest,
    ListCodesRequest,
    LockRequest,
    PutCodeRequest,
    ReadEventsRequest,
    RotateKeyRequest,
    SetTimeRequest,
    StatusRequest,
    TamperKind,
    UnlockRequest,
)
from firmware_bridge.protocol.vectors import EPOCH
from tests.firmware.engine import require_c_engine
from tests.firmware.harness import Bridge, LockUnderTest


@pytest.fixture(scope="module", autouse=True)
def c_engine():
    require_c_engine()


def _put(rid: int, slot: int, pin: str, name: str = "", starts: int | None = None, ends: int | None = None,
         replace: bool = False) -> bytes:
    return bytes(PutCodeRequest(rid, slot, pin, name, starts, ends, replace))


def _raw_put(rid: int, slot: int, pin: bytes, name: bytes, starts: int = 0, ends: int = 0, replace: int = 0) -> bytes:
    return (bytes([0x05]) + rid.to_bytes(2, "little") + slot.to_bytes(2, "little") + bytes([replace])
            + starts.to_bytes(4, "little") + ends.to_bytes(4, "little") + bytes([len(pin)]) + pin
            + bytes([len(name)]) + name)


def _set_time(rid: int, epoch: int, tz: bytes, offset: int = 0) -> bytes:
    return (bytes([0x04]) + rid.to_bytes(2, "little") + epoch.to_bytes(4, "little")
            + offset.to_bytes(2, "little", signed=True) + bytes([len(tz)]) + tz)


KEY_A, KEY_B, KEY_C = bytes(range(0x30, 0x40)), bytes(range(0x50, 0x60)), bytes(range(0x70, 0x80))


def _rotate_raw(rid: int, rotation: int, key: bytes) -> bytes:
    return bytes([0x09]) + rid.to_bytes(2, "little") + rotation.to_bytes(4, "little") + key


# Each step: ("req", plaintext bytes) through a secure record, or ("do", callable on the lock).
Step = tuple[str, Any]
SCENARIOS: dict[str, list[Step]] = {
    "status": [("req", bytes(StatusRequest(1)))],
    "lock and unlock": [("req", bytes(UnlockRequest(1))), ("req", bytes(LockRequest(2))),
                        ("req", bytes(StatusRequest(3)))],
    "set time": [("req", bytes(SetTimeRequest(1, EPOCH + 3600, "Europe/Paris", 60))),
                 ("req", bytes(StatusRequest(2)))],
    "set time refusals": [
        ("req", _set_time(1, 1_500_000_000, b"UTC")),
        ("req", _set_time(2, EPOCH, b"Mars/Olympus")),
        ("req", _set_time(3, EPOCH, b"Europe Paris")),
        ("req", _set_time(4, EPOCH, b"")),
        ("req", _set_time(5, EPOCH, b"UTC", 1081)),
        ("req", _set_time(6, EPOCH, b"UTC", -1081)),
        ("req", _set_time(7, EPOCH, b"A" * 65)),
        ("req", _set_time(8, EPOCH, b"\xff\xfe")),
        ("req", _set_time(9, EPOCH, b"UTC")[:-1]),
        ("req", _set_time(10, EPOCH, b"UTC") + b"\x00"),
    ],
    "put code rules": [
        ("req", _put(1, 3, "482913", "Alice", EPOCH, EPOCH + 86400)),
        ("req", _put(2, 3, "482913", "Alice", EPOCH, EPOCH + 86400)),  # idempotent
        ("req", _put(3, 4, "482913", "Bob")),  # PIN_CONFLICT
        ("req", _put(4, 3, "111111", "Carol")),  # SLOT_OCCUPIED
        ("req", _put(5, 3, "111111", "Carol", replace=True)),
        ("req", _put(6, ANY_SLOT, "222222", "Dan")),
        ("req", _put(7, 0, "333333")),
        ("req", _put(8, 251, "333333")),
        ("req", bytes(ListCodesRequest(9, 0, 10))),
        ("req", bytes(StatusRequest(10))),
    ],
    "put code refusals": [
        ("req", _raw_put(1, 1, b"12a4", b"")),
        ("req", _raw_put(2, 1, b"123", b"")),
        ("req", _raw_put(3, 1, b"123456789", b"")),
        ("req", _raw_put(4, 1, b"1234", "é".encode() * 15)),
        ("req", _raw_put(5, 1, b"1234", b"tab\there")),
        ("req", _raw_put(6, 1, b"1234", b"\xc3")),
        ("req", _raw_put(7, 1, b"1234", b"nul\x00")),
        ("req", _raw_put(8, 1, b"1234", b"", starts=EPOCH)),
        ("req", _raw_put(9, 1, b"1234", b"", starts=EPOCH, ends=EPOCH)),
        ("req", _raw_put(10, 1, b"1234", b"", replace=2)),
        ("req", _raw_put(11, 1, b"1234", b"x" * 57)),
        ("req", _raw_put(12, 1, b"1234", b"ok")[:-1]),
        ("req", _raw_put(13, 1, b"1234", b"ok") + b"!"),
        ("req", _raw_put(14, 1, b"1234", "\U0001f512 Lock 14 chars".encode()[:56])),
        ("req", _raw_put(15, 1, b"1234", b"\xed\xa0\x80")),  # a UTF-16 surrogate is not UTF-8
        ("req", _raw_put(16, 1, b"1234", b"\xe0\x80\xaf")),  # overlong
    ],
    "delete and list": [
        ("req", _put(1, 5, "555555", "Eve")),
        ("req", _put(2, 7, "777777", "Fay")),
        ("req", _put(3, 9, "999999", "Gus")),
        ("req", bytes(ListCodesRequest(4, 0, 2))),
        ("req", bytes(ListCodesRequest(5, 8, 2))),
        ("req", bytes(DeleteCodeRequest(6, 7))),
        ("req", bytes(DeleteCodeRequest(7, 7))),
        ("req", bytes(DeleteCodeRequest(8, 0))),
        ("req", bytes(DeleteCodeRequest(9, 251))),
        ("req", bytes([0x06, 10, 0, 0xFF, 0xFF])),
        ("req", bytes([0x07, 11, 0, 0, 0, 0])),
        ("req", bytes([0x07, 12, 0, 0, 0, 11])),
        ("req", bytes(ListCodesRequest(13, 1, 10))),
    ],
    "unknown and malformed": [
        ("req", bytes([0x20, 1, 0])),
        ("req", bytes([0x50, 2, 0])),
        ("req", bytes([0x01, 3, 0, 0])),
        ("req", bytes([0x01, 4])),  # no header: dropped, no answer
        ("req", bytes([0x08, 5, 0, 0, 0, 0, 0, 0])),
        ("req", bytes([0x08, 6, 0, 0, 0, 0, 0, 17])),
        ("req", bytes([0x02, 7, 0, 9])),
        ("req", bytes(StatusRequest(8))),
    ],
    "events of the physical world": [
        ("do", lambda lock: lock.set_door(DoorState.OPEN)),
        ("do", lambda lock: lock.set_door(DoorState.CLOSED)),
        ("do", lambda lock: lock.manual_turn()),
        ("do", lambda lock: lock.manual_turn(BoltState.LOCKED)),
        ("do", lambda lock: lock.tamper(TamperKind.CASE_OPENED)),
        ("do", lambda lock: lock.set_battery(14.2)),
        ("do", lambda lock: lock.press_lock_button()),
        ("req", bytes(ReadEventsRequest(1, 0, 16))),
        ("req", bytes(ReadEventsRequest(2, 3, 2))),
    ],
    "keypad": [
        ("req", _put(1, 3, "482913", "Alice")),
        ("req", _put(2, 4, "1234", "Later", EPOCH + 100, EPOCH + 200)),
        ("do", lambda lock: lock.enter_pin("482913")),
        ("do", lambda lock: lock.enter_pin("1234")),  # outside its window
        ("do", lambda lock: lock.enter_pin("0000")),
        ("do", lambda lock: lock.enter_pin("0001")),
        ("do", lambda lock: lock.enter_pin("0002")),
        ("do", lambda lock: lock.enter_pin("12345678901234567890")),  # five wrong: keypad lockout tamper
        ("do", lambda lock: lock.enter_pin("482913")),
        ("req", bytes(ReadEventsRequest(3, 0, 16))),
    ],
    "motor faults": [
        ("do", lambda lock: setattr(lock.faults, "jam_next", True)),
        ("req", bytes(UnlockRequest(1))),
        ("req", bytes(StatusRequest(2))),
        ("do", lambda lock: setattr(lock.faults, "obstruct_next", True)),
        ("req", bytes(LockRequest(3))),
        ("do", lambda lock: lock.manual_turn(BoltState.UNLOCKED)),
        ("do", lambda lock: setattr(lock.faults, "busy_next", True)),
        ("req", bytes(LockRequest(4))),
        ("do", lambda lock: lock.set_battery(3)),
        ("req", bytes(LockRequest(5))),
        ("do", lambda lock: lock.set_battery(100)),
        ("req", bytes(LockRequest(6))),
    ],
    "key rotation": [
        ("req", bytes(RotateKeyRequest(1, 5, KEY_A))),
        ("req", bytes(CommitKeyRequest(2, 5))),
        ("req", bytes(CommitKeyRequest(3, 5))),  # repeated: OK again
        ("req", bytes(RotateKeyRequest(4, 5, KEY_A))),  # the committed one again: same proof, nothing pending
        ("req", bytes(CommitKeyRequest(5, 6))),  # NO_PENDING_KEY
        ("req", bytes(RotateKeyRequest(6, 7, KEY_B))),
        ("req", bytes(RotateKeyRequest(7, 8, KEY_C))),  # replaces the pending pair
        ("req", bytes(CommitKeyRequest(8, 7))),  # not the pending rotation
        ("req", bytes(CommitKeyRequest(9, 8))),
        ("req", _rotate_raw(10, 0, KEY_A)),  # rotation 0 is reserved
        ("req", _rotate_raw(11, 9, KEY_A)[:-1]),
        ("req", _rotate_raw(12, 9, KEY_A) + b"\x00"),
        ("req", bytes(CommitKeyRequest(13, 8)) + b"\x00"),
        ("req", bytes([0x0A, 14, 0, 8, 0, 0])),
        ("req", bytes(StatusRequest(15))),
    ],
    "factory reset": [
        ("req", _put(1, 3, "482913", "Alice")),
        ("req", _put(2, 9, "1234")),
        ("do", lambda lock: lock.enter_pin("0000")),
        ("do", lambda lock: lock.set_door(DoorState.OPEN)),
        ("req", bytes(FactoryResetRequest(3))),  # PRESENCE_REQUIRED
        ("req", bytes(ListCodesRequest(4, 0, 10))),
        ("do", lambda lock: lock.hold_reset_button()),
        ("req", bytes(FactoryResetRequest(5)) + b"\x00"),  # MALFORMED, presence kept
        ("req", bytes(FactoryResetRequest(6))),
        ("req", bytes(FactoryResetRequest(7))),  # once per press
        ("req", bytes(ListCodesRequest(8, 0, 10))),
        ("req", bytes(ReadEventsRequest(9, 0, 16))),
        ("req", bytes(StatusRequest(10))),
        ("do", lambda lock: lock.tamper()),
        ("req", bytes(ReadEventsRequest(11, 0, 16))),
        ("do", lambda lock: lock.enter_pin("482913")),  # the code is gone
        ("req", bytes(ReadEventsRequest(12, 0, 16))),
    ],
    "storage full": [
        ("req", _put(1, 1, "111111")),
        ("do", lambda lock: setattr(lock.faults, "storage_full", True)),
        ("req", _put(2, 2, "222222")),
        ("req", _put(3, 1, "333333", replace=True)),
        ("req", bytes(StatusRequest(4))),
    ],
}


def _run(engine: str, steps: list[Step], byte_at_a_time: bool = False, **kwargs: Any) -> list[bytes]:
    lock = LockUnderTest(engine, **kwargs)
    bridge = Bridge(lock)
    bridge.handshake()
    seen: list[bytes] = []
    for kind, step in steps:
        if kind == "req":
            if byte_at_a_time:
                channel = bridge.central._channel
                data = b"".join(bridge.central._frame(channel.seal(step)))
                messages = bridge.send_bytes(data, byte_at_a_time=True)
            else:
                messages = bridge.raw(step)
        else:
            step(lock.lock)
            messages = bridge.feed(lock.take())
        seen += [bytes(m) if not isinstance(m, Exception) else repr(m).encode() for m in messages]
    return seen


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_c_lock_answers_like_the_python_lock(name: str) -> None:
    expected = _run("python", SCENARIOS[name])
    assert expected, "the scenario produced nothing to compare"
    assert _run("c", SCENARIOS[name]) == expected


@pytest.mark.parametrize("name", ["put code rules", "keypad", "unknown and malformed", "key rotation"])
def test_c_lock_decodes_requests_fed_one_byte_at_a_time(name: str) -> None:
    assert _run("c", SCENARIOS[name], byte_at_a_time=True) == _run("python", SCENARIOS[name])


def test_event_log_ring_drops_the_oldest_like_the_python_lock() -> None:
    steps: list[Step] = [("do", lambda lock: lock.tamper())] * 12
    steps += [("req", bytes(ReadEventsRequest(1, 0, 16))), ("req", bytes(StatusRequest(2)))]
    assert _run("c", steps, event_log_size=8) == _run("python", steps, event_log_size=8)


def test_auto_lock_fires_after_its_delay_with_the_door_closed() -> None:
    def advance(seconds: float) -> Callable[[Any], None]:
        def step(lock: Any) -> None:
            lock.time_source.now += seconds
            lock.tick()
        return step

    steps: list[Step] = [
        ("req", bytes(UnlockRequest(1))),
        ("do", advance(10)),
        ("do", lambda lock: lock.set_door(DoorState.OPEN)),
        ("do", advance(30)),  # due, but the door is open: waits
        ("do", lambda lock: lock.set_door(DoorState.CLOSED)),
        ("do", advance(29)),
        ("do", advance(2)),
        ("req", bytes(StatusRequest(2))),
    ]
    assert _run("c", steps, auto_lock_seconds=30) == _run("python", steps, auto_lock_seconds=30)


def test_keypad_master_mode_programs_and_refuses_like_the_python_lock() -> None:
    from firmware_bridge.simulator.lock import DEFAULT_MASTER_PIN, KeypadRefused

    outcomes: dict[str, list[object]] = {"python": [], "c": []}

    def program(engine: str, master: str, pin: str) -> Step:
        def step(lock: Any) -> None:
            try:
                outcomes[engine].append(lock.program_at_keypad(master, pin))
            except KeypadRefused as err:
                outcomes[engine].append(str(err))
        return ("do", step)

    def steps(engine: str) -> list[Step]:
        return [
            ("req", _put(1, 250, "1111", "Cloud")),
            program(engine, DEFAULT_MASTER_PIN, "8642"),  # the highest free slot: 249
            program(engine, DEFAULT_MASTER_PIN, "12"),
            program(engine, DEFAULT_MASTER_PIN, "1111"),
            program(engine, DEFAULT_MASTER_PIN, DEFAULT_MASTER_PIN),
            program(engine, "00000000", "5555"),  # a wrong PIN, logged
            *[("do", lambda lock: lock.enter_pin("0000"))] * 4,  # the fifth: lockout
            program(engine, DEFAULT_MASTER_PIN, "5555"),
            ("do", lambda lock: setattr(lock.time_source, "now", lock.time_source.now + 60)),
            program(engine, DEFAULT_MASTER_PIN, "5555"),
            ("do", lambda lock: lock.enter_pin("8642")),
            ("req", bytes(ListCodesRequest(2, 240, 10))),
            ("req", bytes(ReadEventsRequest(3, 0, 16))),
            ("req", bytes(StatusRequest(4))),
        ]

    expected = _run("python", steps("python"))
    assert _run("c", steps("c")) == expected
    assert outcomes["c"] == outcomes["python"]
    assert outcomes["python"][0] == 249 and outcomes["python"][-1] == 248


@pytest.mark.parametrize("auto_lock", [None, 30, 2.5, 0.2, 100_000])
def test_get_settings_answers_like_the_python_lock(auto_lock: float | None) -> None:
    from firmware_bridge.protocol import GetSettingsRequest

    steps: list[Step] = [("req", bytes(GetSettingsRequest(1))), ("req", bytes([0x10, 2, 0, 0]))]
    assert _run("c", steps, auto_lock_seconds=auto_lock) == _run("python", steps, auto_lock_seconds=auto_lock)


def test_get_settings_carries_the_provisioned_serial() -> None:
    from firmware_bridge.protocol import GetSettingsRequest, GetSettingsResponse
    from firmware_bridge.protocol.framing import encode_frame
    from firmware_bridge.protocol.provisioning import Provision
    from firmware_bridge.protocol.vectors import DEVICE_KEY
    from firmware_bridge.simulator.c_engine import CLock
    from tests.firmware.harness import FixedClock

    lock = LockUnderTest("c")
    lock.lock = CLock(factory_mode=True, time_source=FixedClock(), auto_lock_seconds=30,
                      randbytes=lambda n: bytes(range(0x20, 0x20 + n)))
    lock.lock.notify_sink = lambda chunk, _kind: lock.out.append(chunk)
    lock.lock.radio_connected(23)
    lock.write(encode_frame(Provision(DEVICE_KEY, bytes(range(0x40, 0x60)), "HALO-000042").body()))
    bridge = Bridge(lock)
    bridge.handshake()
    assert bridge.request(GetSettingsRequest(5)) == [GetSettingsResponse(5, 30, 0xFF, "HALO-000042")]
