"""`LockClient`: one lock, over bleak, speaking the sans-IO protocol.

The client owns the I/O the protocol package leaves out: the BLE link
(bleak + bleak-retry-connector), the timeouts, the one-command-at-a-time rule
and reconnection.  It works with bleak's default backend (BlueZ on a gateway)
and with our Bumble backend (virtual locks, bench dongles)::

    async with LockClient(ble_device, device_key, on_event=print) as lock:
        await lock.unlock()

    # on the Bumble virtual link
    LockClient(address, key, backend=BleBackend.bumble(adapter))

Every failure reaches the caller as a `LockClientError` raised ``from`` the
bleak or protocol error that caused it: `LockUnreachable` (cannot connect),
`LockDisconnected` (the link dropped while we waited), `LockTimeout`,
`LockRefused` (the lock answered with an error code), `LockProtocolError` /
`LockAuthenticationError` (bad frames, wrong key).  Nothing here can wait
forever: every await on the radio is bounded by a timeout in `Timeouts`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from bleak import BleakScanner
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import BaseBleakScanner
from bleak.exc import BleakError
from bleak_retry_connector import BleakClientWithServiceCache, establish_connection

from firmware_bridge.protocol import const
from firmware_bridge.protocol.connection import (
    NEED_DATA,
    CentralConnection,
    ConnectionState,
    HandshakeComplete,
    Provisioned,
)
from firmware_bridge.protocol.crypto import key_proof, parse_device_key
from firmware_bridge.protocol.errors import (
    AuthenticationError,
    LocalProtocolError,
    NotAuthenticatedError,
    ProtocolError,
    UnsupportedVersionError,
)
from firmware_bridge.protocol.messages import (
    CodeEntry,
    CommitKeyRequest,
    CommitKeyResponse,
    DeleteCodeRequest,
    DeleteCodeResponse,
    DeviceInfo,
    ErrorResponse,
    FactoryResetRequest,
    FactoryResetResponse,
    GetSettingsRequest,
    GetSettingsResponse,
    ListCodesRequest,
    ListCodesResponse,
    LockEvent,
    LockRequest,
    LockResponse,
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
    StatusRequest,
    StatusResponse,
    UnlockRequest,
    UnlockResponse,
)
from firmware_bridge.protocol.offline import OfflineCode, secret_proof
from firmware_bridge.protocol.provisioning import Provision
from firmware_bridge.protocol.schedule import ScheduleWindow

_LOGGER = logging.getLogger(__name__)
_R = TypeVar("_R", bound=Response)

EventCallback = Callable[[LockEvent], None | Awaitable[None]]


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------
class LockClientError(Exception):
    """Base of every error `LockClient` raises."""


class LockUnreachable(LockClientError):
    """No connection: the lock is out of range, not advertising, or busy with another central."""


class LockDisconnected(LockClientError):
    """The link dropped while a command or the handshake was waiting.

    For a command that changes state (lock, unlock, put code to any slot) the
    lock may or may not have executed it: read the status or the event log.
    """


class LockTimeout(LockClientError):
    """The lock did not answer in time (same caveat as `LockDisconnected`)."""


class LockRefused(LockClientError):
    """The lock answered with an error code (jammed, slot occupied, storage full...)."""

    def __init__(self, message: str, error_code: const.ErrorCode) -> None:
        super().__init__(message)
        self.error_code = error_code


class LockInvalidRequest(LockClientError, ValueError):
    """The request breaks the protocol's rules (a 3-digit PIN, a name too long...); nothing was sent."""

    def __init__(self, message: str, error_code: const.ErrorCode) -> None:
        super().__init__(message)
        self.error_code = error_code


class LockProtocolError(LockClientError):
    """The lock sent something we reject, or the session broke down."""


class LockSessionLost(LockProtocolError):
    """The lock no longer knows our session (it rebooted); it did not act on the request."""


class LockAuthenticationError(LockProtocolError):
    """The handshake failed: the device key does not match this lock."""


