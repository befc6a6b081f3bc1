"""The test vectors of docs/ble-protocol.md section 11, reproduced by the C core.

The vectors come from `firmware_bridge.protocol.vectors` (the document's
source, kept equal to it by tests/firmware_bridge), so when the protocol
changes these tests say at once whether the C lock still speaks it.
"""

from __future__ import annotations

import re

import pytest

from firmware_bridge.protocol import PutCodeRequest, PutCodeResponse, StatusRequest, StatusResponse
from firmware_bridge.protocol.connection import HandshakeComplete
from firmware_bridge.protocol.vectors import EPOCH, lines
from tests.firmware.engine import require_c_engine
from tests.firmware.harness import Bridge, LockUnderTest

pytestmark = pytest.mark.usefixtures("c_engine")


@pytest.fixture(scope="module")
def c_engine():
    require_c_engine()


def _vector_chunks(label: str) -> list[bytes]:
    """The chunks listed under a '# label' block (or the handshake lines 'LABEL chunk i')."""
    out, inside = [], False
    for line in lines():
        if line.startswith("# "):
            inside = line.startswith(f"# {label}")
            continue
        match = re.match(rf"^{label} chunk \d+: (.*)$", line)
        if match:
            out.append(bytes.fromhex(match.group(1)))
        elif inside and line.startswith("frame chunk"):
            out.append(bytes.fromhex(line.split(": ", 1)[1]))
    return out


def _value(name: str) -> bytes:
    for line in lines():
        if line.startswith(name):
            return bytes.fromhex(line.split("=", 1)[1].strip())
    raise KeyError(name)


def _vector_lock() -> LockUnderTest:
    """A C lock in the state of the vectors' StatusResponse, set through its storage."""
    from firmware_bridge.simulator.c_engine import NVS_SLOT_BASE

    # The storage layouts of firmware/README.md: the state record (bolt, door,
    # offset, seq floor 42, time zone) and two code slots (padded PIN and name).
    tz = b"Europe/Paris"
    state = bytes([0x4C, 2, 1, 1, 0]) + (60).to_bytes(2, "little") + (42).to_bytes(4, "little")
    state += bytes(5) + bytes([len(tz)]) + tz
    codes = {NVS_SLOT_BASE + slot: slot.to_bytes(2, "little") + bytes(8) + b"\x04" + pin + bytes(4) + bytes(57)
             for slot, pin in ((1, b"1111"), (2, b"2222"))}
    return LockUnderTest("c", nvs={0x0001: state, **codes}, battery=87.0, signal_dbm=-60,
                         battery_drain_per_request=0.0)


def test_crc_check_values():
    from firmware_bridge.simulator.c_engine import load_library

    lib = load_library()
    assert lib.lkp_crc8(b"123456789", 9) == 0xF4
    assert lib.lkp_crc32(b"123456789", 9) == 0xCBF43926


def test_challenge_chunks_are_the_vectors():
    lock = _vector_lock()
    bridge = Bridge(lock)
    hello = b"".join(bridge.central.start_handshake())
    assert lock.write(hello) == _vector_chunks("CHALLENGE")


def test_handshake_completes_with_the_vectors_keys():
    lock = _vector_lock()
    bridge = Bridge(lock)
    assert bridge.handshake() == [HandshakeComplete(_value("session_id"))]
    assert lock.lock.session_established()


def test_status_response_record_is_the_vectors():
    lock = _vector_lock()
    bridge = Bridge(lock)
    bridge.handshake()
    request = b"".join(bridge.central.send(StatusRequest(1)))
    assert request == b"".join(_vector_chunks("bridge -> lock, counter 1"))
    answer = lock.write(request)
    assert answer == _vector_chunks("lock -> bridge, counter 1")
    [status] = bridge.feed(answer)
    assert status == StatusResponse(1, status.bolt, status.door, 87, -60, EPOCH, "Europe/Paris", 60, 2, 250, 42)


def test_put_code_at_mtu_64_is_stored():
    lock = _vector_lock()
    bridge = Bridge(lock)
    bridge.handshake()
    bridge.request(StatusRequest(1))
    bridge.central.set_mtu(64)
    put = PutCodeRequest(2, 3, "482913", "Alice", EPOCH, EPOCH + 86400)
    chunks = bridge.central.send(put)
    assert chunks == _vector_chunks("bridge -> lock, counter 2, ATT MTU 64")
    assert bridge.feed(lock.write(b"".join(chunks))) == [PutCodeResponse(2, 3)]
    entry = lock.lock.codes[3]
    assert (entry.pin, entry.name, entry.starts_at, entry.ends_at) == ("482913", "Alice", EPOCH, EPOCH + 86400)


# Section 15: key rotation, factory reset and provisioning, from the same generator.
def _rotation_value(name: str) -> bytes:
    from firmware_bridge.protocol.vectors import rotation_lines

    for line in rotation_lines():
        if line.startswith(name):
            return bytes.fromhex(line.split("=", 1)[1].strip())
    raise KeyError(name)


def _rotation_chunks(label: str) -> list[bytes]:
    from firmware_bridge.protocol.vectors import rotation_lines

    return [bytes.fromhex(line.split(": ", 1)[1]) for line in rotation_lines() if line.startswith(f"{label} chunk")]


def _secure_plaintexts(bridge: Bridge, chunks: list[bytes]) -> list[bytes]:
    return [bytes(m) for m in bridge.feed(chunks)]


