"""Sans-IO connections: the bridge side (central) and the lock side (peripheral).

Bytes in (``receive_data``), events out (``next_event``), bytes to transmit
from ``send`` / ``start_handshake`` / ``data_to_send``. No I/O, no clock, no
threads: the caller owns the BLE link and the timeouts (see ``const``).

State machines (the tables ``CENTRAL_TRANSITIONS`` / ``PERIPHERAL_TRANSITIONS``
below are the source of truth)::

    central:    IDLE --start_handshake--> HELLO_SENT --good CHALLENGE--> ESTABLISHED
                HELLO_SENT --bad CHALLENGE / any alert--> FAILED
                any --start_handshake--> HELLO_SENT    (re-key, or retry after FAILED)
                ESTABLISHED: plaintext ALERTs are ignored (anyone on the air can
                send one; a lost session shows as a timeout instead)

    peripheral: IDLE --HELLO--> CHALLENGE_SENT --good CONFIRM--> ESTABLISHED
                CHALLENGE_SENT --bad CONFIRM--> IDLE     (HandshakeFailed; ALERT sent)
                CHALLENGE_SENT / ESTABLISHED --HELLO--> CHALLENGE_SENT (new session)
                HELLO while backing off after failed handshakes: ALERT(BUSY), unchanged
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from .const import (
    CONFIRM_LABEL_BRIDGE,
    CONFIRM_LABEL_LOCK,
    CONFIRM_SIZE,
    DEFAULT_ATT_MTU,
    HANDSHAKE_BACKOFF_INITIAL,
    HANDSHAKE_BACKOFF_MAX,
    HANDSHAKE_FREE_FAILURES,
    MIN_PROTOCOL_VERSION,
    NONCE_SIZE,
    PROTOCOL_VERSION,
    REQUEST_OPCODE_MAX,
    ErrorCode,
    FrameType,
    Opcode,
)
from .crypto import (
    SecureChannel,
    SessionKeys,
    confirm_tag,
    derive_session_keys,
    parse_device_key,
    versions,
)
from .errors import (
    AuthenticationError,
    IntegrityError,
    LocalProtocolError,
    LockBusyError,
    MalformedMessageError,
    NotAuthenticatedError,
    RemoteProtocolError,
    ReplayError,
    UnsupportedVersionError,
)
from .framing import FrameDecoder, chunk_size_for_mtu, encode_frame, fragment
from .messages import (
    ErrorResponse,
    LockEvent,
    Request,
    Response,
    decode_from_lock,
    decode_request,
)
from .provisioning import Provision, parse_provisioned, provisioned_body
from .provisioning import proof as provision_proof

__all__ = [
    "CENTRAL_TRANSITIONS",
    "NEED_DATA",
    "PERIPHERAL_TRANSITIONS",
    "CentralConnection",
    "CentralEvent",
    "ConnectionState",
    "ConnectionStats",
    "HandshakeBackoff",
    "HandshakeComplete",
    "HandshakeFailed",
    "NeedData",
    "PeripheralConnection",
    "PeripheralEvent",
]

RandBytes = Callable[[int], bytes]
Clock = Callable[[], float]


class HandshakeBackoff:
    """The lock's memory of failed handshakes, shared by all its connections.

    After HANDSHAKE_FREE_FAILURES bad CONFIRMs in a row, each further one makes the
    lock answer every HELLO with ALERT(BUSY) for a while: HANDSHAKE_BACKOFF_INITIAL
    seconds after the first, doubling up to HANDSHAKE_BACKOFF_MAX. A completed
    handshake forgets the failures. The clock is the caller's (sans-IO): a monotonic
    seconds counter.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.failures = 0
        self.until = 0.0

    def allows_handshake(self) -> bool:
        return self._clock() >= self.until

    def failed(self) -> None:
        self.failures += 1
        excess = self.failures - HANDSHAKE_FREE_FAILURES
        if excess > 0:
            delay = min(HANDSHAKE_BACKOFF_INITIAL * 2 ** (excess - 1), HANDSHAKE_BACKOFF_MAX)
            self.until = self._clock() + delay

    def succeeded(self) -> None:
        self.failures = 0
        self.until = 0.0


class NeedData(Enum):
    """``next_event()`` has nothing complete: feed more bytes."""

    NEED_DATA = "NEED_DATA"

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = NeedData.NEED_DATA


