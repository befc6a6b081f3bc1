"""Opaque paging cursors: the last row's key, URL-safe, so callers never build queries from them."""

from __future__ import annotations

import base64
import binascii

from provider.errors import ApiError


def encode(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode(cursor: str) -> str | None:
    """The key a cursor carries, or None if it is not one of ours (36 printable characters at most)."""
    try:
        key = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError, UnicodeError):
        return None
    if not key or len(key) > 36 or not key.isprintable():
        return None
    return key


def encode_seq(seq: int | None) -> str | None:
    """The cursor of a page that continues after (or before) a row sequence number."""
    return None if seq is None else encode(str(seq))


def decode_seq(cursor: str | None) -> int | None:
    """The sequence number a cursor carries; a 400 for a cursor that is not one of ours."""
    if not cursor:
        return None
    seq = decode(cursor)
    if seq is None or not seq.isdigit():
        raise ApiError(400, "INVALID_REQUEST", "Invalid cursor.", errors={"cursor": ["Invalid cursor."]})
    return int(seq)
