"""What makes a device key (or offline-code secret) acceptable, and its keyed digest: the one
check for every way a key arrives (a factory manifest, `provider locks add`, a rotation).

A lock's CHALLENGE lets whoever hears it test key guesses offline, so a key a
person could guess (one byte repeated, a short pattern repeated, a counter) is
refused outright; so is a key another device already has, found through a
keyed digest (HMAC-SHA256 under a key derived from the data key), never by
decrypting every stored key.
"""

from __future__ import annotations

import hashlib
import hmac

from provider.services import crypto

DIGEST_PURPOSE = "device_key.digest"
# Below this many distinct byte values a 16-byte key is a pattern, not randomness:
# 16 random bytes have fewer than 10 distinct values with probability about 1e-8
# (a generated key that falls below is drawn again, services.locks.generate_device_key).
MIN_DISTINCT_BYTES = 10


def weakness(raw: bytes) -> str | None:
    """Why this key is guessable, or None when it looks random."""
    if len(set(raw)) == 1:
        return "all its bytes are the same"
    for period in range(2, len(raw) // 2 + 1):
        if all(raw[i] == raw[i % period] for i in range(len(raw))):
            return f"it repeats a {period}-byte pattern"
    steps = {(raw[i + 1] - raw[i]) % 256 for i in range(len(raw) - 1)}
    if len(steps) == 1:
        return "it counts up or down by a fixed step"
    if len(set(raw)) < min(MIN_DISTINCT_BYTES, len(raw)):
        return f"it has only {len(set(raw))} distinct byte values"
    return None


def digest(raw: bytes, *, secret_key: str | None = None) -> str:
    """Keyed digest: equal keys give equal digests; the digest alone tells nothing of the key."""
    key = crypto.derived_key(DIGEST_PURPOSE, secret_key=secret_key)
    return hmac.new(key, raw, hashlib.sha256).hexdigest()
