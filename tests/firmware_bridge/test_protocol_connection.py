"""Connections: handshake, state machines, and every attack the AEAD layer must stop."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.protocol import (
    CENTRAL_TRANSITIONS,
    NEED_DATA,
    PERIPHERAL_TRANSITIONS,
    AuthenticationError,
    BoltState,
    CentralConnection,
    ConnectionState,
    ErrorCode,
    ErrorResponse,
    HandshakeComplete,
    HandshakeFailed,
    IntegrityError,
    LocalProtocolError,
    LockedEvent,
    LockRequest,
    LockResponse,
    MalformedMessageError,
    NotAuthenticatedError,
    PeripheralConnection,
    ProtocolError,
    PutCodeRequest,
    RemoteProtocolError,
    ReplayError,
    Source,
    StatusRequest,
    UnsupportedVersionError,
    vectors,
)
from firmware_bridge.protocol.const import FrameType
from firmware_bridge.protocol.framing import FrameDecoder, encode_frame

KEY = bytes(range(16))
OTHER_KEY = bytes(16)


def drain(conn: CentralConnection | PeripheralConnection) -> list[object]:
    events = []
    while (event := conn.next_event()) is not NEED_DATA:
        events.append(event)
    return events


@dataclass
class Pair:
    """A central and a peripheral wired together; chunks are delivered explicitly."""

    central: CentralConnection
    lock: PeripheralConnection
    to_lock: list[bytes] = field(default_factory=list)  # every chunk the bridge ever sent
    to_bridge: list[bytes] = field(default_factory=list)

    def lock_receives(self, chunks: list[bytes]) -> list[object]:
        self.to_lock += chunks
        for chunk in chunks:
            self.lock.receive_data(chunk)
        return drain(self.lock)

    def bridge_receives(self, chunks: list[bytes]) -> list[object]:
        self.to_bridge += chunks
        for chunk in chunks:
            self.central.receive_data(chunk)
        return drain(self.central)

    def handshake(self) -> bytes:
        assert self.lock_receives(self.central.start_handshake()) == []
        (done,) = self.bridge_receives(self.lock.data_to_send())
        assert isinstance(done, HandshakeComplete)
        (lock_done,) = self.lock_receives(self.central.data_to_send())
        assert lock_done == done
        return done.session_id

    def request(self, request: object) -> list[object]:
        """Send a request to the lock; returns what the lock's next_event() yields."""
        return self.lock_receives(self.central.send(request))  # type: ignore[arg-type]


def make_pair(mtu: int = 23, key: bytes = KEY, lock_key: bytes = KEY) -> Pair:
    return Pair(CentralConnection(key, mtu=mtu), PeripheralConnection(lock_key, mtu=mtu))


@pytest.fixture
def pair() -> Pair:
    p = make_pair()
    p.handshake()
    return p


def frames_of(chunks: list[bytes]) -> list[bytes]:
    decoder = FrameDecoder()
    decoder.feed(b"".join(chunks))
    out = []
    while (body := decoder.next_frame()) is not None:
        out.append(body)
    return out


# ------------------------------------------------------------------ handshake
def test_handshake_establishes_the_same_session_on_both_sides() -> None:
    p = make_pair()
    session_id = p.handshake()
    assert len(session_id) == 8
    assert p.central.state is p.lock.state is ConnectionState.ESTABLISHED
    assert p.central.session_id == p.lock.session_id == session_id


@pytest.mark.parametrize("mtu", [23, 64, 247, 517])
def test_requests_responses_and_events_at_every_mtu(mtu: int) -> None:
    p = make_pair(mtu)
    p.handshake()
    request = PutCodeRequest(p.central.new_request_id(), 7, "48291375", "Front door 1", 10, 20)
    assert p.request(request) == [request]
    answer = [LockResponse(1, BoltState.LOCKED), LockedEvent(9, 100, Source.KEYPAD, 7)]
    chunks = p.lock.send(answer[0]) + p.lock.send(answer[1])
    assert all(len(c) <= min(mtu - 3, 512) for c in chunks)
    assert p.bridge_receives(chunks) == answer


def test_set_mtu_changes_the_chunk_size(pair: Pair) -> None:
    assert max(map(len, pair.central.send(PutCodeRequest(1, 1, "1234", "x" * 14)))) == 20
    pair.central.set_mtu(185)
    assert len(pair.central.send(PutCodeRequest(2, 1, "1234", "x" * 14))) == 1


