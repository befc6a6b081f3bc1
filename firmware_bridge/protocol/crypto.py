"""Session key derivation, key confirmation and the AEAD record layer.

Handshake (bridge = central, lock = peripheral)::

    bridge -> lock   HELLO     Vb (highest version the bridge speaks), Nb (16 random bytes)
    lock   -> bridge CHALLENGE Vl (the version the lock chose), Nl (16 random bytes), confirm_lock
    bridge -> lock   CONFIRM   confirm_bridge

    T   = Vb || Vl                                  (the transcript's version bytes)
    OKM = HKDF-SHA256(IKM=device_key, salt=Nb || Nl, info="LKP2 session keys" || T, L=40)
    session_key = OKM[0:16]; confirm_key = OKM[16:32]; session_id = OKM[32:40]
    confirm_lock   = HMAC-SHA256(confirm_key, "LKP2 lock confirm"   || T || Nb || Nl)[0:16]
    confirm_bridge = HMAC-SHA256(confirm_key, "LKP2 bridge confirm" || T || Nb || Nl)[0:16]

Binding both version bytes means an attacker who rewrites either one (to push
both sides down to an older, weaker version) makes the two sides derive
different keys: the confirmation fails instead of the downgrade succeeding.

Secure record (frame body): ``0x10 | counter u32 LE | AES-128-CCM(ciphertext || tag16)``
with nonce ``direction(1) | session_id(8) | counter u32 LE`` and the first five
bytes of the record as associated data. Counters start at 1 per direction and
must strictly increase; gaps (lost frames) are allowed.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .const import (
    AEAD_TAG_SIZE,
    CONFIRM_SIZE,
    DEVICE_KEY_SIZE,
    DIRECTION_TO_BRIDGE,
    DIRECTION_TO_LOCK,
    HKDF_INFO,
    MAX_COUNTER,
    NONCE_SIZE,
    PROTOCOL_VERSION,
    SESSION_ID_SIZE,
    SESSION_KEY_SIZE,
    STORAGE_KEY_INFO,
    FrameType,
)
from .errors import IntegrityError, LocalProtocolError, ReplayError

__all__ = [
    "SecureChannel",
    "SessionKeys",
    "aead_nonce",
    "confirm_tag",
    "derive_session_keys",
    "derive_storage_key",
    "parse_device_key",
    "versions",
]

_RECORD_HEADER = struct.Struct("<BI")


def parse_device_key(key: bytes | str) -> bytes:
    """A 16-byte device key from bytes or a 32-digit hex string."""
    if isinstance(key, str):
        try:
            key = bytes.fromhex(key.strip())
        except ValueError as err:
            raise LocalProtocolError("device key must be 32 hex digits") from err
    if len(key) != DEVICE_KEY_SIZE:
        raise LocalProtocolError(f"device key must be {DEVICE_KEY_SIZE} bytes")
    return bytes(key)


@dataclass(frozen=True, repr=False)
class SessionKeys:
    """Keys of one session. ``repr`` shows only the (public) session id."""

    session_key: bytes
    confirm_key: bytes
    session_id: bytes

    def __repr__(self) -> str:
        return f"SessionKeys(session_id={self.session_id.hex()})"


def versions(hello_version: int = PROTOCOL_VERSION, challenge_version: int = PROTOCOL_VERSION) -> bytes:
    """The transcript's version bytes T = Vb || Vl, bound into every key and tag."""
    return bytes((hello_version, challenge_version))


def derive_session_keys(
    device_key: bytes, nonce_bridge: bytes, nonce_lock: bytes, transcript: bytes | None = None
) -> SessionKeys:
    """HKDF-SHA256 over the device key, salted with both handshake nonces, the
    transcript's version bytes (``versions()``) appended to the info label."""
    if len(nonce_bridge) != NONCE_SIZE or len(nonce_lock) != NONCE_SIZE:
        raise LocalProtocolError("handshake nonces must be 16 bytes")
    okm = HKDF(
        algorithm=hashes.SHA256(),
        length=SESSION_KEY_SIZE * 2 + SESSION_ID_SIZE,
        salt=nonce_bridge + nonce_lock,
        info=HKDF_INFO + (versions() if transcript is None else transcript),
    ).derive(device_key)
    return SessionKeys(
        session_key=okm[:SESSION_KEY_SIZE],
        confirm_key=okm[SESSION_KEY_SIZE : SESSION_KEY_SIZE * 2],
        session_id=okm[SESSION_KEY_SIZE * 2 :],
    )