class ConnectionState(Enum):
    IDLE = "IDLE"
    HELLO_SENT = "HELLO_SENT"  # central only
    CHALLENGE_SENT = "CHALLENGE_SENT"  # peripheral only
    ESTABLISHED = "ESTABLISHED"
    FAILED = "FAILED"  # central only: handshake failed, start again to retry


class _Input(Enum):
    START = "start_handshake"  # central sends HELLO
    CHALLENGE_OK = "good CHALLENGE"  # central verified the lock's confirmation
    AUTH_FAILED = "authentication failed"
    SESSION_LOST = "NOT_AUTHENTICATED alert"
    HELLO = "HELLO received"  # peripheral
    CONFIRM_OK = "good CONFIRM"  # peripheral verified the bridge's confirmation


_S = ConnectionState
CENTRAL_TRANSITIONS: dict[tuple[ConnectionState, _Input], ConnectionState] = {
    (_S.IDLE, _Input.START): _S.HELLO_SENT,
    (_S.HELLO_SENT, _Input.START): _S.HELLO_SENT,
    (_S.ESTABLISHED, _Input.START): _S.HELLO_SENT,
    (_S.FAILED, _Input.START): _S.HELLO_SENT,
    (_S.HELLO_SENT, _Input.CHALLENGE_OK): _S.ESTABLISHED,
    (_S.HELLO_SENT, _Input.AUTH_FAILED): _S.FAILED,
    (_S.HELLO_SENT, _Input.SESSION_LOST): _S.FAILED,
}
PERIPHERAL_TRANSITIONS: dict[tuple[ConnectionState, _Input], ConnectionState] = {
    (_S.IDLE, _Input.HELLO): _S.CHALLENGE_SENT,
    (_S.CHALLENGE_SENT, _Input.HELLO): _S.CHALLENGE_SENT,
    (_S.ESTABLISHED, _Input.HELLO): _S.CHALLENGE_SENT,
    (_S.CHALLENGE_SENT, _Input.CONFIRM_OK): _S.ESTABLISHED,
    (_S.CHALLENGE_SENT, _Input.AUTH_FAILED): _S.IDLE,
}


@dataclass(frozen=True)
class HandshakeComplete:
    """The session is up; ``session_id`` (8 bytes, public) names it in logs.

    ``key_index`` (bridge side): which of the candidate device keys the lock
    holds, 0 for the first (during a key rotation the bridge offers the
    current key and the pending one; the CHALLENGE tells which the lock has).
    """

    session_id: bytes
    key_index: int = 0


@dataclass(frozen=True)
class HandshakeFailed:
    """Lock side: a bridge failed the handshake (wrong key, bad version...).

    The connection already queued an ALERT for the bridge (``data_to_send()``)
    and went back to IDLE.
    """

    error: ErrorCode


@dataclass(frozen=True)
class Provisioned:
    """Bridge side: the factory-mode lock's answer to PROVISION.

    ``verified``: status OK and the proof matches the key we sent.
    """

    status: ErrorCode
    verified: bool


CentralEvent = HandshakeComplete | Response | LockEvent | Provisioned
PeripheralEvent = HandshakeComplete | HandshakeFailed | Request | Provision


@dataclass(frozen=True)
class ConnectionStats:
    """Counters for logs and benchmarks."""

    frames_received: int
    frames_sent: int
    skipped_bytes: int  # garbage between frames
    rejected_frames: int  # bad header check, length or CRC
    rejected_records: int  # secure records failing AEAD, replay or reorder
    counter_gaps: int  # secure records the peer sent that never arrived


_HELLO_SIZE = 2 + NONCE_SIZE
_CHALLENGE_SIZE = 2 + NONCE_SIZE + CONFIRM_SIZE
_CONFIRM_FRAME_SIZE = 1 + CONFIRM_SIZE
_ALERT_SIZE = 2