def test_rotate_and_commit_answers_are_the_vectors():
    from firmware_bridge.protocol.framing import FrameDecoder

    lock = _vector_lock()
    bridge = Bridge(lock)
    bridge.handshake()
    # The first bridge -> lock record is the vectors' sealed ROTATE_KEY.
    record = b"".join(bridge.central._frame(bridge.central._channel.seal(_rotation_value("ROTATE_KEY request"))))
    decoder = FrameDecoder()
    decoder.feed(record)
    assert decoder.next_frame()[5:] == _rotation_value("ct || tag")
    assert _secure_plaintexts(bridge, lock.write(record)) == [_rotation_value("ROTATE_KEY response")]
    assert bridge.raw(_rotation_value("COMMIT_KEY request")) and lock.lock.device_key == bytes(range(0x30, 0x40))
    # A fresh lock has nothing pending: refused with the vectors' bytes.
    fresh = _vector_lock()
    other = Bridge(fresh)
    other.handshake()
    assert [bytes(m) for m in other.raw(_rotation_value("COMMIT_KEY request"))] == [
        _rotation_value("COMMIT_KEY refused")]


def test_after_commit_the_challenge_is_answered_under_the_new_key():
    lock = _vector_lock()
    bridge = Bridge(lock)
    bridge.handshake()
    assert [bytes(m) for m in bridge.raw(_rotation_value("ROTATE_KEY request"))] == [
        _rotation_value("ROTATE_KEY response")]
    assert [bytes(m) for m in bridge.raw(_rotation_value("COMMIT_KEY request"))] == [
        _rotation_value("COMMIT_KEY response")]
    challenge = b"".join(lock.write(b"".join(Bridge(lock).central.start_handshake())))
    assert challenge[4 + 18:4 + 34] == _rotation_value("confirm_lock (new key)")


def test_factory_reset_answers_are_the_vectors():
    lock = _vector_lock()
    bridge = Bridge(lock)
    bridge.handshake()
    assert [bytes(m) for m in bridge.raw(_rotation_value("FACTORY_RESET request"))] == [
        _rotation_value("FACTORY_RESET refused")]
    lock.lock.hold_reset_button()
    assert [bytes(m) for m in bridge.raw(_rotation_value("FACTORY_RESET request"))] == [
        _rotation_value("FACTORY_RESET response")]
    assert lock.lock.codes == {}


def test_provision_chunks_are_answered_with_the_vectors():
    from firmware_bridge.simulator.c_engine import CLock

    lock = CLock(factory_mode=True)
    out: list[bytes] = []
    lock.notify_sink = lambda chunk, _kind: out.append(chunk)
    lock.radio_connected(23)
    chunks = _rotation_chunks("PROVISION (ATT MTU 23)")
    assert len(chunks) == 4
    for chunk in chunks:
        lock.radio_write(chunk)
    assert b"".join(out)[4:-4] == _rotation_value("PROVISIONED body")
    assert lock.device_key == bytes(range(16)) and not lock.factory_mode
    out.clear()
    for chunk in chunks:
        lock.radio_write(chunk)
    assert b"".join(out)[4:-4] == _rotation_value("refused (again)")


# Section 19: offline codes and weekly schedules.
def _offline_value(name: str) -> bytes:
    from firmware_bridge.protocol.vectors import offline_lines

    for line in offline_lines():
        if line.startswith(name + " ") or line.startswith(name + "="):
            return bytes.fromhex(line.split("=", 1)[1].strip())
    raise KeyError(name)


def _offline_pins() -> list[str]:
    from firmware_bridge.protocol.vectors import offline_lines

    return [line.split("= ")[-1].strip() for line in offline_lines() if line.startswith("PIN ")]


def _plain(bridge: Bridge, plaintext: bytes) -> list[bytes]:
    return [bytes(m) for m in bridge.raw(plaintext)]


def test_offline_and_schedule_answers_are_the_vectors():
    lock = _vector_lock()
    bridge = Bridge(lock)
    bridge.handshake()
    assert _plain(bridge, _offline_value("SET_OFFLINE_SECRET request")) == [
        _offline_value("SET_OFFLINE_SECRET response")]
    assert _plain(bridge, _offline_value("REVOKE_OFFLINE_CODE request")) == [
        _offline_value("REVOKE_OFFLINE_CODE response")]
    put = _offline_value("PUT_SCHEDULED_CODE request")
    assert _plain(bridge, put) == [_offline_value("PUT_SCHEDULED_CODE response")]
    assert _plain(bridge, _offline_value("GET_CODE_SCHEDULE request")) == [
        _offline_value("GET_CODE_SCHEDULE response")]
    extension = put.index(bytes([0x01, 0x16]))  # the extension byte, then the rule's length
    refused = put[:extension] + b"\x02" + put[extension + 1:]
    assert _plain(bridge, refused) == [_offline_value("PUT_SCHEDULED_CODE refused (extension 2)")]


def test_the_vectors_offline_pins_open_the_c_lock():
    from firmware_bridge.protocol.vectors import offline_lines

    lock = _vector_lock()
    bridge = Bridge(lock)
    bridge.handshake()
    _plain(bridge, _offline_value("SET_OFFLINE_SECRET request"))
    for line in offline_lines():
        if line.startswith("code "):
            kind, start = line.split()[2], int(line.split()[4])
            lock.clock.now = start * 3600 + 60
        if line.startswith("PIN "):
            pin = line.split("= ")[-1].strip()
            before = lock.lock.head_seq
            assert type(lock.lock.enter_pin(pin)).__name__ == "UnlockedEvent", (kind, pin)
            [used] = [e for e in lock.lock.events if e.seq > before and type(e).__name__ == "OfflineCodeUsedEvent"]
            assert used.start_hour == start
            lock.lock.press_lock_button()