KEY_PROOF_LABEL = b"LKP1 key proof"


def key_proof(new_key: bytes, rotation_id: int) -> bytes:
    """What the lock answers ROTATE_KEY with: proof that it stored exactly `new_key` for this rotation.

    HMAC-SHA256(new_key, "LKP1 key proof" || rotation_id u32 LE), first 16 bytes.
    """
    mac = hmac.new(new_key, KEY_PROOF_LABEL + struct.pack("<I", rotation_id), hashlib.sha256)
    return mac.digest()[:CONFIRM_SIZE]


def confirm_tag(
    confirm_key: bytes, label: bytes, nonce_bridge: bytes, nonce_lock: bytes, transcript: bytes | None = None
) -> bytes:
    """Key confirmation: HMAC-SHA256(confirm_key, label || T || Nb || Nl), first 16 bytes."""
    t = versions() if transcript is None else transcript
    mac = hmac.new(confirm_key, label + t + nonce_bridge + nonce_lock, hashlib.sha256)
    return mac.digest()[:CONFIRM_SIZE]


def derive_storage_key(device_key: bytes, purpose: bytes) -> bytes:
    """A 32-byte key for the lock's own storage, derived for one purpose, so that what
    the lock keeps at rest is never encrypted with the device key itself:
    HKDF-SHA256(IKM=device_key, salt=empty, info="LKP2 lock storage" || purpose, L=32)."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=STORAGE_KEY_INFO + b" " + purpose
    ).derive(device_key)


def aead_nonce(direction: int, session_id: bytes, counter: int) -> bytes:
    """13-byte AES-CCM nonce: direction | session id | counter (u32 LE)."""
    return bytes((direction,)) + session_id + counter.to_bytes(4, "little")


class SecureChannel:
    """Seals outgoing and opens incoming records of one session, one side."""

    def __init__(self, keys: SessionKeys, *, bridge_side: bool) -> None:
        self.session_id = keys.session_id
        self._aead = AESCCM(keys.session_key, tag_length=AEAD_TAG_SIZE)
        self._tx_direction = DIRECTION_TO_LOCK if bridge_side else DIRECTION_TO_BRIDGE
        self._rx_direction = DIRECTION_TO_BRIDGE if bridge_side else DIRECTION_TO_LOCK
        self.tx_counter = 0  # last counter sent
        self.rx_counter = 0  # last counter accepted
        self.rx_gaps = 0  # frames skipped by the peer's counter (lost on the way)

    def seal(self, plaintext: bytes) -> bytes:
        """One secure record (frame body) carrying ``plaintext``."""
        if self.tx_counter >= MAX_COUNTER:
            raise LocalProtocolError("message counter exhausted; start a new handshake")
        self.tx_counter += 1
        header = _RECORD_HEADER.pack(FrameType.SECURE, self.tx_counter)
        nonce = aead_nonce(self._tx_direction, self.session_id, self.tx_counter)
        return header + self._aead.encrypt(nonce, plaintext, header)

    def open(self, record: bytes) -> bytes:
        """The plaintext of a secure record; raises on tamper, replay or reorder."""
        if len(record) < _RECORD_HEADER.size + AEAD_TAG_SIZE:
            raise IntegrityError("secure record too short")
        header = record[: _RECORD_HEADER.size]
        _, counter = _RECORD_HEADER.unpack(header)
        nonce = aead_nonce(self._rx_direction, self.session_id, counter)
        try:
            plaintext = self._aead.decrypt(nonce, record[_RECORD_HEADER.size :], header)
        except InvalidTag as err:
            raise IntegrityError("secure record failed authentication") from err
        if counter <= self.rx_counter:
            raise ReplayError(f"counter {counter} not above {self.rx_counter} (replay or reorder)")
        self.rx_gaps += counter - self.rx_counter - 1
        self.rx_counter = counter
        return plaintext
