"""Opaque paging cursors: the last row's key, URL-safe, so callers never build queries from them."""

from __future__ import annotations

import base64
import binascii


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
