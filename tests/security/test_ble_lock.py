"""The lock protocol (version 2) against an attacker on the air: injected ALERTs,
rewritten version bytes, record sizes, handshake guessing, the keypad, and what the
virtual lock leaves at rest or on the air."""

from __future__ import annotations

import asyncio
import json

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from firmware_bridge.agent import virtual_backend
from firmware_bridge.agent.model import LockInfo
from firmware_bridge.protocol import (
    NEED_DATA,
    AuthenticationError,
    BoltState,
    CentralConnection,
    ConnectionState,
    ErrorCode,
    HandshakeBackoff,
    HandshakeFailed,
    IncorrectPinEvent,
    LockBusyError,
    PeripheralConnection,
    PutCodeRequest,
    RemoteProtocolError,
    TamperEvent,
    TamperKind,
    UnlockRequest,
    UnlockResponse,
)
from firmware_bridge.protocol.const import (
    HANDSHAKE_FREE_FAILURES,
    KEYPAD_LOCKOUT_AFTER,
    KEYPAD_LOCKOUT_INITIAL,
    KEYPAD_LOCKOUT_MAX,
    FrameType,
)
from firmware_bridge.protocol.crypto import derive_storage_key
from firmware_bridge.protocol.framing import encode_frame
from firmware_bridge.simulator.lock import VirtualLock
from firmware_bridge.simulator.peripheral import LockService
from tests.firmware_bridge.test_protocol_connection import Pair, frames_of, make_pair

KEY = bytes(range(16))
WRONG = bytes(range(1, 17))


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _alert(code: ErrorCode) -> list[bytes]:
    return [encode_frame(bytes((FrameType.ALERT, code)))]


# --- ALERTs once a session is up ---------------------------------------------------------


@pytest.mark.parametrize("code", [ErrorCode.NOT_AUTHENTICATED, ErrorCode.AUTH_FAILED, ErrorCode.UNSUPPORTED_VERSION])
def test_a_plaintext_alert_cannot_end_an_established_session(code: ErrorCode) -> None:
    pair = make_pair()
    pair.handshake()
    # An unlock is in flight when the forged alert arrives.
    assert pair.lock_receives(pair.central.send(UnlockRequest(1))) == [UnlockRequest(1)]
    with pytest.raises(RemoteProtocolError, match="ignored"):
        pair.bridge_receives(_alert(code))
    assert pair.central.state is ConnectionState.ESTABLISHED
    # The lock's genuine answer still arrives on the same session: nothing is resent.
    answer = UnlockResponse(1, BoltState.UNLOCKED)
    assert pair.bridge_receives(pair.lock.send(answer)) == [answer]
    assert pair.central.ignored_alerts == 1


# --- The version is bound into the keys ---------------------------------------------------


@pytest.mark.parametrize("frame_type", [FrameType.HELLO, FrameType.CHALLENGE])
def test_a_rewritten_version_byte_fails_the_handshake(frame_type: FrameType) -> None:
    pair = make_pair()
    hello = pair.central.start_handshake()
    if frame_type is FrameType.HELLO:
        body = bytearray(frames_of(hello)[0])
        body[1] = 3  # claims a newer bridge: the lock answers 2 but binds (3, 2)
        hello = [encode_frame(bytes(body))]
    pair.lock_receives(hello)
    challenge = pair.lock.data_to_send()
    if frame_type is FrameType.CHALLENGE:
        body = bytearray(frames_of(challenge)[0])
        body[1] = 3  # a version the bridge does not speak
        challenge = [encode_frame(bytes(body))]
    with pytest.raises((AuthenticationError, RemoteProtocolError)):
        pair.bridge_receives(challenge)
    assert pair.central.state is ConnectionState.FAILED


# --- Record sizes leak nothing about PINs or names ----------------------------------------


def _record_size(_pair: Pair, chunks: list[bytes]) -> int:
    return len(b"".join(chunks))


def test_pin_and_name_lengths_do_not_change_record_sizes() -> None:
    pair = make_pair(mtu=247)
    pair.handshake()
    sizes = {
        _record_size(pair, pair.central.send(PutCodeRequest(n, 1, pin, name)))
        for n, (pin, name) in enumerate([("1234", ""), ("123456", "Al"), ("12345678", "Bartholomew Xi")], 1)
    }
    assert len(sizes) == 1
    events = {
        _record_size(pair, pair.lock.send(IncorrectPinEvent(n, 1_700_000_000, digits)))
        for n, digits in enumerate(["1", "1234", "12345678", "1234567890123456"], 1)
    }
    assert len(events) == 1


# --- Handshake guessing -------------------------------------------------------------------


def _drain(lock: PeripheralConnection) -> list[object]:
    out = []
    while (event := lock.next_event()) is not NEED_DATA:
        out.append(event)
    return out


def _attempt(backoff: HandshakeBackoff) -> ErrorCode:
    """One guess on a fresh connection (the attacker reconnects): what the lock answered."""
    lock = PeripheralConnection(KEY, backoff=backoff)
    lock.receive_data(b"".join(CentralConnection(WRONG).start_handshake()))
    refused = _drain(lock)
    if refused:
        lock.data_to_send()
        (failed,) = refused
        assert isinstance(failed, HandshakeFailed)
        return failed.error
    assert frames_of(lock.data_to_send())[0][0] == FrameType.CHALLENGE
    lock.receive_data(encode_frame(bytes((FrameType.CONFIRM,)) + bytes(16)))
    (failed,) = _drain(lock)
    lock.data_to_send()
    assert isinstance(failed, HandshakeFailed)
    return failed.error