# ---------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Timeouts:
    """Seconds. Defaults are the protocol's (``protocol.const``) plus the link's."""

    # A lock advertising every ~1 s (battery saving) is seen within a few
    # intervals; bleak-retry-connector retries the connection up to
    # `connect_attempts` times inside this budget per attempt.
    connect: float = 10.0
    connect_attempts: int = 3
    # HELLO -> CHALLENGE -> CONFIRM: two round trips plus HKDF on a small MCU.
    handshake: float = const.HANDSHAKE_TIMEOUT
    # Status, list codes, read events, set time: answered from RAM/flash, no motor.
    read: float = const.READ_TIMEOUT
    # Lock/unlock drive the motor (~1-2 s) and the firmware may retry a stall once.
    bolt: float = const.BOLT_TIMEOUT
    # Put/delete code write flash pages (an erase can take ~100 ms per page).
    code_write: float = const.CODE_WRITE_TIMEOUT
    # A disconnect is one HCI command and its completion event; never worth more.
    disconnect: float = 5.0


@dataclass(frozen=True)
class BleBackend:
    """Which bleak backend to use; the default (all None) is bleak's own for this OS."""

    client: type[BaseBleakClient] | None = None
    scanner: type[BaseBleakScanner] | None = None
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def bumble(cls, adapter: Any, **kwargs: Any) -> BleBackend:
        """The Bumble backend on ``adapter`` (a `BumbleAdapter`)."""
        from firmware_bridge.bumble_backend import BumbleClient, BumbleScanner

        return cls(BumbleClient, BumbleScanner, {"bumble_adapter": adapter, **kwargs})

    def client_kwargs(self) -> dict[str, Any]:
        return {"backend": self.client, **self.kwargs} if self.client else dict(self.kwargs)

    def scanner_kwargs(self) -> dict[str, Any]:
        return {"backend": self.scanner, **self.kwargs} if self.scanner else dict(self.kwargs)


@dataclass(frozen=True)
class ConnectTimings:
    """Seconds spent by the last `LockClient.connect`: the BLE link (connection, MTU,
    services, info read, subscription) and the protocol handshake."""

    link: float
    handshake: float


@dataclass(frozen=True)
class EventLog:
    """What `LockClient.read_events` found.

    ``lost`` counts events after ``since_seq`` that the lock's ring buffer had
    already overwritten (they cannot be recovered).
    """

    events: tuple[LockEvent, ...]
    head_seq: int
    oldest_seq: int
    lost: int


