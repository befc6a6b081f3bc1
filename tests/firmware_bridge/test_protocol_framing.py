"""Framing: byte layout, reassembly from any split, garbage and resynchronisation."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.protocol import LocalProtocolError
from firmware_bridge.protocol.const import MAX_FRAME_BODY
from firmware_bridge.protocol.framing import (
    FrameDecoder,
    chunk_size_for_mtu,
    crc8,
    encode_frame,
    fragment,
)

# (body, frame). CRC-8/SMBUS check value of "123456789" is 0xF4; CRC-32 of it is 0xCBF43926.
FRAMES = [
    (b"\x01", "a5 0100 " + f"{crc8(bytes.fromhex('a50100')):02x}"),
    (b"hello", "a5 0500 " + f"{crc8(bytes.fromhex('a50500')):02x}"),
    (bytes(300), "a5 2c01 " + f"{crc8(bytes.fromhex('a52c01')):02x}"),
]


def test_crc_check_values() -> None:
    assert crc8(b"123456789") == 0xF4
    assert zlib.crc32(b"123456789") == 0xCBF43926


@pytest.mark.parametrize(("body", "header"), FRAMES)
def test_frame_layout(body: bytes, header: str) -> None:
    frame = encode_frame(body)
    assert frame[:4] == bytes.fromhex(header)
    assert frame[4:-4] == body
    assert frame[-4:] == zlib.crc32(frame[:-4]).to_bytes(4, "little")


def test_literal_frame() -> None:
    # SOF, LEN=1, CRC-8(a5 01 00)=9d, body 01, CRC-32(a5 01 00 9d 01) LE.
    assert encode_frame(b"\x01").hex() == "a501009d01" + "5f44b175"
    assert zlib.crc32(bytes.fromhex("a501009d01")) == 0x75B1445F


@pytest.mark.parametrize("body", [b"", bytes(MAX_FRAME_BODY + 1)])
def test_encode_refuses_empty_or_oversized(body: bytes) -> None:
    with pytest.raises(LocalProtocolError):
        encode_frame(body)


@pytest.mark.parametrize(("mtu", "size"), [(23, 20), (100, 97), (247, 244), (517, 512), (600, 512)])
def test_chunk_size_for_mtu(mtu: int, size: int) -> None:
    assert chunk_size_for_mtu(mtu) == size


def test_mtu_below_minimum_is_refused() -> None:
    with pytest.raises(LocalProtocolError):
        chunk_size_for_mtu(22)


def _drain(decoder: FrameDecoder) -> list[bytes]:
    out = []
    while (body := decoder.next_frame()) is not None:
        out.append(body)
    return out


@pytest.mark.parametrize(("body", "header"), FRAMES)
def test_decoder_fed_one_byte_at_a_time(body: bytes, header: str) -> None:
    decoder = FrameDecoder()
    frame = encode_frame(body)
    for index, byte in enumerate(frame):
        decoder.feed(bytes((byte,)))
        got = _drain(decoder)
        assert got == ([body] if index == len(frame) - 1 else [])
    assert decoder.pending == 0


def test_fragment_at_default_mtu() -> None:
    frame = encode_frame(bytes(range(50)))
    chunks = fragment(frame, 20)
    assert [len(c) for c in chunks] == [20, 20, 18]
    assert b"".join(chunks) == frame


# (what arrives, expected bodies): each row is one way the air can hurt a stream.
GOOD = encode_frame(b"good")
OTHER = encode_frame(b"other")
_bad_crc = bytearray(GOOD)
_bad_crc[5] ^= 0xFF
_bad_header = bytearray(GOOD)
_bad_header[3] ^= 0x01
_oversized = bytes((0xA5, 0x01, 0x08)) + bytes((crc8(bytes((0xA5, 0x01, 0x08))),)) + bytes(20)
RESYNC = [
    ("garbage before", b"\x00\xff\x13" + GOOD, [b"good"]),
    ("garbage between", GOOD + b"\xa5\xa5\x00" + OTHER, [b"good", b"other"]),
    ("bad crc then good", bytes(_bad_crc) + OTHER, [b"other"]),
    ("bad header check then good", bytes(_bad_header) + OTHER, [b"other"]),
    ("oversized length then good", _oversized + OTHER, [b"other"]),
    ("truncated then good", GOOD[:7] + OTHER + bytes(16), [b"other"]),
    ("frame inside garbage", b"\xa5" * 5 + GOOD + b"\xa5", [b"good"]),
    (
        "lost middle chunk",
        b"".join(fragment(encode_frame(bytes(60)), 20)[::2]) + GOOD + bytes(64),
        [b"good"],
    ),
]


@pytest.mark.parametrize(("stream", "bodies"), [r[1:] for r in RESYNC], ids=[r[0] for r in RESYNC])
def test_resynchronises(stream: bytes, bodies: list[bytes]) -> None:
    whole = FrameDecoder()
    whole.feed(stream)
    assert _drain(whole) == bodies
    bytewise = FrameDecoder()
    got = []
    for byte in stream:
        bytewise.feed(bytes((byte,)))
        got += _drain(bytewise)
    assert got == bodies


def test_rejections_are_counted() -> None:
    decoder = FrameDecoder()
    decoder.feed(b"\x00\x01" + bytes(_bad_crc) + GOOD)
    assert _drain(decoder) == [b"good"]
    assert decoder.rejected_frames >= 1
    assert decoder.skipped_bytes >= 2


def test_reset_drops_a_partial_frame() -> None:
    decoder = FrameDecoder()
    decoder.feed(GOOD[:6])
    assert _drain(decoder) == []
    decoder.reset()
    decoder.feed(OTHER)
    assert _drain(decoder) == [b"other"]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.binary(min_size=1, max_size=200), st.integers(1, 64))
def test_a_frame_after_any_garbage_is_recovered(garbage: bytes, body: bytes, split: int) -> None:
    decoder = FrameDecoder()
    # Zero padding completes any bogus length the garbage may claim (<= MAX_FRAME_BODY + 8).
    stream = garbage + encode_frame(body) + bytes(MAX_FRAME_BODY + 8)
    got: list[bytes] = []
    for chunk in fragment(stream, split):
        decoder.feed(chunk)
        got += _drain(decoder)
    assert body in got


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=20))
def test_random_chunks_never_raise(chunks: list[bytes]) -> None:
    decoder = FrameDecoder()
    for chunk in chunks:
        decoder.feed(chunk)
        _drain(decoder)
    assert decoder.pending <= MAX_FRAME_BODY + 8