def test_handshake_and_traffic_fed_one_byte_at_a_time() -> None:
    p = make_pair()
    for byte in b"".join(p.central.start_handshake()):
        p.lock.receive_data(bytes((byte,)))
        assert p.lock.next_event() is NEED_DATA
    challenge = b"".join(p.lock.data_to_send())
    events = []
    for byte in challenge:
        p.central.receive_data(bytes((byte,)))
        events += drain(p.central)
    assert [type(e) for e in events] == [HandshakeComplete]
    confirm_and_request = b"".join(p.central.send(StatusRequest(5)))  # CONFIRM is prepended
    events = []
    for byte in confirm_and_request:
        p.lock.receive_data(bytes((byte,)))
        events += drain(p.lock)
    assert [type(e) for e in events] == [HandshakeComplete, StatusRequest]


def test_wrong_key_fails_clearly_on_the_bridge() -> None:
    p = make_pair(key=OTHER_KEY)
    p.lock_receives(p.central.start_handshake())
    with pytest.raises(AuthenticationError, match="wrong device key"):
        p.bridge_receives(p.lock.data_to_send())
    assert p.central.state is ConnectionState.FAILED
    assert p.central.data_to_send() == []  # no CONFIRM leaves the bridge
    with pytest.raises(LocalProtocolError):
        p.central.send(StatusRequest(1))


def test_lock_rejects_a_bad_confirm_and_the_bridge_ignores_the_plaintext_alert() -> None:
    """The bridge already verified the lock's confirmation: its session is up, and an
    unauthenticated ALERT (anyone's to send) must not end it; a real failure shows
    as the first request's timeout."""
    p = make_pair()
    p.lock_receives(p.central.start_handshake())
    p.bridge_receives(p.lock.data_to_send())
    p.central.data_to_send()  # drop the real CONFIRM; forge one
    forged = encode_frame(bytes((FrameType.CONFIRM,)) + bytes(16))
    assert p.lock_receives([forged]) == [HandshakeFailed(ErrorCode.AUTH_FAILED)]
    assert p.lock.state is ConnectionState.IDLE
    with pytest.raises(RemoteProtocolError, match="ignored"):
        p.bridge_receives(p.lock.data_to_send())
    assert p.central.state is ConnectionState.ESTABLISHED
    assert p.central.ignored_alerts == 1


def test_an_auth_failed_alert_during_the_handshake_fails_it() -> None:
    p = make_pair()
    p.central.start_handshake()
    with pytest.raises(AuthenticationError, match="rejected"):
        p.bridge_receives([encode_frame(bytes((FrameType.ALERT, ErrorCode.AUTH_FAILED)))])
    assert p.central.state is ConnectionState.FAILED


def test_bridge_can_retry_after_a_failed_handshake() -> None:
    p = make_pair(key=OTHER_KEY)
    p.lock_receives(p.central.start_handshake())
    with pytest.raises(AuthenticationError):
        p.bridge_receives(p.lock.data_to_send())
    p.central = CentralConnection(KEY)
    p.handshake()


def test_unsupported_version_is_refused_both_ways() -> None:
    p = make_pair()
    hello = bytearray(frames_of(p.central.start_handshake())[0])
    hello[1] = 1  # version 1 had no downgrade protection: refused
    assert p.lock_receives([encode_frame(bytes(hello))]) == [
        HandshakeFailed(ErrorCode.UNSUPPORTED_VERSION)
    ]
    with pytest.raises(UnsupportedVersionError):
        p.bridge_receives(p.lock.data_to_send())
    p = make_pair()
    p.lock_receives(p.central.start_handshake())
    challenge = bytearray(frames_of(p.lock.data_to_send())[0])
    challenge[1] = 1
    with pytest.raises(UnsupportedVersionError):
        p.bridge_receives([encode_frame(bytes(challenge))])


def test_secure_frame_before_handshake_is_refused_with_an_alert(pair: Pair) -> None:
    fresh_lock = PeripheralConnection(KEY)  # e.g. the lock rebooted
    pair.lock = fresh_lock
    with pytest.raises(NotAuthenticatedError):
        pair.request(StatusRequest(1))
    # The bridge's session is up: the plaintext alert is ignored (its request times out)...
    with pytest.raises(RemoteProtocolError, match="ignored"):
        pair.bridge_receives(fresh_lock.data_to_send())
    assert pair.central.state is ConnectionState.ESTABLISHED
    pair.handshake()  # ...and a new handshake recovers
    assert pair.request(StatusRequest(2)) == [StatusRequest(2)]


def test_not_authenticated_alert_during_the_handshake_asks_for_a_new_one() -> None:
    p = make_pair()
    p.central.start_handshake()
    with pytest.raises(NotAuthenticatedError, match="handshake again"):
        p.bridge_receives([encode_frame(bytes((FrameType.ALERT, ErrorCode.NOT_AUTHENTICATED)))])
    assert p.central.state is ConnectionState.FAILED