# ---------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------
class LockClient:
    """One lock over bleak. Not thread-safe; use from one asyncio loop."""

    def __init__(
        self,
        device: BLEDevice | str,
        device_key: bytes | str,
        *,
        name: str | None = None,
        backend: BleBackend | None = None,
        on_event: EventCallback | None = None,
        on_disconnect: Callable[[LockClient], None] | None = None,
        timeouts: Timeouts | None = None,
        auto_reconnect: bool = True,
        other_keys: tuple[bytes | str, ...] = (),
    ) -> None:
        self._device = device
        self.address = device.address if isinstance(device, BLEDevice) else device.upper()
        self.name = name or (
            device.name if isinstance(device, BLEDevice) and device.name else self.address
        )
        self._key = device_key
        # During a key rotation: the pending key, also offered at each handshake.
        self._other_keys = tuple(other_keys)
        # Which key the lock accepted at the last handshake: 0 = device_key, 1.. = other_keys.
        self.key_index = 0
        self._backend = backend or BleBackend()
        self._on_event = on_event
        self._on_disconnect = on_disconnect
        self.timeouts = timeouts or Timeouts()
        self.auto_reconnect = auto_reconnect
        self._bleak: BleakClientWithServiceCache | None = None
        self._conn: CentralConnection | None = None
        self._link_lost: asyncio.Future[None] | None = None
        self._waiter: tuple[int | None, asyncio.Future[Any]] | None = None
        self._command_lock = asyncio.Lock()  # one command in flight per lock
        self._connect_lock = asyncio.Lock()
        self._closing = False
        self._event_tasks: set[asyncio.Task[None]] = set()
        self.info: DeviceInfo | None = None
        self.last_connect: ConnectTimings | None = None
        self.last_event_seq = 0  # highest event seq seen (notification or log)
        self.rejected_frames = 0  # frames dropped as invalid (tampered, replayed, garbage)

    # -- context manager ------------------------------------------------------------

    async def __aenter__(self) -> LockClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()

    @property
    def is_connected(self) -> bool:
        return self._bleak is not None and self._bleak.is_connected

    @property
    def has_session(self) -> bool:
        return (
            self.is_connected
            and self._conn is not None
            and self._conn.state is ConnectionState.ESTABLISHED
        )

    @property
    def mtu(self) -> int:
        return self._bleak.mtu_size if self._bleak is not None else const.DEFAULT_ATT_MTU

    # -- connection -------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect, subscribe, read the info characteristic and handshake."""
        async with self._connect_lock:
            if self.has_session:
                return
            if self.is_connected:  # connected but the session broke: handshake again
                await self._handshake()
                return
            started = time.perf_counter()
            await self._open_link()
            linked = time.perf_counter()
            try:
                await self._handshake()
            except BaseException:
                await self._close_link()
                raise
            self.last_connect = ConnectTimings(linked - started, time.perf_counter() - linked)

    async def _resolve_device(self) -> BLEDevice:
        if isinstance(self._device, BLEDevice):
            return self._device
        try:
            device = await BleakScanner.find_device_by_address(
                self.address, timeout=self.timeouts.connect, **self._backend.scanner_kwargs()
            )
        except (BleakError, OSError) as err:  # OSError: no Bluetooth stack (no D-Bus/BlueZ)
            raise LockUnreachable(f"{self.name}: scan failed: {err!r}") from err
        if device is None:
            raise LockUnreachable(
                f"{self.name}: not advertising (no advertisement in {self.timeouts.connect} s)"
            )
        self._device = device
        return device

    async def _open_link(self) -> None:
        device = await self._resolve_device()
        loop = asyncio.get_running_loop()
        self._closing = False
        budget = self.timeouts.connect * self.timeouts.connect_attempts + 1.0
        try:
            async with asyncio.timeout(budget):
                client = await establish_connection(
                    BleakClientWithServiceCache,
                    device,
                    self.name,
                    disconnected_callback=self._on_link_lost,
                    max_attempts=self.timeouts.connect_attempts,
                    timeout=self.timeouts.connect,
                    **self._backend.client_kwargs(),
                )
        except (BleakError, TimeoutError, OSError) as err:
            raise LockUnreachable(f"{self.name}: cannot connect: {err!r}") from err
        self._bleak = client
        self._link_lost = loop.create_future()
        self._conn = CentralConnection(self._key, mtu=client.mtu_size, other_keys=self._other_keys)
        try:
            raw = await self._gatt(
                client.read_gatt_char(const.INFO_CHAR_UUID), self.timeouts.read, "info read"
            )
            self.info = DeviceInfo.from_bytes(bytes(raw))
            await self._gatt(
                client.start_notify(const.RESPONSE_CHAR_UUID, self._on_notification),
                self.timeouts.read,
                "subscribe",
            )
        except ProtocolError as err:
            await self._close_link()
            raise LockProtocolError(f"{self.name}: unreadable device info: {err}") from err
        except BaseException:
            await self._close_link()
            raise
        _LOGGER.debug("%s: connected, MTU %s, %s", self.name, client.mtu_size, self.info)

    async def _handshake(self) -> None:
        conn = self._require_conn()
        future: asyncio.Future[HandshakeComplete] = asyncio.get_running_loop().create_future()
        self._waiter = (None, future)
        try:
            async with asyncio.timeout(self.timeouts.handshake):
                await self._write(conn.start_handshake())
                done = await self._wait(future)
                await self._write(conn.data_to_send())  # our CONFIRM
        except TimeoutError as err:
            raise LockTimeout(
                f"{self.name}: no handshake answer in {self.timeouts.handshake} s"
            ) from err
        finally:
            self._clear_waiter(future)
        self.key_index = done.key_index
        _LOGGER.debug("%s: session %s established", self.name, done.session_id.hex())

    async def disconnect(self) -> None:
        """Disconnect cleanly (idempotent). Pending waits end with `LockDisconnected`."""
        async with self._connect_lock:
            await self._close_link()

    async def _close_link(self) -> None:
        client, self._bleak = self._bleak, None
        self._closing = True
        if client is not None:
            with contextlib.suppress(BleakError, TimeoutError):
                async with asyncio.timeout(self.timeouts.disconnect):
                    await client.disconnect()
        self._link_ended("disconnected")

    def _on_link_lost(self, _client: Any) -> None:
        if self._closing:
            return
        _LOGGER.info("%s: link lost", self.name)
        self._bleak = None
        self._link_ended("link lost")
        if self._on_disconnect is not None:
            self._on_disconnect(self)

    def _link_ended(self, why: str) -> None:
        """Whatever waits on the link ends with `LockDisconnected`; the session is gone."""
        if self._link_lost is not None and not self._link_lost.done():
            self._link_lost.set_result(None)
        self._fail_waiter(LockDisconnected(f"{self.name}: {why}"))
        if self._conn is not None:
            self._conn.reset()

    # -- notifications -------------------------------------------------------------------

    def _on_notification(self, _char: Any, data: bytearray) -> None:
        conn = self._conn
        if conn is None:
            return
        conn.receive_data(bytes(data))
        while True:
            try:
                event = conn.next_event()
            except (AuthenticationError, UnsupportedVersionError) as err:
                self._fail_waiter(LockAuthenticationError(f"{self.name}: {err}"), cause=err)
                continue
            except NotAuthenticatedError as err:
                self._fail_waiter(LockSessionLost(f"{self.name}: session lost: {err}"), cause=err)
                continue
            except ProtocolError as err:  # one bad frame: dropped, the session stays up
                self.rejected_frames += 1
                _LOGGER.warning("%s: rejected a frame from the lock: %s", self.name, err)
                continue
            if event is NEED_DATA:
                return
            if isinstance(event, LockEvent):
                self._deliver(event)
            elif isinstance(event, HandshakeComplete | Provisioned):
                self._resolve_waiter(None, event)
            else:
                self._resolve_waiter(event.request_id, event)

    def _deliver(self, event: LockEvent) -> None:
        self.last_event_seq = max(self.last_event_seq, event.seq)
        if self._on_event is None:
            return
        try:
            result = self._on_event(event)
        except Exception:
            # The type and seq only: an IncorrectPinEvent carries the digits typed on the keypad.
            _LOGGER.exception(
                "%s: event callback failed on %s #%s", self.name, type(event).__name__, event.seq
            )
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._event_tasks.add(task)
            task.add_done_callback(self._event_tasks.discard)

    def _resolve_waiter(self, request_id: int | None, value: Any) -> None:
        waiter = self._waiter
        if waiter is None or waiter[0] != request_id or waiter[1].done():
            _LOGGER.debug("%s: dropping an answer nobody waits for: %r", self.name, value)
            return
        waiter[1].set_result(value)

    def _clear_waiter(self, future: asyncio.Future[Any]) -> None:
        self._waiter = None
        if future.done() and not future.cancelled():
            future.exception()  # consumed: the caller already raised its own error

    def _fail_waiter(self, error: LockClientError, cause: BaseException | None = None) -> None:
        if cause is not None:
            error.__cause__ = cause
        waiter = self._waiter
        if waiter is not None and not waiter[1].done():
            waiter[1].set_exception(error)

    # -- I/O helpers ---------------------------------------------------------------------

    def _require_conn(self) -> CentralConnection:
        if self._conn is None or not self.is_connected:
            raise LockDisconnected(f"{self.name}: not connected")
        return self._conn

    async def _write(self, chunks: list[bytes]) -> None:
        client = self._bleak
        if client is None:
            raise LockDisconnected(f"{self.name}: not connected")
        for chunk in chunks:
            try:
                await client.write_gatt_char(const.REQUEST_CHAR_UUID, chunk, response=True)
            except BleakError as err:
                if not client.is_connected:
                    raise LockDisconnected(f"{self.name}: link lost while writing") from err
                raise LockProtocolError(f"{self.name}: write refused: {err}") from err

    async def _wait(self, future: asyncio.Future[Any]) -> Any:
        """Wait for an answer; a link that drops meanwhile ends the wait at once."""
        link_lost = self._link_lost
        if not future.done() and link_lost is not None and not link_lost.done():
            await asyncio.wait({future, link_lost}, return_when=asyncio.FIRST_COMPLETED)
        if future.done():
            return future.result()
        raise LockDisconnected(f"{self.name}: link lost while waiting for the lock")

    async def _gatt(self, operation: Awaitable[Any], timeout: float, what: str) -> Any:
        try:
            async with asyncio.timeout(timeout):
                return await operation
        except TimeoutError as err:
            raise LockTimeout(f"{self.name}: {what} timed out after {timeout} s") from err
        except BleakError as err:
            if not self.is_connected:
                raise LockDisconnected(f"{self.name}: link lost during {what}") from err
            raise LockProtocolError(f"{self.name}: {what} failed: {err}") from err

    # -- requests ----------------------------------------------------------------------

    async def _request(
        self,
        build: Callable[[int], Request],
        expected: type[_R],
        timeout: float,
        *,
        retry_safe: bool,
    ) -> _R:
        """Send one request and return its response.

        ``retry_safe`` requests (reads, puts to an explicit slot, deletes) are
        tried once more after a dropped link, a timeout or a lost session, on a
        fresh connection; anything that could act twice on the lock (LOCK,
        UNLOCK, SET_TIME, PUT_CODE to any slot) is never sent again: nothing
        unauthenticated can prove that the lock did not run it, and a plaintext
        ALERT is anyone's to send (the connection ignores those once a session
        is up).
        """
        link_retry = retry_safe
        session_retry = retry_safe
        while True:
            try:
                return await self._request_once(build, expected, timeout)
            except LockSessionLost as err:
                if not session_retry:
                    raise
                session_retry = False
                _LOGGER.info("%s: %s; handshaking again", self.name, err)
            except (LockDisconnected, LockTimeout) as err:
                if not link_retry:
                    raise
                link_retry = False
                _LOGGER.info("%s: %s; retrying (safe to repeat)", self.name, err)
                if isinstance(err, LockTimeout):
                    await self.disconnect()  # start over on a clean link and session

    async def _request_once(
        self, build: Callable[[int], Request], expected: type[_R], timeout: float
    ) -> _R:
        async with self._command_lock:
            if not self.has_session:
                if not self.auto_reconnect and not self.is_connected:
                    raise LockDisconnected(f"{self.name}: not connected")
                await self.connect()
            conn = self._require_conn()
            try:
                request = build(conn.new_request_id())
            except LocalProtocolError as err:
                raise LockInvalidRequest(f"{self.name}: {err}", err.error_code) from err
            future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
            self._waiter = (request.request_id, future)
            try:
                async with asyncio.timeout(timeout):
                    await self._write(conn.send(request))
                    response = await self._wait(future)
            except TimeoutError as err:
                conn.discard_partial_frame()  # a late half-answer must not prefix the next one
                raise LockTimeout(
                    f"{self.name}: no answer to {type(request).__name__} in {timeout} s"
                ) from err
            finally:
                self._clear_waiter(future)
        if isinstance(response, ErrorResponse):
            raise LockRefused(
                f"{self.name}: {type(request).__name__} refused: {response.error.name}",
                response.error,
            )
        if not isinstance(response, expected):
            raise LockProtocolError(
                f"{self.name}: expected {expected.__name__}, got {type(response).__name__}"
            )
        return response

    # -- typed commands ----------------------------------------------------------------

    async def status(self) -> StatusResponse:
        return await self._request(
            StatusRequest, StatusResponse, self.timeouts.read, retry_safe=True
        )

    async def settings(self) -> GetSettingsResponse:
        """Auto-lock delay, keypad battery, serial (locks with the SETTINGS capability)."""
        return await self._request(
            GetSettingsRequest, GetSettingsResponse, self.timeouts.read, retry_safe=True
        )

    async def lock(self) -> const.BoltState:
        response = await self._request(
            LockRequest, LockResponse, self.timeouts.bolt, retry_safe=False
        )
        return response.bolt

    async def unlock(self) -> const.BoltState:
        response = await self._request(
            UnlockRequest, UnlockResponse, self.timeouts.bolt, retry_safe=False
        )
        return response.bolt

    async def set_time(self, when: datetime, timezone: str) -> None:
        """Set the lock's clock to ``when`` (aware) and its IANA ``timezone``."""
        if when.tzinfo is None:
            raise ValueError("set_time needs an aware datetime")
        offset = when.astimezone(ZoneInfo(timezone)).utcoffset()
        minutes = int(offset.total_seconds() // 60) if offset is not None else 0
        epoch = int(when.timestamp())
        # Not retried: a late retry would set a stale time.
        await self._request(
            lambda rid: SetTimeRequest(rid, epoch, timezone, minutes),
            SetTimeResponse,
            self.timeouts.read,
            retry_safe=False,
        )

    async def put_code(
        self,
        slot: int | None,
        pin: str,
        name: str = "",
        starts: datetime | None = None,
        ends: datetime | None = None,
        *,
        replace: bool = False,
    ) -> int:
        """Store ``pin`` in ``slot`` (None: the lock picks the lowest free slot); returns the slot."""
        wire_slot = const.ANY_SLOT if slot is None else slot
        starts_at = int(starts.timestamp()) if starts is not None else None
        ends_at = int(ends.timestamp()) if ends is not None else None

        def build(rid: int) -> PutCodeRequest:
            return PutCodeRequest(rid, wire_slot, pin, name, starts_at, ends_at, replace)

        # The lock accepts the identical code again in the same slot, so a put to
        # an explicit slot may be repeated; a put to "any slot" could land twice.
        response = await self._request(
            build, PutCodeResponse, self.timeouts.code_write, retry_safe=slot is not None
        )
        return response.slot

    async def put_scheduled_code(
        self, slot: int, pin: str, name: str, starts: datetime | None, ends: datetime | None,
        tz_rule: str, windows: tuple[ScheduleWindow, ...], *, replace: bool = False,
    ) -> int:
        """PUT_CODE with a weekly schedule (docs/ble-protocol.md 18). A lock without the
        extension refuses it (UNKNOWN_OPCODE / UNSUPPORTED_EXTENSION): never sent as a plain
        PUT_CODE, which would open at all hours."""
        starts_at = int(starts.timestamp()) if starts is not None else None
        ends_at = int(ends.timestamp()) if ends is not None else None
        response = await self._request(
            lambda rid: PutScheduledCodeRequest(rid, slot, pin, name, starts_at, ends_at, replace, tz_rule,
                                                windows),
            PutScheduledCodeResponse, self.timeouts.code_write, retry_safe=True,
        )
        return response.slot

    async def set_offline_secret(self, generation: int, secret: bytes) -> None:
        """Install the offline-code secret (idempotent); the lock's proof is checked."""
        response = await self._request(
            lambda rid: SetOfflineSecretRequest(rid, generation, secret), SetOfflineSecretResponse,
            self.timeouts.code_write, retry_safe=True,
        )
        if not hmac.compare_digest(response.proof, secret_proof(secret, generation)):
            raise LockProtocolError(f"{self.name}: the lock's proof of the offline secret does not verify")

    async def revoke_offline_code(self, code: OfflineCode) -> int:
        """Refuse one offline code from now on; returns the room left in the lock's table."""
        response = await self._request(
            lambda rid: RevokeOfflineCodeRequest(rid, code.kind, code.start_hour, code.end_hour, code.counter),
            RevokeOfflineCodeResponse, self.timeouts.code_write, retry_safe=True,
        )
        return response.free_entries

    async def delete_code(self, slot: int) -> None:
        """Delete the code in ``slot``; an already empty slot counts as deleted."""
        try:
            await self._request(
                lambda rid: DeleteCodeRequest(rid, slot),
                DeleteCodeResponse,
                self.timeouts.code_write,
                retry_safe=True,
            )
        except LockRefused as err:
            if err.error_code is not const.ErrorCode.SLOT_EMPTY:
                raise

    async def provision(self, serial: str, device_key: bytes | str, offline_secret: bytes) -> None:
        """Factory line: write the keys into a lock in factory mode (plaintext, once; no session).

        Raises LockRefused (FACTORY_LOCKED) if the lock was provisioned before, and
        LockProtocolError if its proof does not match the key sent.
        """
        key = parse_device_key(device_key)
        message = Provision(key, offline_secret, serial)
        async with self._connect_lock:
            if not self.is_connected:
                await self._open_link()
        conn = self._require_conn()
        future: asyncio.Future[Provisioned] = asyncio.get_running_loop().create_future()
        self._waiter = (None, future)
        try:
            async with asyncio.timeout(self.timeouts.code_write):
                await self._write(conn.provision(message))
                answer = await self._wait(future)
        except TimeoutError as err:
            raise LockTimeout(f"{self.name}: no answer to PROVISION in {self.timeouts.code_write} s") from err
        finally:
            self._clear_waiter(future)
        if answer.status is not const.ErrorCode.OK:
            raise LockRefused(f"{self.name}: PROVISION refused: {answer.status.name}", answer.status)
        if not answer.verified:
            raise LockProtocolError(f"{self.name}: the lock's provisioning proof does not verify")
        self.set_keys(key)
        await self.disconnect()  # the next connection handshakes with the key just written

    def set_keys(self, device_key: bytes | str, *other_keys: bytes | str) -> None:
        """The keys to offer from the next connection on (the first is the lock's current key)."""
        self._key, self._other_keys = device_key, tuple(other_keys)

    async def rotate_key(self, rotation_id: int, new_key: bytes | str) -> bool:
        """Replace the lock's device key; True if the lock now holds `new_key`.

        Two steps, each safe to repeat: ROTATE_KEY (the lock stores the key as
        pending and proves it), then COMMIT_KEY (the lock switches). A link lost
        anywhere is retried once on a fresh connection that offers both keys, so
        a lock that already switched is recognised by its CHALLENGE. Afterwards
        this client offers only the new key.
        """
        new = parse_device_key(new_key)
        current = parse_device_key(self._key)
        self.set_keys(current, new)
        await self.connect()
        if self.key_index == 1:  # the lock committed before we heard its answer
            self.set_keys(new)
            return True
        response = await self._request(
            lambda rid: RotateKeyRequest(rid, rotation_id, new), RotateKeyResponse,
            self.timeouts.code_write, retry_safe=True,
        )
        if not hmac.compare_digest(response.key_proof, key_proof(new, rotation_id)):
            raise LockProtocolError(f"{self.name}: the lock's proof of the new key does not verify")
        await self._request(
            lambda rid: CommitKeyRequest(rid, rotation_id), CommitKeyResponse,
            self.timeouts.code_write, retry_safe=True,
        )
        self.set_keys(new)
        return True

    async def factory_reset(self) -> None:
        """Erase the lock's codes and log (the lock refuses unless its reset button is held)."""
        await self._request(FactoryResetRequest, FactoryResetResponse, self.timeouts.code_write,
                            retry_safe=True)

    async def list_codes(self) -> list[CodeEntry]:
        codes: list[CodeEntry] = []
        start: int | None = 0
        while start is not None:
            page = await self._request(
                functools.partial(_list_codes_request, start_slot=start),
                ListCodesResponse,
                self.timeouts.read,
                retry_safe=True,
            )
            codes.extend(page.codes)
            start = page.next_slot
        return codes

    async def read_events(self, since_seq: int = 0) -> EventLog:
        """Every logged event with seq > ``since_seq``, oldest first (paged reads)."""
        events: list[LockEvent] = []
        cursor = since_seq
        head = oldest = 0
        while True:
            page = await self._request(
                functools.partial(_read_events_request, since_seq=cursor),
                ReadEventsResponse,
                self.timeouts.read,
                retry_safe=True,
            )
            head, oldest = page.head_seq, page.oldest_seq
            events.extend(page.events)
            if not page.events or page.events[-1].seq >= head:
                break
            cursor = page.events[-1].seq
        if events:
            self.last_event_seq = max(self.last_event_seq, events[-1].seq)
        lost = max(0, oldest - since_seq - 1) if oldest else 0
        return EventLog(tuple(events), head, oldest, lost)


def _list_codes_request(request_id: int, *, start_slot: int) -> ListCodesRequest:
    return ListCodesRequest(request_id, start_slot)


def _read_events_request(request_id: int, *, since_seq: int) -> ReadEventsRequest:
    return ReadEventsRequest(request_id, since_seq)
