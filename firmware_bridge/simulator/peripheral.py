"""The virtual lock as a Bumble GATT peripheral.

`LockService` is the lock's vendor GATT service (request: write, response:
notify, info: read).  `VirtualLockPeripheral` puts a `VirtualLock` (the state
machine) behind it: one `PeripheralConnection` (the sans-IO protocol, lock
side) per BLE connection, advertising with the service UUID and the lock's
name, unsolicited events pushed to the connected bridge, and the lock's
link-level faults acted out on the radio (dropping the link in the middle of a
command or of a response, answering slowly, losing notifications, refusing to
advertise for a while).

It runs on Bumble's in-process link (tests, the sandbox: see
`firmware_bridge.bumble_backend.world.VirtualWorld`) or on a real controller::

    firmware-bridge virtual-lock --transport usb:0 --key 00112233445566778899aabbccddeeff
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bumble import hci
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device
from bumble.gatt import Characteristic, CharacteristicValue, Service
from bumble.host import Host
from bumble.transport.common import AsyncPipeSink

from firmware_bridge.bumble_backend.virtual_radio import VirtualController, VirtualLink
from firmware_bridge.protocol import const
from firmware_bridge.protocol.connection import (
    NEED_DATA,
    ConnectionState,
    HandshakeBackoff,
    HandshakeComplete,
    HandshakeFailed,
    PeripheralConnection,
)
from firmware_bridge.protocol.crypto import parse_device_key
from firmware_bridge.protocol.errors import ProtocolError
from firmware_bridge.protocol.messages import LockEvent, Request, Response
from firmware_bridge.protocol.provisioning import Provision
from firmware_bridge.simulator.lock import VirtualLock

_LOGGER = logging.getLogger(__name__)

# How often the lock advertises while nobody is connected: fast for a while after it
# starts advertising (power-on, a central left), as battery locks do, so that a
# central coming back soon connects at once (connection set-up waits for the next
# advertisement); then slowly. Each advertisement costs the simulating process a
# timer and a PDU through the link, so an idle virtual lock must not send 50 a second.
DEFAULT_ADVERTISING_INTERVAL_MS = 20.0
SLOW_ADVERTISING_INTERVAL_MS = 500.0
FAST_ADVERTISING_SECONDS = 5.0
# The lock's timers (auto-lock) and the advertising fault are checked this often.
TICK_INTERVAL = 0.2
# Longest local name that fits the 31-byte advertisement next to the flags
# and the 128-bit service UUID (the full name also goes in the scan response).
_ADV_NAME_MAX = 8


class LockService(Service):
    """The lock's GATT service: request (write), response (notify), info (read)."""

    def __init__(
        self,
        on_request: Callable[[Connection, bytes], None],
        read_info: Callable[[Connection], bytes],
    ) -> None:
        self.request = Characteristic(
            const.REQUEST_CHAR_UUID,
            Characteristic.Properties.WRITE | Characteristic.Properties.WRITE_WITHOUT_RESPONSE,
            Characteristic.WRITEABLE,
            CharacteristicValue(write=on_request),
        )
        self.response = Characteristic(
            const.RESPONSE_CHAR_UUID, Characteristic.Properties.NOTIFY, Characteristic.READABLE, b""
        )
        self.info = Characteristic(
            const.INFO_CHAR_UUID,
            Characteristic.Properties.READ,
            Characteristic.READABLE,
            CharacteristicValue(read=read_info),
        )
        super().__init__(const.SERVICE_UUID, [self.request, self.response, self.info])

    @staticmethod
    def advertising_data(name: str) -> tuple[bytes, bytes]:
        """(advertising data, scan response data) for a lock called ``name``."""
        short = name.encode()[:_ADV_NAME_MAX]
        name_type = (
            AdvertisingData.COMPLETE_LOCAL_NAME
            if short == name.encode()
            else AdvertisingData.SHORTENED_LOCAL_NAME
        )
        advertising = AdvertisingData(
            [
                (AdvertisingData.FLAGS, bytes([0x06])),  # LE general discoverable, no BR/EDR
                (
                    AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                    UUID(const.SERVICE_UUID).to_bytes(),
                ),
                (name_type, short),
            ]
        )
        scan_response = AdvertisingData([(AdvertisingData.COMPLETE_LOCAL_NAME, name.encode()[:29])])
        return bytes(advertising), bytes(scan_response)


