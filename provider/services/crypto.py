"""Secrets that must be read back (webhook signing secrets, device keys), encrypted at rest.

AES-256-GCM under a key derived with HKDF-SHA256 from PROVIDER_DATA_KEY if set,
else from the app's SECRET_KEY;
each use has its own `purpose`, which both selects the derived key and is bound
as associated data, so a device key's ciphertext cannot be passed off as a
webhook secret. Stored form: "v1:" + urlsafe-base64(nonce || ciphertext+tag).

Changing SECRET_KEY makes every stored secret unreadable (decrypt raises
DecryptionError): rotate secrets, not the key, or re-encrypt with both keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from provider.errors import ApiError

_VERSION = "v1:"
_NONCE_BYTES = 12  # GCM's standard nonce size; random nonces are safe far beyond our volumes


class DecryptionError(ApiError):
    """The ciphertext was not made under this SECRET_KEY and purpose (or was altered).

    The caller sees an internal error; the reason goes to the log, never to the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(500, "INTERNAL_ERROR", "A stored secret could not be read.")
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


@lru_cache(maxsize=32)
def _derive(secret_key: str, purpose: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"provider.services.crypto",
        info=purpose.encode(),
    ).derive(secret_key.encode())


@lru_cache(maxsize=32)
def _aead(secret_key: str, purpose: str) -> AESGCM:
    return AESGCM(_derive(secret_key, purpose))


def derived_key(purpose: str, *, secret_key: str | None = None) -> bytes:
    """32 bytes derived for one purpose (a MAC key, say); never the key of another purpose."""
    return _derive(secret_key or _app_secret_key(), purpose)


@lru_cache(maxsize=32)
def _mac_key(secret_key: str, purpose: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"provider.services.crypto.mac",
        info=purpose.encode(),
    ).derive(secret_key.encode())


def keyed_digest(value: str, *, purpose: str, secret_key: str | None = None) -> str:
    """HMAC-SHA256 under a key derived for `purpose`: equal values compare equal, nothing more.

    For looking up a secret without decrypting every candidate (a PIN among a
    lock's codes). Without the data key a digest cannot be tested against
    guesses, so it protects a small value space as well as its ciphertext does.
    """
    key = _mac_key(secret_key or _app_secret_key(), purpose)
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def _app_secret_key() -> str:
    # The one place a service reads the app config: callers need not thread the key through.
    from flask import current_app

    # PROVIDER_DATA_KEY, when set, decouples data at rest from SECRET_KEY (which may then rotate).
    return str(current_app.config.get("PROVIDER_DATA_KEY") or current_app.config["SECRET_KEY"])


def encrypt(plaintext: str, *, purpose: str, secret_key: str | None = None) -> str:
    nonce = os.urandom(_NONCE_BYTES)
    aead = _aead(secret_key or _app_secret_key(), purpose)
    sealed = aead.encrypt(nonce, plaintext.encode(), purpose.encode())
    return _VERSION + base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt(token: str, *, purpose: str, secret_key: str | None = None) -> str:
    if not token.startswith(_VERSION):
        raise DecryptionError("unknown ciphertext version")
    try:
        raw = base64.urlsafe_b64decode(token[len(_VERSION):])
        aead = _aead(secret_key or _app_secret_key(), purpose)
        return aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], purpose.encode()).decode()
    except (InvalidTag, ValueError) as err:
        raise DecryptionError("cannot decrypt: wrong SECRET_KEY or purpose, or altered data") from err


@lru_cache(maxsize=32)
def _mac_key(secret_key: str, purpose: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"provider.services.crypto fingerprint",
        info=purpose.encode(),
    ).derive(secret_key.encode())


def fingerprint(value: str, *, purpose: str, secret_key: str | None = None) -> str:
    """A keyed digest (HMAC-SHA256) for finding equal secrets without storing them in
    clear: without the data key, the digest of a guessed value cannot be computed."""
    key = _mac_key(secret_key or _app_secret_key(), purpose)
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