def test_send_before_handshake_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        CentralConnection(KEY).send(StatusRequest(1))
    with pytest.raises(LocalProtocolError):
        PeripheralConnection(KEY).send(LockResponse(1, BoltState.LOCKED))


def test_each_side_sends_only_its_own_messages(pair: Pair) -> None:
    with pytest.raises(LocalProtocolError):
        pair.central.send(LockResponse(1, BoltState.LOCKED))  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        pair.lock.send(StatusRequest(1))  # type: ignore[arg-type]


@pytest.mark.parametrize("key", [b"short", "zz" * 16, "00" * 15])
def test_bad_device_keys_are_refused(key: bytes | str) -> None:
    with pytest.raises(LocalProtocolError):
        CentralConnection(key)


def test_hex_device_key_is_accepted() -> None:
    p = Pair(CentralConnection(KEY.hex()), PeripheralConnection(KEY))
    p.handshake()


# ------------------------------------------------------------------ attacks
def test_tampered_record_is_rejected_and_the_session_survives(pair: Pair) -> None:
    (record,) = frames_of(pair.central.send(StatusRequest(1)))
    for index in range(len(record)):
        if index == 0:
            continue  # the type byte: the frame is no longer a record
        forged = bytearray(record)
        forged[index] ^= 0x01
        # An attacker recomputes the CRC, so only the AEAD can notice.
        with pytest.raises(IntegrityError):
            pair.lock_receives([encode_frame(bytes(forged))])
    assert pair.lock_receives([encode_frame(record)]) == [StatusRequest(1)]
    assert pair.lock.stats.rejected_records == len(record) - 1


def test_truncated_record_is_rejected(pair: Pair) -> None:
    (record,) = frames_of(pair.central.send(StatusRequest(1)))
    for cut in (1, 5, 10, len(record) - 1):
        with pytest.raises(IntegrityError):
            pair.lock_receives([encode_frame(record[:cut])])


def test_replayed_request_is_rejected(pair: Pair) -> None:
    chunks = pair.central.send(LockRequest(1))
    assert pair.lock_receives(chunks) == [LockRequest(1)]
    with pytest.raises(ReplayError):
        pair.lock_receives(chunks)


def test_replayed_response_is_rejected(pair: Pair) -> None:
    chunks = pair.lock.send(LockResponse(1, BoltState.UNLOCKED))
    pair.bridge_receives(chunks)
    with pytest.raises(ReplayError):
        pair.bridge_receives(chunks)


def test_reordered_frames_are_rejected_but_gaps_are_allowed(pair: Pair) -> None:
    first = pair.central.send(StatusRequest(1))
    second = pair.central.send(StatusRequest(2))
    third = pair.central.send(StatusRequest(3))
    assert pair.lock_receives(second) == [StatusRequest(2)]  # first was lost or delayed
    with pytest.raises(ReplayError):
        pair.lock_receives(first)
    assert pair.lock_receives(third) == [StatusRequest(3)]
    assert pair.lock.stats.counter_gaps == 1


def test_frames_from_another_session_are_rejected(pair: Pair) -> None:
    old = pair.central.send(StatusRequest(1))
    pair.handshake()  # a new session on the same link (re-key)
    with pytest.raises(IntegrityError):
        pair.lock_receives(old)
    other = make_pair()
    other.handshake()
    with pytest.raises(IntegrityError):
        pair.lock_receives(other.central.send(StatusRequest(1)))


def test_reflected_frames_are_rejected(pair: Pair) -> None:
    """A record sent to the lock, reflected back to the bridge, fails (direction in nonce)."""
    chunks = pair.central.send(StatusRequest(1))
    with pytest.raises(IntegrityError):
        pair.bridge_receives(chunks)


def test_counters_restart_per_session(pair: Pair) -> None:
    pair.request(StatusRequest(1))
    pair.handshake()
    (record,) = frames_of(pair.central.send(StatusRequest(2)))
    assert record[1:5] == (1).to_bytes(4, "little")


def test_unexpected_handshake_frames_are_remote_errors(pair: Pair) -> None:
    with pytest.raises(RemoteProtocolError):
        pair.bridge_receives([encode_frame(bytes((FrameType.HELLO, 1)) + bytes(16))])
    with pytest.raises(RemoteProtocolError):
        pair.bridge_receives([encode_frame(bytes((FrameType.CHALLENGE, 1)) + bytes(32))])
    with pytest.raises(RemoteProtocolError):
        pair.lock_receives([encode_frame(bytes((FrameType.CONFIRM,)) + bytes(16))])
    with pytest.raises(RemoteProtocolError):
        pair.lock_receives([encode_frame(b"\x55")])
    assert pair.central.state is pair.lock.state is ConnectionState.ESTABLISHED
    assert pair.request(StatusRequest(9)) == [StatusRequest(9)]