def test_the_lock_backs_off_after_failed_handshakes() -> None:
    clock = FakeTime()
    backoff = HandshakeBackoff(clock)
    for _ in range(HANDSHAKE_FREE_FAILURES + 1):
        assert _attempt(backoff) is ErrorCode.AUTH_FAILED
    assert _attempt(backoff) is ErrorCode.BUSY  # every HELLO refused meanwhile
    delays = []
    for _ in range(12):
        waited = 0.0
        while _attempt(backoff) is ErrorCode.BUSY:
            clock.now += 0.5
            waited += 0.5
        delays.append(waited)
    assert delays == sorted(delays) and delays[-1] >= 299  # doubling, capped at 300 s
    # The key holder gets in once the back-off ends, and that clears it.
    clock.now += 300
    pair = Pair(CentralConnection(KEY), PeripheralConnection(KEY, backoff=backoff))
    pair.handshake()
    assert backoff.failures == 0 and backoff.allows_handshake()


def test_a_bridge_told_busy_fails_the_handshake_and_can_retry() -> None:
    central = CentralConnection(KEY)
    central.start_handshake()
    central.receive_data(b"".join(_alert(ErrorCode.BUSY)))
    with pytest.raises(LockBusyError):
        central.next_event()
    assert central.state is ConnectionState.FAILED


# --- Keypad lockout -----------------------------------------------------------------------


def test_the_keypad_locks_out_after_wrong_pins_and_remote_unlock_still_works() -> None:
    clock = FakeTime()
    lock = VirtualLock(time_source=clock)
    lock._put_code(PutCodeRequest(1, 1, "482913", "Guest"))  # noqa: SLF001
    for _ in range(KEYPAD_LOCKOUT_AFTER + 2):
        lock.enter_pin("000000")
    assert lock.enter_pin("482913") is None, "the right PIN is refused during the lockout"
    assert lock.bolt is BoltState.LOCKED
    lockouts = [e for e in lock.events if isinstance(e, TamperEvent)]
    assert [e.kind for e in lockouts] == [TamperKind.KEYPAD_LOCKOUT]
    wrong = [e for e in lock.events if isinstance(e, IncorrectPinEvent)]
    assert len(wrong) == KEYPAD_LOCKOUT_AFTER  # nothing logged while locked out
    # The owner's remote unlock is not affected.
    assert isinstance(lock.handle(UnlockRequest(2)), UnlockResponse)
    assert lock.bolt is BoltState.UNLOCKED


def test_keypad_lockouts_double_up_to_fifteen_minutes_and_a_right_pin_resets() -> None:
    clock = FakeTime()
    lock = VirtualLock(time_source=clock)
    lock._put_code(PutCodeRequest(1, 1, "482913", "Guest"))  # noqa: SLF001
    for _ in range(KEYPAD_LOCKOUT_AFTER):
        lock.enter_pin("000000")
    durations = []
    for _ in range(6):
        start = clock.now
        while lock.keypad_locked_out:
            clock.now += 1
        durations.append(clock.now - start)
        lock.enter_pin("000000")  # one more wrong PIN: locked out again, twice as long
    expected = [min(KEYPAD_LOCKOUT_INITIAL * 2**n, KEYPAD_LOCKOUT_MAX) for n in range(6)]
    assert durations == expected
    while lock.keypad_locked_out:
        clock.now += 1
    assert lock.enter_pin("482913") is not None and lock.bolt is BoltState.UNLOCKED
    lock.enter_pin("000000")
    assert not lock.keypad_locked_out  # counting starts again


def test_a_keypad_lockout_survives_a_restart() -> None:
    clock = FakeTime()
    lock = VirtualLock(time_source=clock)
    for _ in range(KEYPAD_LOCKOUT_AFTER):
        lock.enter_pin("000000")
    restored = VirtualLock.from_dict(json.loads(json.dumps(lock.to_dict())), time_source=clock)
    assert restored.keypad_locked_out


# --- The virtual lock at rest and on the air ---------------------------------------------


def test_the_saved_state_is_not_encrypted_with_the_device_key_itself() -> None:
    blob = virtual_backend._seal(KEY, {"codes": [{"pin": "482913"}]})  # noqa: SLF001
    with pytest.raises(InvalidTag):
        AESGCM(KEY).decrypt(blob[:12], blob[12:], virtual_backend._AAD)  # noqa: SLF001
    state_key = derive_storage_key(KEY, b"state")
    assert json.loads(AESGCM(state_key).decrypt(blob[:12], blob[12:], virtual_backend._AAD))  # noqa: SLF001
    assert virtual_backend._open(KEY, blob) == {"codes": [{"pin": "482913"}]}  # noqa: SLF001


def test_a_virtual_lock_advertises_no_personal_name(tmp_path) -> None:
    info = LockInfo(
        lock_id="lock-1", name="Anna's front door", ble_address="D0:4C:4B:00:00:01",
        device_key=KEY, timezone="UTC",
    )

    async def scenario() -> None:
        backend = virtual_backend.VirtualBackend(tmp_path, control=False)
        await backend.start([info], lambda _lock_id: None)
        try:
            peripheral = backend.world.peripheral(info.ble_address)
            advertising, scan_response = LockService.advertising_data(peripheral.name)
            assert b"Anna" not in advertising + scan_response
            assert peripheral.name == virtual_backend.ADVERTISED_NAME
        finally:
            await backend.close()

    asyncio.run(scenario())

