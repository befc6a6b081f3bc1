"""Framing: a self-delimiting byte stream, cut into ATT-sized chunks.

Wire layout of one frame (all integers little-endian)::

    0      1   SOF   0xA5
    1      2   LEN   length of BODY, 1..MAX_FRAME_BODY
    3      1   HCRC  CRC-8/SMBUS (poly 0x07, init 0) of bytes 0..2
    4    LEN   BODY
    4+LEN  4   CRC   CRC-32/IEEE (zlib) of bytes 0..3+LEN

Frames are concatenated into one stream per direction and the stream is cut
into chunks of ``ATT_MTU - 3`` bytes (20 at the default MTU of 23). Chunk
boundaries carry no meaning, so a receiver may be fed any split of the stream,
one byte at a time included. A receiver that meets garbage (bad SOF, bad
header check, impossible length, bad CRC) drops one byte and scans for the next
SOF, so a lost or corrupted chunk costs the frames it touched and no more.
"""

from __future__ import annotations

import zlib

from .const import (
    ATT_HEADER_SIZE,
    DEFAULT_ATT_MTU,
    FRAME_HEADER_SIZE,
    FRAME_SOF,
    FRAME_TRAILER_SIZE,
    MAX_CHUNK_SIZE,
    MAX_FRAME_BODY,
)
from .errors import LocalProtocolError

__all__ = ["FrameDecoder", "chunk_size_for_mtu", "crc8", "encode_frame", "fragment"]


def _crc8_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return tuple(table)


_CRC8 = _crc8_table()


def crc8(data: bytes) -> int:
    """CRC-8/SMBUS: poly 0x07, init 0x00, no reflection, no final xor."""
    crc = 0
    for byte in data:
        crc = _CRC8[crc ^ byte]
    return crc


def chunk_size_for_mtu(mtu: int) -> int:
    """Payload bytes per write/notification for a negotiated ATT MTU."""
    if mtu < DEFAULT_ATT_MTU:
        raise LocalProtocolError(f"ATT MTU {mtu} is below the minimum {DEFAULT_ATT_MTU}")
    return min(mtu - ATT_HEADER_SIZE, MAX_CHUNK_SIZE)


def encode_frame(body: bytes) -> bytes:
    """Wrap one frame body with SOF, length, header check and CRC-32."""
    if not 1 <= len(body) <= MAX_FRAME_BODY:
        raise LocalProtocolError(f"frame body of {len(body)} bytes (1..{MAX_FRAME_BODY})")
    header = bytes((FRAME_SOF, len(body) & 0xFF, len(body) >> 8))
    header += bytes((crc8(header),))
    framed = header + body
    return framed + zlib.crc32(framed).to_bytes(4, "little")


def fragment(data: bytes, chunk_size: int) -> list[bytes]:
    """Cut ``data`` into chunks of at most ``chunk_size`` bytes."""
    return [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]


class FrameDecoder:
    """Reassembles frame bodies from a byte stream; never raises on input."""

    def __init__(self, max_body: int = MAX_FRAME_BODY) -> None:
        self._buffer = bytearray()
        self._max_body = max_body
        #: Bytes skipped while looking for a frame start (garbage).
        self.skipped_bytes = 0
        #: Candidate frames rejected (bad header check, length or CRC).
        self.rejected_frames = 0

    def feed(self, data: bytes) -> None:
        self._buffer += data

    @property
    def pending(self) -> int:
        """Bytes buffered but not yet returned as a frame."""
        return len(self._buffer)

    def reset(self) -> None:
        """Drop any partial frame (e.g. after a reassembly timeout)."""
        self.skipped_bytes += len(self._buffer)
        self._buffer.clear()

    def next_frame(self) -> bytes | None:
        """The next complete, intact frame body, or None if more data is needed."""
        buf = self._buffer
        while True:
            start = buf.find(FRAME_SOF)
            if start < 0:
                self.skipped_bytes += len(buf)
                buf.clear()
                return None
            if start:
                self.skipped_bytes += start
                del buf[:start]
            if len(buf) < FRAME_HEADER_SIZE:
                return None
            length = buf[1] | (buf[2] << 8)
            if crc8(bytes(buf[:3])) != buf[3] or not 1 <= length <= self._max_body:
                self._reject()
                continue
            end = FRAME_HEADER_SIZE + length
            total = end + FRAME_TRAILER_SIZE
            if len(buf) < total:
                return None
            if zlib.crc32(buf[:end]) != int.from_bytes(buf[end:total], "little"):
                self._reject()
                continue
            body = bytes(buf[FRAME_HEADER_SIZE:end])
            del buf[:total]
            return body

    def _reject(self) -> None:
        # Drop the SOF byte only: the real next frame may start inside this one.
        self.rejected_frames += 1
        self.skipped_bytes += 1
        del self._buffer[:1]