# ------------------------------------------------------------------ lock answers by itself
def _raw_request(pair: Pair, plaintext: bytes) -> list[bytes]:
    assert pair.central._channel is not None
    return [encode_frame(pair.central._channel.seal(plaintext))]


@pytest.mark.parametrize(
    ("plaintext", "answer"),
    [
        ("3e 0700", ErrorResponse(7, 0x3E, ErrorCode.UNKNOWN_OPCODE)),
        (
            "05 0800 0100 00 00000000 00000000 03 3132330000000000 00" + "00" * 56,
            ErrorResponse(8, 5, ErrorCode.BAD_PIN),
        ),
        ("02 0900 ff", ErrorResponse(9, 2, ErrorCode.MALFORMED)),
        ("90 0a00", ErrorResponse(10, 0x3F, ErrorCode.UNKNOWN_OPCODE)),
    ],
)
def test_undecodable_requests_are_answered_automatically(
    pair: Pair, plaintext: str, answer: ErrorResponse
) -> None:
    assert pair.lock_receives(_raw_request(pair, bytes.fromhex(plaintext))) == []
    assert pair.bridge_receives(pair.lock.data_to_send()) == [answer]


def test_request_without_a_header_raises(pair: Pair) -> None:
    with pytest.raises(MalformedMessageError):
        pair.lock_receives(_raw_request(pair, b"\x01"))


# ------------------------------------------------------------------ state tables
def test_state_tables() -> None:
    central = {(s.name, i.value): t.name for (s, i), t in CENTRAL_TRANSITIONS.items()}
    assert central[("IDLE", "start_handshake")] == "HELLO_SENT"
    assert central[("HELLO_SENT", "good CHALLENGE")] == "ESTABLISHED"
    assert central[("HELLO_SENT", "authentication failed")] == "FAILED"
    assert ("IDLE", "good CHALLENGE") not in central
    lock = {(s.name, i.value): t.name for (s, i), t in PERIPHERAL_TRANSITIONS.items()}
    assert lock[("IDLE", "HELLO received")] == "CHALLENGE_SENT"
    assert lock[("CHALLENGE_SENT", "good CONFIRM")] == "ESTABLISHED"
    assert lock[("CHALLENGE_SENT", "authentication failed")] == "IDLE"
    assert ("IDLE", "good CONFIRM") not in lock


def test_reset_returns_to_idle(pair: Pair) -> None:
    pair.lock.reset()
    assert pair.lock.state is ConnectionState.IDLE and pair.lock.session_id is None


def test_request_ids_wrap_and_skip_zero() -> None:
    central = CentralConnection(KEY)
    central._request_id = 0xFFFE
    assert [central.new_request_id() for _ in range(3)] == [0xFFFF, 1, 2]


# ------------------------------------------------------------------ vectors
def test_vectors_match_an_independent_computation() -> None:
    """HKDF and HMAC by hand (RFC 5869), AES-CCM from the printed frame."""
    salt = vectors.NONCE_BRIDGE + vectors.NONCE_LOCK
    prk = hmac.new(salt, vectors.DEVICE_KEY, hashlib.sha256).digest()
    info = b"LKP2 session keys\x02\x02"  # the label, then the HELLO and CHALLENGE versions
    t1 = hmac.new(prk, info + b"\x01", hashlib.sha256).digest()
    t2 = hmac.new(prk, t1 + info + b"\x02", hashlib.sha256).digest()
    okm = (t1 + t2)[:40]
    text = "\n".join(vectors.lines())
    assert f"session_key    = {okm[:16].hex(' ')}" in text
    assert f"session_id     = {okm[32:].hex(' ')}" in text
    confirm = hmac.new(okm[16:32], b"LKP2 lock confirm\x02\x02" + salt, hashlib.sha256).digest()[:16]
    assert f"confirm_lock   = {confirm.hex(' ')}" in text
    lines = vectors.lines()
    start = lines.index("# bridge -> lock, counter 1: StatusRequest(request_id=1)")
    section = lines[start : lines.index("", start)]
    frame = bytes.fromhex(
        " ".join(x.split(": ")[1] for x in section if x.startswith("frame chunk"))
    )
    record = frame[4:-4]
    assert f"ct || tag = {record[5:].hex(' ')}" in section
    nonce = bytes((1,)) + okm[32:] + (1).to_bytes(4, "little")
    assert AESCCM(okm[:16], tag_length=16).decrypt(nonce, record[5:], record[:5]) == b"\x01\x01\x00"


