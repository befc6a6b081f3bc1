"""Factory provisioning: the one plaintext message that writes a lock's keys on the line.

A lock leaves the SMT line with no device key, in factory mode (section 16 of
docs/ble-protocol.md). The line's jig sends PROVISION (frame type 0x20) with
the device key, the offline-code secret and the serial number; the lock stores
them, leaves factory mode for good, and answers PROVISIONED (0x21) with a proof
that it holds exactly this key. PROVISION is plaintext because there is no key
yet to protect it: it is accepted only in factory mode and only once, so it
can only ever be used on the line (shielded jig), never on a provisioned lock.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from .const import DEVICE_KEY_SIZE, OFFLINE_SECRET_SIZE, ErrorCode
from .errors import LocalProtocolError, MalformedMessageError

PROVISION = 0x20
PROVISIONED = 0x21
PROVISION_VERSION = 1
PROOF_LABEL = b"LKP1 provisioned"
PROOF_SIZE = 16
SERIAL_MAX_BYTES = 32
#: The offline-code scheme keys HMAC-SHA256 with exactly 32 bytes (section 17).
SECRET_MIN_BYTES = SECRET_MAX_BYTES = OFFLINE_SECRET_SIZE


@dataclass(frozen=True)
class Provision:
    """What the line writes into a lock."""

    device_key: bytes = field(repr=False)
    offline_secret: bytes = field(repr=False)
    serial: str

    def __post_init__(self) -> None:
        if len(self.device_key) != DEVICE_KEY_SIZE:
            raise LocalProtocolError(f"device key must be {DEVICE_KEY_SIZE} bytes")
        if not SECRET_MIN_BYTES <= len(self.offline_secret) <= SECRET_MAX_BYTES:
            raise LocalProtocolError(f"offline secret must be {OFFLINE_SECRET_SIZE} bytes")
        raw = self.serial.encode("ascii", "replace")
        if not raw or len(raw) > SERIAL_MAX_BYTES or not self.serial.isascii() or not self.serial.isprintable():
            raise LocalProtocolError(f"serial must be 1-{SERIAL_MAX_BYTES} printable ASCII characters")

    def body(self) -> bytes:
        """The frame body: type, version, key, serial (u8 length + ASCII), secret (u8 length + bytes)."""
        serial = self.serial.encode("ascii")
        return (bytes((PROVISION, PROVISION_VERSION)) + self.device_key + bytes((len(serial),)) + serial
                + bytes((len(self.offline_secret),)) + self.offline_secret)

    @classmethod
    def from_body(cls, body: bytes) -> Provision:
        try:
            if body[0] != PROVISION or body[1] != PROVISION_VERSION:
                raise MalformedMessageError("not a PROVISION of version 1")
            key = body[2:2 + DEVICE_KEY_SIZE]
            at = 2 + DEVICE_KEY_SIZE
            serial_len = body[at]
            serial = body[at + 1:at + 1 + serial_len]
            at += 1 + serial_len
            secret_len = body[at]
            secret = body[at + 1:at + 1 + secret_len]
            if len(key) != DEVICE_KEY_SIZE or len(serial) != serial_len or len(secret) != secret_len \
                    or at + 1 + secret_len != len(body):
                raise MalformedMessageError("PROVISION of the wrong length")
            return cls(bytes(key), bytes(secret), serial.decode("ascii"))
        except (IndexError, UnicodeDecodeError, LocalProtocolError) as err:
            if isinstance(err, MalformedMessageError):
                raise
            raise MalformedMessageError(f"unreadable PROVISION: {err}") from err


def proof(device_key: bytes, serial: str) -> bytes:
    """HMAC-SHA256(device_key, "LKP1 provisioned" || serial)[0:16]: the lock stored this key."""
    return hmac.new(device_key, PROOF_LABEL + serial.encode("ascii"), hashlib.sha256).digest()[:PROOF_SIZE]


def provisioned_body(status: ErrorCode, proof_value: bytes = bytes(PROOF_SIZE)) -> bytes:
    """The answer: type, status (OK, or FACTORY_LOCKED / MALFORMED), proof (zeros when refused)."""
    return bytes((PROVISIONED, int(status))) + proof_value


def parse_provisioned(body: bytes) -> tuple[ErrorCode, bytes]:
    if len(body) != 2 + PROOF_SIZE or body[0] != PROVISIONED:
        raise MalformedMessageError(f"PROVISIONED of {len(body)} bytes")
    return ErrorCode(body[1]), bytes(body[2:])
