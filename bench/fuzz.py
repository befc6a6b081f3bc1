"""Long fuzz run of the BLE protocol decoders (hypothesis), against the clock.

Four properties, each run for a time budget (batches of examples with fresh
seeds until the budget is spent):

- resync: valid frames mixed with random garbage, cut into random chunks, are
  all recovered in order (nothing desynchronises the stream for good);
- decoders: random bytes given to every message decoder either decode (and then
  re-encode to something that decodes to the same message) or raise the
  package's ProtocolError, nothing else;
- connections: random chunks fed to both sides of a connection, before and after
  a handshake, only ever raise ProtocolError;
- tamper/replay: in a real session, every tampered (re-framed with a valid CRC),
  replayed or reordered secure record is rejected.

The slowest single example is reported, so a hang or a quadratic case shows up.

    python -m bench.fuzz [--quick]
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench.common import main_for, row, skipped

NAME = "fuzz (BLE decoders)"


class _Budget:
    def __init__(self) -> None:
        self.examples = 0
        self.slowest = 0.0

    def timed(self, fn: Callable[..., None]) -> Callable[..., None]:
        def wrapper(*args: Any, **kwargs: Any) -> None:
            start = time.perf_counter()
            fn(*args, **kwargs)
            self.slowest = max(self.slowest, time.perf_counter() - start)
            self.examples += 1

        wrapper.__name__ = fn.__name__
        return wrapper


def _run_for(seconds: float, build: Callable[[_Budget], Callable[[], None]]) -> _Budget:
    """Runs hypothesis batches with new seeds until `seconds` have passed."""
    from hypothesis import HealthCheck, seed, settings

    budget = _Budget()
    deadline = time.monotonic() + seconds
    batch = 0
    while time.monotonic() < deadline:
        test = build(budget)
        test = settings(max_examples=500, deadline=None, database=None, derandomize=False,
                        suppress_health_check=list(HealthCheck))(test)
        seed(batch * 7919 + 17)(test)()
        batch += 1
    return budget


def _splits(draw: Any, data: bytes) -> list[bytes]:
    from hypothesis import strategies as st

    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    chunks, last = [], 0
    for cut in cuts + [len(data)]:
        chunks.append(data[last:cut])
        last = cut
    return chunks


def resync(budget: _Budget) -> Callable[[], None]:
    from hypothesis import given
    from hypothesis import strategies as st

    from firmware_bridge.protocol.const import FRAME_HEADER_SIZE, FRAME_TRAILER_SIZE, MAX_FRAME_BODY
    from firmware_bridge.protocol.framing import FrameDecoder, encode_frame

    garbage = st.binary(max_size=64) | st.lists(st.sampled_from([b"\xa5", b"\x00", b"\xff"]), max_size=16).map(b"".join)
    bodies = st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=5)

    @given(bodies=bodies, gaps=st.lists(garbage, min_size=6, max_size=6), data=st.data())
    @budget.timed
    def test(bodies: list[bytes], gaps: list[bytes], data: Any) -> None:
        stream = b"".join(gaps[i] + encode_frame(body) for i, body in enumerate(bodies))
        # Enough trailing bytes for any garbage header's declared length to be checked.
        stream += gaps[-1] + b"\x00" * (MAX_FRAME_BODY + FRAME_HEADER_SIZE + FRAME_TRAILER_SIZE)
        decoder = FrameDecoder()
        got = []
        for chunk in _splits(data.draw, stream):
            decoder.feed(chunk)
            while (frame := decoder.next_frame()) is not None:
                got.append(frame)
        # Garbage may (with CRC-32 odds) form a frame of its own; the real ones must all be there, in order.
        rest = iter(got)
        assert all(any(b == g for g in rest) for b in bodies), (bodies, got)

    return test


def decoders(budget: _Budget) -> Callable[[], None]:
    from hypothesis import given
    from hypothesis import strategies as st

    from firmware_bridge.protocol import messages
    from firmware_bridge.protocol.errors import ProtocolError

    functions = [messages.decode_request, messages.decode_from_lock, messages.decode_event,
                 messages.decode_response]
    # Valid headers make the fuzzer reach the bodies: opcode/event bytes from the real ranges.
    prefix = st.sampled_from([b"", bytes([0x01]), bytes([0x81, 0, 0]), bytes([0x40])]) | st.binary(max_size=3)

    @given(head=prefix, tail=st.binary(max_size=200), which=st.sampled_from(functions))
    @budget.timed
    def test(head: bytes, tail: bytes, which: Any) -> None:
        try:
            message = which(head + tail)
        except ProtocolError:
            return
        assert which(bytes(message)) == message

    return test


def connections(budget: _Budget) -> Callable[[], None]:
    from hypothesis import given
    from hypothesis import strategies as st

    from firmware_bridge.protocol.connection import (
        NEED_DATA,
        CentralConnection,
        PeripheralConnection,
    )
    from firmware_bridge.protocol.errors import ProtocolError
    from firmware_bridge.protocol.framing import encode_frame

    key = bytes(range(16))
    junk = st.binary(max_size=80) | st.binary(min_size=1, max_size=120).map(encode_frame)

    @given(chunks=st.lists(junk, max_size=8), central_first=st.booleans(), handshake=st.booleans())
    @budget.timed
    def test(chunks: list[bytes], central_first: bool, handshake: bool) -> None:
        central, lock = CentralConnection(key), PeripheralConnection(key)
        if handshake:
            _handshake(central, lock)
        target = central if central_first else lock
        if central_first and not handshake:
            central.start_handshake()
        for chunk in chunks:
            target.receive_data(chunk)
            for _ in range(len(chunk) + 2):  # each event consumes input: bounded
                try:
                    if target.next_event() is NEED_DATA:
                        break
                except ProtocolError:
                    continue
            target.data_to_send()

    return test


def _handshake(central: Any, lock: Any) -> None:
    from firmware_bridge.protocol.connection import NEED_DATA, HandshakeComplete

    for chunk in central.start_handshake():
        lock.receive_data(chunk)
    assert lock.next_event() is NEED_DATA
    for chunk in lock.data_to_send():
        central.receive_data(chunk)
    assert isinstance(central.next_event(), HandshakeComplete)
    for chunk in central.data_to_send():
        lock.receive_data(chunk)
    assert isinstance(lock.next_event(), HandshakeComplete)


class Counts:
    tampered = replayed = reordered = accepted_bad = 0


def tamper(budget: _Budget, counts: Counts) -> Callable[[], None]:
    from hypothesis import given
    from hypothesis import strategies as st

    from firmware_bridge.protocol.connection import CentralConnection, PeripheralConnection
    from firmware_bridge.protocol.errors import ProtocolError
    from firmware_bridge.protocol.framing import FrameDecoder, encode_frame
    from firmware_bridge.protocol.messages import LockRequest, StatusRequest, UnlockRequest

    key = bytes(range(16, 32))

    def bodies_of(chunks: list[bytes]) -> list[bytes]:
        decoder = FrameDecoder()
        for chunk in chunks:
            decoder.feed(chunk)
        out = []
        while (body := decoder.next_frame()) is not None:
            out.append(body)
        return out

    def rejected(lock: Any, body: bytes) -> bool:
        lock.receive_data(encode_frame(body))
        try:
            lock.next_event()
        except ProtocolError:
            return True
        finally:
            lock.data_to_send()
        return False

    @given(n=st.integers(2, 6), position=st.integers(0, 10_000), flip=st.integers(1, 255),
           mode=st.sampled_from(["tamper", "replay", "reorder"]))
    @budget.timed
    def test(n: int, position: int, flip: int, mode: str) -> None:
        central, lock = CentralConnection(key), PeripheralConnection(key)
        _handshake(central, lock)
        kinds = [StatusRequest, LockRequest, UnlockRequest]
        records = [bodies_of(central.send(kinds[i % 3](central.new_request_id())))[0] for i in range(n)]
        if mode == "tamper":
            counts.tampered += 1
            body = bytearray(records[0])
            # Byte 0 is the frame type (a different kind of frame, not a tampered record).
            body[1 + position % (len(body) - 1)] ^= flip
            bad = not rejected(lock, bytes(body))
            counts.accepted_bad += bad
            assert not bad, "tampered record accepted"
            return
        if mode == "replay":
            counts.replayed += 1
            assert not rejected(lock, records[0])
            bad = not rejected(lock, records[0])
        else:
            counts.reordered += 1
            assert not rejected(lock, records[1])
            bad = not rejected(lock, records[0])
        counts.accepted_bad += bad
        assert not bad, f"{mode} accepted"

    return test


def run(quick: bool = False) -> list[dict]:
    try:
        import firmware_bridge.protocol.connection  # noqa: F401
        import firmware_bridge.protocol.messages  # noqa: F401
    except ImportError as err:
        return skipped(NAME, f"protocol package incomplete: {err}")
    seconds = 5 if quick else 45
    rows = []
    counts = Counts()
    for label, build in [
        ("frame resync (garbage + random splits)", resync),
        ("message decoders (random bytes)", decoders),
        ("connections (random chunks, both sides)", connections),
        ("tamper/replay/reorder in a session", lambda b: tamper(b, counts)),
    ]:
        start = time.monotonic()
        failure = None
        try:
            budget = _run_for(seconds, build)
        except Exception as err:  # a failing property is a result, not a crash
            budget, failure = _Budget(), f"{type(err).__name__}: {str(err)[:300]}"
        elapsed = time.monotonic() - start
        rows.append(row(NAME, f"{label}: examples", budget.examples, "cases",
                        note=f"{elapsed:.0f} s; " + (f"FAILED {failure}" if failure else "no failure")))
        rows.append(row(NAME, f"{label}: failures", 1 if failure else 0, "", "== 0",
                        detail=failure))
        rows.append(row(NAME, f"{label}: slowest example", round(budget.slowest * 1000, 2), "ms", "<= 1000"))
    rows.append(row(NAME, "tampered/replayed/reordered records tried",
                    counts.tampered + counts.replayed + counts.reordered, "records",
                    note=f"{counts.tampered} tampered, {counts.replayed} replayed, {counts.reordered} reordered"))
    rows.append(row(NAME, "bad records accepted", counts.accepted_bad, "", "== 0"))
    return rows


if __name__ == "__main__":
    main_for(run)