def test_doc_carries_the_current_vectors_and_tables() -> None:
    doc = Path(__file__).parents[2] / "docs" / "ble-protocol.md"
    text = doc.read_text(encoding="utf-8")
    assert vectors.render_doc(text) == text, (
        "run: python -m firmware_bridge.protocol.vectors --update-doc docs/ble-protocol.md"
    )
    assert "\n".join(vectors.lines()) in text


def test_vectors_are_deterministic() -> None:
    assert vectors.lines() == vectors.lines()


# ------------------------------------------------------------------ properties
@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=48), max_size=12))
def test_random_chunks_raise_only_protocol_errors(chunks: list[bytes]) -> None:
    p = make_pair()
    p.handshake()
    for conn in (p.central, p.lock):
        for chunk in chunks:
            conn.receive_data(chunk)
            while True:
                try:
                    if conn.next_event() is NEED_DATA:
                        break
                except ProtocolError:
                    continue
    p.lock.discard_partial_frame()  # what a lock does after REASSEMBLY_TIMEOUT of silence
    p.central.discard_partial_frame()
    assert p.request(StatusRequest(1)) == [StatusRequest(1)]
    assert p.bridge_receives(p.lock.send(LockResponse(1, BoltState.LOCKED)))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 7)), min_size=1, max_size=4))
def test_bit_flips_in_transit_never_deliver_a_wrong_message(flips: list[tuple[int, int]]) -> None:
    p = make_pair()
    p.handshake()
    request = PutCodeRequest(3, 4, "123456", "Garage")
    stream = bytearray(b"".join(p.central.send(request)))
    for index, bit in flips:
        stream[index % len(stream)] ^= 1 << bit
    p.lock.receive_data(bytes(stream))
    delivered = []
    while True:
        try:
            event = p.lock.next_event()
        except ProtocolError:
            continue
        if event is NEED_DATA:
            break
        delivered.append(event)
    assert delivered in ([], [request])


@pytest.mark.parametrize(
    "code", [ErrorCode.AUTH_FAILED, ErrorCode.NOT_AUTHENTICATED, ErrorCode.BUSY]
)
def test_alerts_outside_a_handshake_or_session_are_remote_errors(code: ErrorCode) -> None:
    central = CentralConnection(KEY)
    alert = encode_frame(bytes((FrameType.ALERT, code)))
    central.receive_data(alert)
    with pytest.raises(RemoteProtocolError):
        central.next_event()
    assert central.state is ConnectionState.IDLE
    central.start_handshake()
    central.receive_data(alert)
    with pytest.raises(RemoteProtocolError):
        central.next_event()
    central.receive_data(alert)  # a second alert once FAILED is still a remote error
    with pytest.raises(RemoteProtocolError):
        central.next_event()


def test_the_largest_pages_fit_in_one_frame(pair: Pair) -> None:
    from firmware_bridge.protocol import (
        CodeEntry,
        IncorrectPinEvent,
        ListCodesResponse,
        ReadEventsResponse,
    )
    from firmware_bridge.protocol.const import MAX_MESSAGE_SIZE

    name = "\U0001f511" * 14  # 14 characters of 4 UTF-8 bytes each
    codes = tuple(CodeEntry(s, "12345678", name, 1, 0xFFFF_FFFF) for s in range(1, 11))
    events = tuple(IncorrectPinEvent(s, 0xFFFF_FFFF, "1" * 16) for s in range(1, 17))
    for message in (
        ListCodesResponse(1, codes, 0xFFFE),
        ReadEventsResponse(2, events, 16, 1),
    ):
        assert len(bytes(message)) <= MAX_MESSAGE_SIZE
        assert pair.bridge_receives(pair.lock.send(message)) == [message]


def test_stale_secure_frame_during_a_new_handshake_is_dropped(pair: Pair) -> None:
    stale = pair.lock.send(LockResponse(1, BoltState.LOCKED))
    pair.lock_receives(pair.central.start_handshake())
    with pytest.raises(RemoteProtocolError) as info:
        pair.bridge_receives(stale)
    assert not isinstance(info.value, NotAuthenticatedError)
    assert pair.central.state is ConnectionState.HELLO_SENT
    (done,) = pair.bridge_receives(pair.lock.data_to_send())
    assert isinstance(done, HandshakeComplete)
