"""argon2id for secrets a person may have chosen: owner passwords and OAuth client secrets.

(Tokens and codes are high-entropy and use a fast keyed hash instead; see oauth_tokens.)
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verified against when the account or client is unknown, so both paths cost
# the same; made on first use, not at import (argon2 is slow by design).
_dummy_hash: str | None = None


def hash_secret(secret: str) -> str:
    return _hasher.hash(secret)


def verify(stored_hash: str | None, secret: str) -> bool:
    """True if `secret` matches; a missing hash costs as much as a wrong secret."""
    global _dummy_hash
    if stored_hash is None and _dummy_hash is None:
        _dummy_hash = _hasher.hash("not-a-real-secret")
    try:
        _hasher.verify(stored_hash or _dummy_hash, secret)  # type: ignore[arg-type]
    except (VerificationError, InvalidHashError):
        return False
    return stored_hash is not None


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)