class _Connection:
    _TRANSITIONS: dict[tuple[ConnectionState, _Input], ConnectionState] = {}

    def __init__(
        self,
        device_key: bytes | str,
        *,
        mtu: int = DEFAULT_ATT_MTU,
        randbytes: RandBytes = os.urandom,
    ) -> None:
        self._device_key = parse_device_key(device_key)
        self._randbytes = randbytes
        self._chunk_size = chunk_size_for_mtu(mtu)
        self._decoder = FrameDecoder()
        self._outbox: list[bytes] = []
        self._channel: SecureChannel | None = None
        self._state = ConnectionState.IDLE
        self._frames_received = 0
        self._frames_sent = 0
        self._rejected_records = 0
        self._gaps_before = 0

    # ----- public, both sides ------------------------------------------------
    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def session_id(self) -> bytes | None:
        """The current session's id (None before the first handshake)."""
        return self._channel.session_id if self._channel else None

    @property
    def chunk_size(self) -> int:
        return self._chunk_size

    def set_mtu(self, mtu: int) -> None:
        """Use the negotiated ATT MTU for chunks produced from now on."""
        self._chunk_size = chunk_size_for_mtu(mtu)

    def receive_data(self, data: bytes) -> None:
        """Feed bytes received from the peer (any split: chunk, byte, several)."""
        self._decoder.feed(bytes(data))

    def data_to_send(self) -> list[bytes]:
        """Chunks the protocol produced by itself (handshake, alerts); take them."""
        out, self._outbox = self._outbox, []
        return out

    def discard_partial_frame(self) -> None:
        """Forget a half-received frame (call after REASSEMBLY_TIMEOUT of silence)."""
        self._decoder.reset()

    def reset(self) -> None:
        """Back to IDLE with no session (the link dropped)."""
        self._decoder.reset()
        self._outbox.clear()
        self._drop_channel()
        self._state = ConnectionState.IDLE

    @property
    def stats(self) -> ConnectionStats:
        return ConnectionStats(
            frames_received=self._frames_received,
            frames_sent=self._frames_sent,
            skipped_bytes=self._decoder.skipped_bytes,
            rejected_frames=self._decoder.rejected_frames,
            rejected_records=self._rejected_records,
            counter_gaps=self._gaps_before + (self._channel.rx_gaps if self._channel else 0),
        )

    # ----- internals ---------------------------------------------------------
    def _transition(self, event: _Input) -> None:
        try:
            self._state = self._TRANSITIONS[(self._state, event)]
        except KeyError:
            raise LocalProtocolError(
                f"{event.value} not allowed in state {self._state.name}"
            ) from None

    def _frame(self, body: bytes) -> list[bytes]:
        self._frames_sent += 1
        return fragment(encode_frame(body), self._chunk_size)

    def _queue(self, body: bytes) -> None:
        self._outbox.extend(self._frame(body))

    def _drop_channel(self) -> None:
        if self._channel is not None:
            self._gaps_before += self._channel.rx_gaps
        self._channel = None

    def _seal(self, plaintext: bytes) -> list[bytes]:
        if self._state is not ConnectionState.ESTABLISHED or self._channel is None:
            raise LocalProtocolError(f"no session (state {self._state.name}): handshake first")
        return self._frame(self._channel.seal(plaintext))

    def _open(self, body: bytes) -> bytes:
        assert self._channel is not None
        try:
            return self._channel.open(body)
        except (IntegrityError, ReplayError):
            self._rejected_records += 1
            raise

    def _next_frame(self) -> tuple[FrameType, bytes] | None:
        body = self._decoder.next_frame()
        if body is None:
            return None
        self._frames_received += 1
        return FrameType(body[0]), body