@dataclass
class _Session:
    """One BLE connection: its protocol state and its ordered outgoing queue."""

    connection: Connection
    protocol: PeripheralConnection
    outgoing: asyncio.Queue[tuple[list[bytes], str]] = field(default_factory=asyncio.Queue)
    requests: asyncio.Queue[Request] = field(default_factory=asyncio.Queue)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    last_write: float = 0.0  # loop time of the last chunk received


class VirtualLockPeripheral:
    """A `VirtualLock` served over BLE by a Bumble device (one central at a time)."""

    def __init__(
        self,
        lock: VirtualLock,
        device_key: bytes | str,
        device: Device,
        *,
        name: str | None = None,
        advertising_interval_ms: float = DEFAULT_ADVERTISING_INTERVAL_MS,
        slow_advertising_interval_ms: float = SLOW_ADVERTISING_INTERVAL_MS,
        transport: Any = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.lock = lock
        # Called after each handled request and each lock event (e.g. to save the state).
        self.on_change = on_change
        self.device = device
        self.name = name or lock.name
        self._device_key = parse_device_key(device_key)
        if isinstance(lock, VirtualLock):  # the C core keeps its own key (its NV records)
            lock.install_key(self._device_key)
            lock.on_key_change(self._on_key_change)
        self._advertising_interval_ms = advertising_interval_ms
        self._slow_advertising_interval_ms = max(slow_advertising_interval_ms, advertising_interval_ms)
        self._advertising_since: float | None = None  # loop time advertising last (re)started
        self._advertising_slowly = False
        self._transport = transport
        self.service = LockService(self._on_request_write, self._read_info)
        self.device.add_service(self.service)
        self._sessions: dict[int, _Session] = {}
        self._advertising_lock = asyncio.Lock()
        self._tick_task: asyncio.Task[None] | None = None
        self._started = False
        self.rejected_frames = 0  # bad frames received (tampered, replayed, garbage)
        self.handshakes_failed = 0
        # One per lock, not per connection: a guesser simply reconnects.
        self.handshake_backoff = HandshakeBackoff(lock.time_source)
        lock.add_listener(self._on_lock_event)

    # -- construction -------------------------------------------------------------------

    @classmethod
    def on_link(
        cls,
        link: VirtualLink,
        lock: VirtualLock,
        device_key: bytes | str,
        address: str,
        **kwargs: Any,
    ) -> VirtualLockPeripheral:
        """A peripheral with its own software controller on Bumble's in-process link."""
        controller = VirtualController(f"lock-{address}", link=link)
        device = Device(
            name=kwargs.get("name") or lock.name,
            address=hci.Address(address),
            host=Host(controller, AsyncPipeSink(controller)),
        )
        return cls(lock, device_key, device, **kwargs)

    @classmethod
    async def open(
        cls,
        transport_spec: str,
        lock: VirtualLock,
        device_key: bytes | str,
        address: str,
        **kwargs: Any,
    ) -> VirtualLockPeripheral:
        """A peripheral on a real controller (``usb:0``, ``tcp-client:host:port``...)."""
        from bumble.transport import open_transport

        transport = await open_transport(transport_spec)
        device = Device.with_hci(
            kwargs.get("name") or lock.name,
            hci.Address(address),
            transport.source,
            transport.sink,
        )
        return cls(lock, device_key, device, transport=transport, **kwargs)

    @property
    def address(self) -> str:
        return self.device.random_address.to_string(with_type_qualifier=False).upper()

    async def start(self) -> None:
        if not self._started:
            self._started = True
            self.device.on(self.device.EVENT_CONNECTION, self._on_connection)
            await self.device.power_on()
            self._tick_task = asyncio.ensure_future(self._tick_loop())
        await self._update_advertising()

    async def stop(self) -> None:
        self._started = False
        if self._tick_task is not None:
            self._tick_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tick_task
        # An advertising update under way finishes its HCI commands first: cancelled in the
        # middle, the controller's late answer would meet a cancelled future (Bumble then
        # logs InvalidStateError); updates scheduled later see the lock stopped.
        async with self._advertising_lock:
            with contextlib.suppress(Exception):
                await self.device.stop_advertising()
        for session in list(self._sessions.values()):
            with contextlib.suppress(Exception):
                await session.connection.disconnect()
            self._end_session(session)
        self.lock.remove_listener(self._on_lock_event)
        if self._transport is not None:
            with contextlib.suppress(Exception):
                await self.device.power_off()
            await self._transport.close()

    # -- advertising ------------------------------------------------------------------

    @property
    def is_advertising(self) -> bool:
        return bool(self.device.legacy_advertising_set or self.device.legacy_advertiser)

    def refuse_advertising(self, seconds: float) -> None:
        """Fault: do not advertise (so nobody can connect) for ``seconds`` of the lock's time source."""
        self.lock.refuse_advertising(seconds)
        self._schedule_advertising_update()

    def _schedule_advertising_update(self) -> None:
        task = asyncio.ensure_future(self._update_advertising())
        task.add_done_callback(_log_task_error)

    async def _update_advertising(self) -> None:
        async with self._advertising_lock:
            if not self._started:
                return
            wanted = not self._sessions and self.lock.advertising_allowed()
            now = asyncio.get_running_loop().time()
            if wanted and not self.is_advertising:
                await self._start_advertising(self._advertising_interval_ms)
                self._advertising_since, self._advertising_slowly = now, False
            elif (
                wanted
                and not self._advertising_slowly
                and self._advertising_since is not None
                and now - self._advertising_since >= FAST_ADVERTISING_SECONDS
            ):
                await self.device.stop_advertising()
                await self._start_advertising(self._slow_advertising_interval_ms)
                self._advertising_slowly = True
            elif not wanted and self.is_advertising:
                await self.device.stop_advertising()

    async def _start_advertising(self, interval_ms: float) -> None:
        advertising, scan_response = LockService.advertising_data(self.name)
        await self.device.start_advertising(
            advertising_data=advertising,
            scan_response_data=scan_response,
            advertising_interval_min=interval_ms,
            advertising_interval_max=interval_ms,
        )

    async def _tick_loop(self) -> None:
        """The lock's timers (auto-lock) and the advertising fault, a few times a second."""
        while True:
            await asyncio.sleep(TICK_INTERVAL)
            try:
                self.lock.tick()
                # Shielded: stop() cancels this loop, never an HCI exchange in progress.
                await asyncio.shield(self._update_advertising())
            except Exception:  # keep ticking: a controller hiccup must not stop auto-lock
                _LOGGER.exception("%s: timer tick failed", self.name)

    # -- connections --------------------------------------------------------------------

    def _on_connection(self, connection: Connection) -> None:
        session = _Session(
            connection,
            PeripheralConnection(
                self._key_for_handshakes(), mtu=connection.att_mtu, backoff=self.handshake_backoff
            ),
        )
        self._sessions[connection.handle] = session
        for loop in (self._send_loop, self._request_loop, self._handshake_deadline):
            task = asyncio.ensure_future(loop(session))
            task.add_done_callback(_log_task_error)  # e.g. a notify racing the link's end
            session.tasks.append(task)
        connection.on(
            connection.EVENT_CONNECTION_ATT_MTU_UPDATE,
            lambda: session.protocol.set_mtu(connection.att_mtu),
        )
        connection.on(
            connection.EVENT_DISCONNECTION, lambda _reason: self._on_disconnection(session)
        )
        self._schedule_advertising_update()
        _LOGGER.debug("%s: central %s connected", self.name, connection.peer_address)

    def _key_for_handshakes(self) -> bytes | None:
        """The lock's current key; None while a Python lock is in factory mode."""
        return self.lock.device_key if isinstance(self.lock, VirtualLock) else self._device_key

    def _on_key_change(self, key: bytes) -> None:
        # Sessions in progress keep their session keys; their next HELLO needs the new key.
        for session in self._sessions.values():
            session.protocol.replace_device_key(key)

    async def _handshake_deadline(self, session: _Session) -> None:
        """A real lock drops a central that connects but never authenticates (it blocks others)."""
        await asyncio.sleep(const.LOCK_HANDSHAKE_IDLE_TIMEOUT)
        if session.protocol.state is not ConnectionState.ESTABLISHED:
            _LOGGER.info(
                "%s: no handshake from %s, dropping it", self.name, session.connection.peer_address
            )
            await session.connection.disconnect()

    def _on_disconnection(self, session: _Session) -> None:
        _LOGGER.debug("%s: central %s disconnected", self.name, session.connection.peer_address)
        self._end_session(session)
        self._schedule_advertising_update()

    def _end_session(self, session: _Session) -> None:
        self._sessions.pop(session.connection.handle, None)
        session.protocol.reset()
        for task in session.tasks:
            task.cancel()

    async def drop_connections(self) -> None:
        """Drop every link now (the lock's radio reset, or it moved out of range)."""
        for session in list(self._sessions.values()):
            with contextlib.suppress(Exception):
                await session.connection.disconnect()

    def forget_sessions(self) -> None:
        """Fault: the lock rebooted (links kept, session keys gone); bridges must handshake again."""
        for session in self._sessions.values():
            session.protocol.reset()

    # -- GATT callbacks ----------------------------------------------------------------

    def _read_info(self, _connection: Connection) -> bytes:
        return bytes(self.lock.info)

    def _on_request_write(self, connection: Connection, value: bytes) -> None:
        session = self._session_written(connection)
        if session is None:
            return
        protocol = session.protocol
        protocol.receive_data(bytes(value))
        while True:
            try:
                event = protocol.next_event()
            except ProtocolError as err:
                self.rejected_frames += 1
                _LOGGER.info("%s: rejected a frame: %s", self.name, err)
                event = None
            if chunks := protocol.data_to_send():  # CHALLENGE, ALERTs, automatic error answers
                session.outgoing.put_nowait((chunks, "protocol"))
            if event is NEED_DATA:
                return
            if isinstance(event, HandshakeFailed):
                self.handshakes_failed += 1
            elif isinstance(event, HandshakeComplete):
                _LOGGER.debug("%s: session %s", self.name, event.session_id.hex())
            elif isinstance(event, Request):
                session.requests.put_nowait(event)
            elif isinstance(event, Provision):
                if self.lock.provision(event):
                    protocol.provisioned(event.device_key, event.serial)
                    if self.on_change is not None:
                        self.on_change()  # keys in flash before the answer leaves
                    _LOGGER.info("%s: provisioned as %s", self.name, event.serial)
                session.outgoing.put_nowait((protocol.data_to_send(), "protocol"))

    def _session_written(self, connection: Connection) -> _Session | None:
        """The session a write arrived on, its stale half frame dropped first."""
        session = self._sessions.get(connection.handle)
        if session is None:
            return None
        now = asyncio.get_running_loop().time()
        if now - session.last_write > const.REASSEMBLY_TIMEOUT:
            session.protocol.discard_partial_frame()  # a half frame this old lost a chunk
        session.last_write = now
        return session

    # -- lock -> bridge ------------------------------------------------------------------

    async def _request_loop(self, session: _Session) -> None:
        """Executes requests in arrival order, acting out the lock's link faults."""
        while True:
            request = await session.requests.get()
            faults = self.lock.faults
            if faults.response_delay > 0:
                await asyncio.sleep(faults.response_delay)
            if faults.consume("disconnect_mid_command") or faults.consume_opcode(
                "disconnect_before_opcode", request.OPCODE
            ):
                # The lock got the command, the link drops before it acts or answers.
                await session.connection.disconnect()
                return
            response: Response = self.lock.handle(request)
            if self.on_change is not None:
                self.on_change()
            if faults.consume_opcode("disconnect_after_opcode", request.OPCODE):
                # The lock acted (and saved), the link drops before its answer leaves.
                await session.connection.disconnect()
                return
            if session.protocol.state is not ConnectionState.ESTABLISHED:
                continue  # the bridge started a new handshake meanwhile
            session.outgoing.put_nowait((session.protocol.send(response), "response"))

    def _on_lock_event(self, event: LockEvent) -> None:
        if self.on_change is not None:
            self.on_change()
        for session in list(self._sessions.values()):
            if session.protocol.state is ConnectionState.ESTABLISHED:
                session.outgoing.put_nowait((session.protocol.send(event), "event"))

    async def _send_loop(self, session: _Session) -> None:
        while True:
            chunks, kind = await session.outgoing.get()
            faults = self.lock.faults
            if kind == "response" and faults.consume("disconnect_mid_response"):
                data = b"".join(chunks)
                await self._notify(session, [data[: max(1, len(data) // 2)]])
                await session.connection.disconnect()
                return
            await self._notify(session, chunks)

    async def _notify(self, session: _Session, chunks: list[bytes]) -> None:
        for chunk in chunks:
            if self.lock.faults.consume_drop_notification():
                _LOGGER.debug("%s: dropping a notification (fault)", self.name)
                continue
            await self.device.notify_subscriber(session.connection, self.service.response, chunk)


def _log_task_error(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (err := task.exception()) is not None:
        _LOGGER.warning("virtual lock background task failed: %r", err)


class _CProtocol:
    """What the GATT layer asks of a connection's protocol, answered by the C core."""

    def __init__(self, lock: Any, mtu: int) -> None:
        self.lock = lock
        self.mtu = mtu
        lock.radio_connected(mtu)

    @property
    def state(self) -> ConnectionState:
        return ConnectionState.ESTABLISHED if self.lock.session_established() else ConnectionState.IDLE

    def set_mtu(self, mtu: int) -> None:
        self.mtu = mtu
        self.lock.radio_mtu_changed(mtu)

    def discard_partial_frame(self) -> None:
        self.lock.radio_discard_partial()

    def reset(self) -> None:
        """The lock rebooted: the link stays, the session keys are gone."""
        self.lock.radio_disconnected()
        self.lock.radio_connected(self.mtu)

    def close(self) -> None:
        self.lock.radio_disconnected()


class CLockPeripheral(VirtualLockPeripheral):
    """A `CLock` (the C firmware core) served over BLE: the core sees the raw GATT writes.

    The core handles framing, the handshake, records and refusals itself; this
    class only moves bytes, runs the core's pending request (``lock.process()``)
    from a task so that the link faults (slow answers, a link dropped mid-command
    or mid-response, lost notifications) are acted out as for the Python engine.
    """

    def _on_connection(self, connection: Connection) -> None:
        if self._sessions:  # the core serves one central at a time
            asyncio.ensure_future(connection.disconnect()).add_done_callback(_log_task_error)
            return
        protocol = _CProtocol(self.lock, connection.att_mtu)
        session = _Session(connection, protocol)  # type: ignore[arg-type]
        session_ready = asyncio.Event()
        self._sessions[connection.handle] = session
        self._pending = session_ready
        self._batch: list[tuple[list[bytes], str]] = []
        self.lock.notify_sink = lambda chunk, kind: self._collect(session, chunk, kind)
        for loop in (self._send_loop, self._c_request_loop, self._handshake_deadline):
            task = asyncio.ensure_future(loop(session))
            task.add_done_callback(_log_task_error)
            session.tasks.append(task)
        connection.on(connection.EVENT_CONNECTION_ATT_MTU_UPDATE, lambda: protocol.set_mtu(connection.att_mtu))
        connection.on(connection.EVENT_DISCONNECTION, lambda _reason: self._on_disconnection(session))
        self._schedule_advertising_update()

    def _collect(self, session: _Session, chunk: bytes, kind: str) -> None:
        # Consecutive chunks of one kind form one item: a response is cut as one unit.
        if self._batch and self._batch[-1][1] == kind:
            self._batch[-1][0].append(chunk)
        else:
            self._batch.append(([chunk], kind))
        if kind != "response":
            self._flush(session)

    def _flush(self, session: _Session) -> None:
        for item in self._batch:
            session.outgoing.put_nowait(item)
        self._batch = []

    def _end_session(self, session: _Session) -> None:
        if self._sessions.pop(session.connection.handle, None) is not None:
            session.protocol.close()  # type: ignore[attr-defined]
            self.lock.notify_sink = None
        for task in session.tasks:
            task.cancel()

    def _on_request_write(self, connection: Connection, value: bytes) -> None:
        session = self._session_written(connection)
        if session is None:
            return
        before, factory = self.lock.counters, self.lock.factory_mode
        self.lock.radio_write(bytes(value))
        if factory and not self.lock.factory_mode and self.on_change is not None:
            self.on_change()  # PROVISION stored the keys: save them
        after = self.lock.counters
        self.rejected_frames += after["rejected_records"] - before["rejected_records"]
        self.handshakes_failed += after["handshakes_failed"] - before["handshakes_failed"]
        self._flush(session)
        if self.lock.request_pending():
            self._pending.set()

    async def _c_request_loop(self, session: _Session) -> None:
        while True:
            await self._pending.wait()
            self._pending.clear()
            while self.lock.request_pending():
                faults = self.lock.faults
                if faults.response_delay > 0:
                    await asyncio.sleep(faults.response_delay)
                opcode = self.lock.pending_opcode()
                if faults.consume("disconnect_mid_command") or faults.consume_opcode(
                    "disconnect_before_opcode", opcode
                ):
                    await session.connection.disconnect()
                    return
                self.lock.process()
                if faults.consume_opcode("disconnect_after_opcode", opcode):
                    # The core acted (and wrote its flash); its answer never leaves.
                    self._batch = [item for item in self._batch if item[1] != "response"]
                    self._flush(session)
                    if self.on_change is not None:
                        self.on_change()
                    await session.connection.disconnect()
                    return
                self._flush(session)
                if self.on_change is not None:
                    self.on_change()

    def _on_lock_event(self, event: LockEvent) -> None:
        # The core notifies the session itself; only the saver wants to hear.
        if self.on_change is not None:
            self.on_change()

    def forget_sessions(self) -> None:
        for session in self._sessions.values():
            session.protocol.reset()
