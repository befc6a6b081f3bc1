"""The Python central (`CentralConnection`) wired to a lock of either engine, with no BLE.

`LockUnderTest` gives both engines one surface: ``write(bytes)`` carries bridge
chunks to the lock and returns the lock's notifications; for the Python engine
the lock is `PeripheralConnection` + `VirtualLock` wired like the GATT
peripheral, for the C engine it is `CLock` (framing, records and dispatch in C).
`Bridge` drives one through the Python central and decodes what comes back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from firmware_bridge.protocol.connection import (
    NEED_DATA,
    CentralConnection,
    ConnectionState,
    PeripheralConnection,
)
from firmware_bridge.protocol.errors import ProtocolError
from firmware_bridge.protocol.messages import Request
from firmware_bridge.protocol.vectors import DEVICE_KEY, EPOCH, NONCE_BRIDGE, NONCE_LOCK
from firmware_bridge.simulator.lock import VirtualLock


class FixedClock:
    def __init__(self, now: float = EPOCH) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class LockUnderTest:
    def __init__(self, engine: str, *, mtu: int = 23, clock: FixedClock | None = None,
                 randbytes: Callable[[int], bytes] = lambda n: NONCE_LOCK[:n], **lock_kwargs: Any) -> None:
        self.engine = engine
        self.clock = clock or FixedClock()
        self.out: list[bytes] = []
        if engine == "c":
            from firmware_bridge.simulator.c_engine import CLock

            self.lock: Any = CLock(device_key=DEVICE_KEY, time_source=self.clock, randbytes=randbytes,
                                   **lock_kwargs)
            self.lock.notify_sink = lambda chunk, _kind: self.out.append(chunk)
            self.lock.radio_connected(mtu)
        else:
            self.lock = VirtualLock(time_source=self.clock, **lock_kwargs)
            self.conn = PeripheralConnection(DEVICE_KEY, mtu=mtu, randbytes=randbytes)
            self.lock.add_listener(self._on_event)

    def _on_event(self, event: Any) -> None:
        if self.conn.state is ConnectionState.ESTABLISHED:
            self.out.extend(self.conn.send(event))

    def write(self, data: bytes) -> list[bytes]:
        """Bridge -> lock bytes; every request they complete is executed. Returns the notifications."""
        if self.engine == "c":
            self.lock.radio_write(data)
            while self.lock.request_pending():
                self.lock.process()
        else:
            self.conn.receive_data(data)
            while True:
                try:
                    event = self.conn.next_event()
                except ProtocolError:
                    event = None
                self.out.extend(self.conn.data_to_send())
                if event is NEED_DATA:
                    break
                if isinstance(event, Request):
                    self.out.extend(self.conn.send(self.lock.handle(event)))
        return self.take()

    def take(self) -> list[bytes]:
        out, self.out = self.out, []
        return out

    def reconnect(self, mtu: int = 23) -> None:
        """The link dropped and came back (no session)."""
        if self.engine == "c":
            self.lock.radio_disconnected()
            self.lock.radio_connected(mtu)
        else:
            self.conn.reset()


class Bridge:
    """The Python central talking to a `LockUnderTest`."""

    def __init__(self, lock: LockUnderTest, *, mtu: int = 23, key: bytes = DEVICE_KEY) -> None:
        self.lock = lock
        self.central = CentralConnection(key, mtu=mtu, randbytes=lambda n: NONCE_BRIDGE[:n])

    def feed(self, chunks: list[bytes]) -> list[Any]:
        """Lock -> bridge chunks into the central; the messages it decodes."""
        for chunk in chunks:
            self.central.receive_data(chunk)
        messages = []
        while True:
            try:
                event = self.central.next_event()
            except ProtocolError as err:
                messages.append(err)
                continue
            if event is NEED_DATA:
                return messages
            messages.append(event)

    def send_bytes(self, data: bytes, *, byte_at_a_time: bool = False) -> list[Any]:
        if byte_at_a_time:
            out: list[bytes] = []
            for i in range(len(data)):
                out += self.lock.write(data[i : i + 1])
        else:
            out = self.lock.write(data)
        return self.feed(out)

    def handshake(self, *, byte_at_a_time: bool = False) -> list[Any]:
        messages = self.send_bytes(b"".join(self.central.start_handshake()), byte_at_a_time=byte_at_a_time)
        return messages + self.send_bytes(b"".join(self.central.data_to_send()), byte_at_a_time=byte_at_a_time)

    def request(self, request: Request, *, byte_at_a_time: bool = False) -> list[Any]:
        return self.send_bytes(b"".join(self.central.send(request)), byte_at_a_time=byte_at_a_time)

    def raw(self, plaintext: bytes) -> list[Any]:
        """A secure record around any plaintext (malformed requests included)."""
        channel = self.central._channel  # the test crafts what a real bridge never sends
        assert channel is not None
        return self.send_bytes(b"".join(self.central._frame(channel.seal(plaintext))))
