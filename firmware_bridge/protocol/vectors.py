"""Test vectors for firmware engineers: ``python -m firmware_bridge.protocol.vectors``.

Runs a full session between a CentralConnection and a PeripheralConnection with
fixed nonces and prints every intermediate value. The output is pasted into
``docs/ble-protocol.md`` (a test checks that the two agree).
"""

from __future__ import annotations

from collections.abc import Iterator

from .connection import NEED_DATA, CentralConnection, PeripheralConnection
from .const import (
    CONFIRM_LABEL_BRIDGE,
    CONFIRM_LABEL_LOCK,
    DIRECTION_TO_BRIDGE,
    DIRECTION_TO_LOCK,
    BoltState,
    DoorState,
    Source,
)
from .crypto import aead_nonce, confirm_tag, derive_session_keys
from .framing import crc8, encode_frame
from .messages import (
    LockedEvent,
    Message,
    PutCodeRequest,
    StatusRequest,
    StatusResponse,
)

DEVICE_KEY = bytes(range(0x00, 0x10))
NONCE_BRIDGE = bytes(range(0x10, 0x20))
NONCE_LOCK = bytes(range(0x20, 0x30))
EPOCH = 1_700_000_000


def _fixed(value: bytes) -> Iterator[bytes]:
    while True:
        yield value


def _hex(data: bytes) -> str:
    return data.hex(" ")


def _chunks(label: str, chunks: list[bytes]) -> list[str]:
    return [f"{label} chunk {i}: {_hex(c)}" for i, c in enumerate(chunks)]


def lines() -> list[str]:
    """Every vector, one per line."""
    out = [
        "# CRC",
        f"CRC-8/SMBUS('123456789') = {crc8(b'123456789'):02x}",
        "frame(body=01) = " + _hex(encode_frame(bytes((1,)))),
        "",
        "# Inputs",
        f"device_key   = {_hex(DEVICE_KEY)}",
        f"nonce_bridge = {_hex(NONCE_BRIDGE)}",
        f"nonce_lock   = {_hex(NONCE_LOCK)}",
    ]
    keys = derive_session_keys(DEVICE_KEY, NONCE_BRIDGE, NONCE_LOCK)
    out += [
        "",
        "# Key schedule",
        f"session_key    = {_hex(keys.session_key)}",
        f"confirm_key    = {_hex(keys.confirm_key)}",
        f"session_id     = {_hex(keys.session_id)}",
        "confirm_lock   = "
        + _hex(confirm_tag(keys.confirm_key, CONFIRM_LABEL_LOCK, NONCE_BRIDGE, NONCE_LOCK)),
        "confirm_bridge = "
        + _hex(confirm_tag(keys.confirm_key, CONFIRM_LABEL_BRIDGE, NONCE_BRIDGE, NONCE_LOCK)),
    ]

    bridge_rand, lock_rand = _fixed(NONCE_BRIDGE), _fixed(NONCE_LOCK)
    central = CentralConnection(DEVICE_KEY, randbytes=lambda n: next(bridge_rand)[:n])
    lock = PeripheralConnection(DEVICE_KEY, randbytes=lambda n: next(lock_rand)[:n])

    hello = central.start_handshake()
    out += ["", "# Handshake (ATT MTU 23: 20-byte chunks)"] + _chunks("HELLO", hello)
    for chunk in hello:
        lock.receive_data(chunk)
    assert lock.next_event() is NEED_DATA
    challenge = lock.data_to_send()
    out += _chunks("CHALLENGE", challenge)
    for chunk in challenge:
        central.receive_data(chunk)
    central.next_event()
    confirm = central.data_to_send()
    out += _chunks("CONFIRM", confirm)
    for chunk in confirm:
        lock.receive_data(chunk)
    lock.next_event()

    def record(
        label: str, message: Message, direction: int, counter: int, chunks: list[bytes]
    ) -> None:
        out.extend(
            [
                "",
                f"# {label}: {message!r}",
                f"plaintext = {_hex(bytes(message))}",
                f"nonce     = {_hex(aead_nonce(direction, keys.session_id, counter))}",
            ]
        )
        out.extend(_chunks("frame", chunks))

    request = StatusRequest(1)
    record("bridge -> lock, counter 1", request, DIRECTION_TO_LOCK, 1, central.send(request))
    response = StatusResponse(
        1, BoltState.LOCKED, DoorState.CLOSED, 87, -60, EPOCH, "Europe/Paris", 60, 2, 250, 42
    )
    record("lock -> bridge, counter 1", response, DIRECTION_TO_BRIDGE, 1, lock.send(response))
    event = LockedEvent(43, EPOCH, Source.KEYPAD, 3)
    record("lock -> bridge, counter 2", event, DIRECTION_TO_BRIDGE, 2, lock.send(event))
    central.set_mtu(64)
    put = PutCodeRequest(2, 3, "482913", "Alice", EPOCH, EPOCH + 86400)
    record("bridge -> lock, counter 2, ATT MTU 64", put, DIRECTION_TO_LOCK, 2, central.send(put))
    return out


def main() -> None:
    print("\n".join(lines()))


if __name__ == "__main__":
    main()