class CentralConnection(_Connection):
    """The bridge's side of one BLE connection to one lock.

    Typical use::

        conn = CentralConnection(device_key, mtu=negotiated_mtu)
        write(conn.start_handshake())
        # on each notification: conn.receive_data(chunk), then drain:
        while (event := conn.next_event()) is not NEED_DATA:
            ...                                 # HandshakeComplete, Response, LockEvent
        write(conn.data_to_send())              # the CONFIRM after a CHALLENGE
        write(conn.send(LockRequest(conn.new_request_id())))

    ``next_event()`` raises :class:`AuthenticationError` if the lock does not
    know our key (state FAILED), and :class:`IntegrityError`/:class:`ReplayError`/
    :class:`MalformedMessageError` for one bad frame (dropped; the session stays
    up). ``send()`` returns any pending handshake chunks first, so writing its
    result in order is always correct.
    """

    _TRANSITIONS = CENTRAL_TRANSITIONS

    def __init__(
        self,
        device_key: bytes | str,
        *,
        mtu: int = DEFAULT_ATT_MTU,
        randbytes: RandBytes = os.urandom,
        other_keys: tuple[bytes | str, ...] = (),
    ) -> None:
        super().__init__(device_key, mtu=mtu, randbytes=randbytes)
        self._candidate_keys = (self._device_key, *(parse_device_key(k) for k in other_keys))
        self._provision: Provision | None = None
        self._nonce_bridge = b""
        self._request_id = 0
        self.ignored_alerts = 0  # plaintext ALERTs received while a session was up

    def start_handshake(self) -> list[bytes]:
        """Begin (or restart) the handshake; returns the HELLO chunks to write."""
        self._transition(_Input.START)
        self._drop_channel()
        self._outbox.clear()
        self._nonce_bridge = self._randbytes(NONCE_SIZE)
        return self._frame(bytes((FrameType.HELLO, PROTOCOL_VERSION)) + self._nonce_bridge)

    def provision(self, provision: Provision) -> list[bytes]:
        """The PROVISION frame for a lock in factory mode (no handshake: it has no key yet)."""
        self._provision = provision
        return self._frame(provision.body())

    def new_request_id(self) -> int:
        """A fresh request id (1..65535, wrapping)."""
        self._request_id = self._request_id % 0xFFFF + 1
        return self._request_id

    def send(self, request: Request) -> list[bytes]:
        """Encrypt and frame a request; returns the chunks to write, in order."""
        if not isinstance(request, Request):
            raise LocalProtocolError(f"the bridge sends requests, not {type(request).__name__}")
        chunks = self._seal(bytes(request))
        return self.data_to_send() + chunks

    def next_event(self) -> CentralEvent | NeedData:
        """The next event from the lock, or NEED_DATA."""
        while True:
            frame = self._next_frame()
            if frame is None:
                return NEED_DATA
            kind, body = frame
            if kind is FrameType.SECURE:
                if self._state is not ConnectionState.ESTABLISHED:
                    # A stale record from a previous session, or noise: drop it.
                    raise RemoteProtocolError(f"secure frame in state {self._state.name}")
                return decode_from_lock(self._open(body))
            if kind is FrameType.CHALLENGE:
                return self._on_challenge(body)
            if kind is FrameType.PROVISIONED:
                return self._on_provisioned(body)
            if kind is FrameType.ALERT:
                self._on_alert(body)
            raise RemoteProtocolError(f"unexpected frame type {body[0]:#04x} from the lock")

    def _on_challenge(self, body: bytes) -> HandshakeComplete:
        if self._state is not ConnectionState.HELLO_SENT:
            raise RemoteProtocolError(f"CHALLENGE in state {self._state.name}")
        if len(body) != _CHALLENGE_SIZE:
            raise MalformedMessageError(f"CHALLENGE of {len(body)} bytes")
        if not MIN_PROTOCOL_VERSION <= body[1] <= PROTOCOL_VERSION:
            self._transition(_Input.AUTH_FAILED)
            raise UnsupportedVersionError(f"lock speaks protocol version {body[1]}")
        transcript = versions(PROTOCOL_VERSION, body[1])
        nonce_lock = body[2 : 2 + NONCE_SIZE]
        # One CHALLENGE is checked against each candidate key: no second HELLO, and a
        # lock holding none of them never sees a CONFIRM (so it logs no failed handshake).
        for index, candidate in enumerate(self._candidate_keys):
            keys = derive_session_keys(candidate, self._nonce_bridge, nonce_lock, transcript)
            expected = confirm_tag(
                keys.confirm_key, CONFIRM_LABEL_LOCK, self._nonce_bridge, nonce_lock, transcript
            )
            if hmac.compare_digest(expected, body[2 + NONCE_SIZE :]):
                matched = index
                break
        else:
            self._transition(_Input.AUTH_FAILED)
            raise AuthenticationError(
                "the lock's key confirmation does not match: wrong device key for this lock"
            )
        mine = confirm_tag(
            keys.confirm_key, CONFIRM_LABEL_BRIDGE, self._nonce_bridge, nonce_lock, transcript
        )
        self._queue(bytes((FrameType.CONFIRM,)) + mine)
        self._channel = SecureChannel(keys, bridge_side=True)
        self._transition(_Input.CHALLENGE_OK)
        return HandshakeComplete(keys.session_id, matched)

    def _on_provisioned(self, body: bytes) -> Provisioned:
        status, proof_value = parse_provisioned(body)
        sent = self._provision
        verified = (status is ErrorCode.OK and sent is not None
                    and hmac.compare_digest(proof_value, provision_proof(sent.device_key, sent.serial)))
        return Provisioned(status, verified)

    def _on_alert(self, body: bytes) -> None:
        if len(body) != _ALERT_SIZE:
            raise MalformedMessageError(f"ALERT of {len(body)} bytes")
        code = ErrorCode(body[1])
        if self._state is ConnectionState.ESTABLISHED:
            # Unauthenticated, so anyone can send one: acting on it would let an injected
            # packet end the session (and have a command sent twice). Dropped and counted.
            self.ignored_alerts += 1
            raise RemoteProtocolError(f"plaintext alert {code.name} ignored: a session is up", code)
        if self._state is not ConnectionState.HELLO_SENT:
            raise RemoteProtocolError(f"lock alert {code.name} in state {self._state.name}", code)
        if code is ErrorCode.AUTH_FAILED:
            self._transition(_Input.AUTH_FAILED)
            raise AuthenticationError("the lock rejected our key confirmation: wrong device key")
        if code is ErrorCode.NOT_PROVISIONED:
            self._transition(_Input.AUTH_FAILED)
            raise AuthenticationError("the lock is in factory mode and has no key yet: provision it")
        if code is ErrorCode.UNSUPPORTED_VERSION:
            self._transition(_Input.AUTH_FAILED)
            raise UnsupportedVersionError("the lock does not speak our protocol version")
        if code is ErrorCode.NOT_AUTHENTICATED:
            self._transition(_Input.SESSION_LOST)
            self._drop_channel()
            raise NotAuthenticatedError("the lock has no session for us: handshake again")
        if code is ErrorCode.BUSY:
            self._transition(_Input.SESSION_LOST)
            raise LockBusyError("the lock is backing off after failed handshakes: try later")
        raise RemoteProtocolError(f"lock alert {code.name}", code)


class PeripheralConnection(_Connection):
    """The lock's side of one BLE connection.

    Typical use (the virtual lock's GATT server)::

        conn = PeripheralConnection(device_key, mtu=negotiated_mtu)
        # on each write to the request characteristic:
        conn.receive_data(value)
        while True:
            try:
                event = conn.next_event()
            except ProtocolError:
                log it; continue             # one bad frame, already dropped
            finally:
                notify(conn.data_to_send())  # CHALLENGE, ALERTs, automatic error responses
            if event is NEED_DATA: break
            if isinstance(event, Request): notify(conn.send(lock.handle(event)))
        # unsolicited: if conn.state is ESTABLISHED: notify(conn.send(lock_event))

    Requests that cannot be decoded (unknown opcode, bad PIN format, ...) are
    answered automatically with an ErrorResponse queued in ``data_to_send()``.
    """

    _TRANSITIONS = PERIPHERAL_TRANSITIONS

    def __init__(
        self,
        device_key: bytes | str | None,
        *,
        mtu: int = DEFAULT_ATT_MTU,
        randbytes: RandBytes = os.urandom,
        backoff: HandshakeBackoff | None = None,
    ) -> None:
        # None: a lock in factory mode (no key yet): it accepts PROVISION and refuses HELLO.
        self.factory_mode = device_key is None
        super().__init__(bytes(16) if device_key is None else device_key, mtu=mtu, randbytes=randbytes)
        self._pending_keys: SessionKeys | None = None
        self._nonces = (b"", b"")
        self._transcript = versions()
        # One per lock, shared by its connections (an attacker simply reconnects).
        self._backoff = backoff

    def provisioned(self, device_key: bytes, serial: str) -> None:
        """The lock stored what PROVISION carried: answer with the proof; handshakes use the key now."""
        self.factory_mode = False
        self._device_key = parse_device_key(device_key)
        self._queue(provisioned_body(ErrorCode.OK, provision_proof(self._device_key, serial)))

    def replace_device_key(self, device_key: bytes | str) -> None:
        """A committed key rotation: the next handshake on this connection uses the new key.

        The session in progress keeps its session keys (they were derived from
        the old key, which the bridge also proved it knows).
        """
        self._device_key = parse_device_key(device_key)
        self.factory_mode = False

    def send(self, message: Response | LockEvent) -> list[bytes]:
        """Encrypt and frame a response or an event; returns chunks to notify."""
        if not isinstance(message, Response | LockEvent):
            raise LocalProtocolError(
                f"the lock sends responses/events, not {type(message).__name__}"
            )
        chunks = self._seal(bytes(message))
        return self.data_to_send() + chunks

    def next_event(self) -> PeripheralEvent | NeedData:
        """The next event from the bridge, or NEED_DATA. Flush ``data_to_send()`` after."""
        while True:
            frame = self._next_frame()
            if frame is None:
                return NEED_DATA
            kind, body = frame
            if kind is FrameType.SECURE:
                request = self._on_secure(body)
                if request is not None:
                    return request
                continue
            if kind is FrameType.HELLO:
                if self.factory_mode:  # no key to answer with
                    self._alert(ErrorCode.NOT_PROVISIONED)
                    return HandshakeFailed(ErrorCode.NOT_PROVISIONED)
                failed = self._on_hello(body)
                if failed is not None:
                    return failed
                continue
            if kind is FrameType.CONFIRM:
                return self._on_confirm(body)
            if kind is FrameType.PROVISION:
                if not self.factory_mode:  # once only: a provisioned lock never takes new keys this way
                    self._queue(provisioned_body(ErrorCode.FACTORY_LOCKED))
                    continue
                try:
                    return Provision.from_body(body)
                except MalformedMessageError:
                    self._queue(provisioned_body(ErrorCode.MALFORMED))
                    raise
            raise RemoteProtocolError(f"unexpected frame type {body[0]:#04x} from the bridge")

    def _alert(self, code: ErrorCode) -> None:
        self._queue(bytes((FrameType.ALERT, code)))

    def _on_hello(self, body: bytes) -> HandshakeFailed | None:
        if len(body) != _HELLO_SIZE:
            raise MalformedMessageError(f"HELLO of {len(body)} bytes")
        if body[1] < MIN_PROTOCOL_VERSION:
            self._alert(ErrorCode.UNSUPPORTED_VERSION)
            return HandshakeFailed(ErrorCode.UNSUPPORTED_VERSION)
        if self._backoff is not None and not self._backoff.allows_handshake():
            self._alert(ErrorCode.BUSY)
            return HandshakeFailed(ErrorCode.BUSY)
        self._transition(_Input.HELLO)
        self._drop_channel()
        # A newer bridge is answered in our version; both bytes go into the keys.
        chosen = min(body[1], PROTOCOL_VERSION)
        transcript = versions(body[1], chosen)
        nonce_bridge = body[2:]
        nonce_lock = self._randbytes(NONCE_SIZE)
        keys = derive_session_keys(self._device_key, nonce_bridge, nonce_lock, transcript)
        self._pending_keys = keys
        self._nonces = (nonce_bridge, nonce_lock)
        self._transcript = transcript
        tag = confirm_tag(keys.confirm_key, CONFIRM_LABEL_LOCK, nonce_bridge, nonce_lock, transcript)
        self._queue(bytes((FrameType.CHALLENGE, chosen)) + nonce_lock + tag)
        return None

    def _on_confirm(self, body: bytes) -> HandshakeComplete | HandshakeFailed:
        if self._state is not ConnectionState.CHALLENGE_SENT or self._pending_keys is None:
            raise RemoteProtocolError(f"CONFIRM in state {self._state.name}")
        keys, (nonce_bridge, nonce_lock) = self._pending_keys, self._nonces
        expected = confirm_tag(
            keys.confirm_key, CONFIRM_LABEL_BRIDGE, nonce_bridge, nonce_lock, self._transcript
        )
        if len(body) != _CONFIRM_FRAME_SIZE or not hmac.compare_digest(expected, body[1:]):
            self._pending_keys = None
            self._transition(_Input.AUTH_FAILED)
            self._alert(ErrorCode.AUTH_FAILED)
            if self._backoff is not None:
                self._backoff.failed()
            return HandshakeFailed(ErrorCode.AUTH_FAILED)
        self._pending_keys = None
        if self._backoff is not None:
            self._backoff.succeeded()
        self._channel = SecureChannel(keys, bridge_side=False)
        self._transition(_Input.CONFIRM_OK)
        return HandshakeComplete(keys.session_id)

    def _on_secure(self, body: bytes) -> Request | None:
        if self._state is not ConnectionState.ESTABLISHED:
            self._alert(ErrorCode.NOT_AUTHENTICATED)
            raise NotAuthenticatedError("secure frame before the handshake")
        plaintext = self._open(body)
        try:
            return decode_request(plaintext)
        except MalformedMessageError as err:
            if err.request_id is None:
                raise
            opcode = err.opcode if err.opcode is not None else Opcode.UNKNOWN
            answer = ErrorResponse(err.request_id, min(opcode, REQUEST_OPCODE_MAX), err.error_code)
            self._outbox.extend(self._seal(bytes(answer)))
            return None
