"""The protocol's dictionary: UUIDs, opcodes, enums, sizes and timeouts.

Everything a firmware engineer needs to match byte for byte lives here, and
``docs/ble-protocol.md`` documents the same values.  Enums decoded from the
air have an explicit ``UNKNOWN`` member so a newer lock never crashes an older
bridge (``Enum._missing_`` maps unknown values to it).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

# The keypad limits are the bridge contract's, the same on the air as in the cloud's API.
from bridge_contract import NAME_MAX_CHARS as NAME_MAX_CHARS  # code points
from bridge_contract import PIN_MAX_DIGITS as PIN_MAX_DIGITS
from bridge_contract import PIN_MIN_DIGITS as PIN_MIN_DIGITS

# --------------------------------------------------------------------------
# GATT layout: one vendor service, three characteristics.
# --------------------------------------------------------------------------
_UUID_BASE: Final = "-6c6f-636b-8f3a-2d5e9b1c7a40"  # "lock" in the second group
SERVICE_UUID: Final = "4c4b0001" + _UUID_BASE
#: Bridge -> lock. Write and write-without-response; carries request frames.
REQUEST_CHAR_UUID: Final = "4c4b0002" + _UUID_BASE
#: Lock -> bridge. Notify; carries responses and unsolicited events.
RESPONSE_CHAR_UUID: Final = "4c4b0003" + _UUID_BASE
#: Read, plaintext: model, firmware, protocol version, capabilities.
INFO_CHAR_UUID: Final = "4c4b0004" + _UUID_BASE

#: Protocol version carried in HELLO/CHALLENGE and in the info characteristic.
#: Version 2 binds the versions into the key schedule, pads PINs and names to a
#: fixed size, and authenticates or ignores ALERTs once a session is up.
PROTOCOL_VERSION: Final = 2
#: Versions below this are refused (version 1 let a downgrade go unnoticed).
MIN_PROTOCOL_VERSION: Final = 2

# --------------------------------------------------------------------------
# Framing
# --------------------------------------------------------------------------
FRAME_SOF: Final = 0xA5
FRAME_HEADER_SIZE: Final = 4  # SOF, LEN (u16 LE), HCRC (CRC-8 of the first 3 bytes)
FRAME_TRAILER_SIZE: Final = 4  # CRC-32 (IEEE) of header + body, LE
#: Largest frame body accepted; anything larger is garbage and is skipped.
MAX_FRAME_BODY: Final = 1024
DEFAULT_ATT_MTU: Final = 23
ATT_HEADER_SIZE: Final = 3  # opcode + handle of a Write/Notification PDU
#: An attribute value is at most 512 bytes (Core spec Vol 3 Part F 3.2.9).
MAX_CHUNK_SIZE: Final = 512
MIN_CHUNK_SIZE: Final = DEFAULT_ATT_MTU - ATT_HEADER_SIZE  # 20


class FrameType(IntEnum):
    """First byte of a frame body."""

    HELLO = 0x01
    CHALLENGE = 0x02
    CONFIRM = 0x03
    SECURE = 0x10
    PROVISION = 0x20  # factory mode only (section 16)
    PROVISIONED = 0x21
    ALERT = 0x7F
    UNKNOWN = 0xFF

    @classmethod
    def _missing_(cls, value: object) -> FrameType:
        return cls.UNKNOWN


# --------------------------------------------------------------------------
# Crypto
# --------------------------------------------------------------------------
DEVICE_KEY_SIZE: Final = 16  # 128-bit per-lock key, provisioned at the factory
NONCE_SIZE: Final = 16  # handshake nonce from each side
CONFIRM_SIZE: Final = 16  # truncated HMAC-SHA256 key confirmation
SESSION_KEY_SIZE: Final = 16  # AES-128-CCM
SESSION_ID_SIZE: Final = 8
AEAD_TAG_SIZE: Final = 16
AEAD_NONCE_SIZE: Final = 13  # direction(1) + session id(8) + counter(4)
#: HKDF info and confirmation labels; the HELLO and CHALLENGE version bytes follow
#: each label, so a rewritten version changes every key (crypto.transcript).
HKDF_INFO: Final = b"LKP2 session keys"
CONFIRM_LABEL_LOCK: Final = b"LKP2 lock confirm"
CONFIRM_LABEL_BRIDGE: Final = b"LKP2 bridge confirm"
#: Purpose label for keys a lock derives from its device key for its own storage.
STORAGE_KEY_INFO: Final = b"LKP2 lock storage"
#: Direction bytes in the AEAD nonce.
DIRECTION_TO_LOCK: Final = 0x01
DIRECTION_TO_BRIDGE: Final = 0x02
#: Largest counter value; a session must re-handshake before reaching it.
MAX_COUNTER: Final = 0xFFFF_FFFF
#: Largest message plaintext: a frame body minus the record header (5) and tag (16).
MAX_MESSAGE_SIZE: Final = MAX_FRAME_BODY - 5 - AEAD_TAG_SIZE


# --------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------
class Opcode(IntEnum):
    """Request opcodes (0x01-0x3F). A response's opcode is the request's | 0x80."""

    GET_STATUS = 0x01
    LOCK = 0x02
    UNLOCK = 0x03
    SET_TIME = 0x04
    PUT_CODE = 0x05
    DELETE_CODE = 0x06
    LIST_CODES = 0x07
    READ_EVENTS = 0x08
    ROTATE_KEY = 0x09
    COMMIT_KEY = 0x0A
    FACTORY_RESET = 0x0B
    SET_OFFLINE_SECRET = 0x0C
    REVOKE_OFFLINE_CODE = 0x0D
    PUT_SCHEDULED_CODE = 0x0E
    GET_CODE_SCHEDULE = 0x0F
    GET_SETTINGS = 0x10  # auto-lock, keypad battery, serial (section 20)
    UNKNOWN = 0x3F

    @classmethod
    def _missing_(cls, value: object) -> Opcode:
        return cls.UNKNOWN


RESPONSE_FLAG: Final = 0x80
REQUEST_OPCODE_MAX: Final = 0x3F
EVENT_OPCODE_MIN: Final = 0x40
EVENT_OPCODE_MAX: Final = 0x7F


class EventType(IntEnum):
    """Unsolicited event opcodes (0x40-0x7F)."""

    LOCKED = 0x41
    UNLOCKED = 0x42
    INCORRECT_PIN = 0x43
    BOLT_FAULT = 0x44
    BATTERY = 0x45
    DOOR = 0x46
    TAMPER = 0x47
    OFFLINE_CODE_USED = 0x48
    ACCESS_DENIED = 0x49
    UNKNOWN = 0x7F

    @classmethod
    def _missing_(cls, value: object) -> EventType:
        return cls.UNKNOWN


class ErrorCode(IntEnum):
    """Status byte of a response (0 = OK) and code of an ALERT frame."""

    OK = 0x00
    UNKNOWN_OPCODE = 0x01
    MALFORMED = 0x02
    NOT_AUTHENTICATED = 0x03
    AUTH_FAILED = 0x04
    UNSUPPORTED_VERSION = 0x05
    BUSY = 0x06
    JAMMED = 0x07
    OBSTRUCTED = 0x08
    LOW_BATTERY = 0x09
    INVALID_SLOT = 0x0A
    SLOT_OCCUPIED = 0x0B
    SLOT_EMPTY = 0x0C
    STORAGE_FULL = 0x0D
    BAD_PIN = 0x0E
    PIN_CONFLICT = 0x0F
    INVALID_NAME = 0x10
    INVALID_SCHEDULE = 0x11
    INVALID_TIME = 0x12
    INVALID_TIMEZONE = 0x13
    INTERNAL = 0x14
    NO_PENDING_KEY = 0x15
    PRESENCE_REQUIRED = 0x16
    FACTORY_LOCKED = 0x17
    NOT_PROVISIONED = 0x18
    UNSUPPORTED_EXTENSION = 0x19
    NO_OFFLINE_SECRET = 0x1A
    OFFLINE_TABLE_FULL = 0x1B
    UNKNOWN = 0xFF

    @classmethod
    def _missing_(cls, value: object) -> ErrorCode:
        return cls.UNKNOWN


class BoltState(IntEnum):
    UNKNOWN = 0x00
    LOCKED = 0x01
    UNLOCKED = 0x02
    JAMMED = 0x03

    @classmethod
    def _missing_(cls, value: object) -> BoltState:
        return cls.UNKNOWN


class DoorState(IntEnum):
    UNKNOWN = 0x00
    CLOSED = 0x01
    OPEN = 0x02
    AJAR = 0x03

    @classmethod
    def _missing_(cls, value: object) -> DoorState:
        return cls.UNKNOWN


class Source(IntEnum):
    """What moved the bolt."""

    UNKNOWN = 0x00
    KEYPAD = 0x01
    MANUAL = 0x02
    BLE = 0x03
    AUTO_LOCK = 0x04

    @classmethod
    def _missing_(cls, value: object) -> Source:
        return cls.UNKNOWN


class BoltFault(IntEnum):
    UNKNOWN = 0x00
    JAMMED = 0x01
    OBSTRUCTED = 0x02

    @classmethod
    def _missing_(cls, value: object) -> BoltFault:
        return cls.UNKNOWN


class BoltAction(IntEnum):
    UNKNOWN = 0x00
    LOCK = 0x01
    UNLOCK = 0x02

    @classmethod
    def _missing_(cls, value: object) -> BoltAction:
        return cls.UNKNOWN


class TamperKind(IntEnum):
    UNKNOWN = 0x00
    CASE_OPENED = 0x01
    KEYPAD_LOCKOUT = 0x02  # too many wrong PINs in a row
    FORCED_BOLT = 0x03

    @classmethod
    def _missing_(cls, value: object) -> TamperKind:
        return cls.UNKNOWN


class Capability(IntEnum):
    """Bits of the info characteristic's capability field (u32)."""

    KEYPAD = 0x0001
    DOOR_SENSOR = 0x0002
    AUTO_LOCK = 0x0004
    SCHEDULES = 0x0008
    EVENT_LOG = 0x0010
    OFFLINE_CODES = 0x0020
    RECURRING_SCHEDULES = 0x0040
    SETTINGS = 0x0100  # answers GET_SETTINGS (section 20)


class OfflineKind(IntEnum):
    """Kinds of offline (algorithmic) access code (docs/ble-protocol.md section 17)."""

    NONE = 0x00  # in AccessDeniedEvent: the refused PIN was an online code
    ONE_TIME = 0x01
    HOURLY = 0x02
    DAILY = 0x03
    UNKNOWN = 0xFF

    @classmethod
    def _missing_(cls, value: object) -> OfflineKind:
        return cls.UNKNOWN


class AccessDenial(IntEnum):
    """Why a PIN the lock recognised did not open it (AccessDeniedEvent.reason)."""

    UNKNOWN = 0x00
    OUTSIDE_SCHEDULE = 0x01  # an online code typed outside its weekly windows
    REVOKED = 0x02  # an offline code the cloud revoked
    ALREADY_USED = 0x03  # a one-time offline code typed a second time
    TABLE_FULL = 0x04  # no room left to record the offline code's first use

    @classmethod
    def _missing_(cls, value: object) -> AccessDenial:
        return cls.UNKNOWN


NAME_MAX_BYTES: Final = NAME_MAX_CHARS * 4  # UTF-8 worst case
TIMEZONE_MAX_BYTES: Final = 64  # longest IANA name is ~32 bytes
ANY_SLOT: Final = 0xFFFF  # PUT_CODE: let the lock pick the lowest free slot
NO_SLOT: Final = 0xFFFF  # in events/list paging: not applicable / no more
MAX_LIST_PAGE: Final = 10  # code entries per LIST_CODES response (fits MAX_FRAME_BODY)
MAX_EVENTS_PAGE: Final = 16  # events per READ_EVENTS response (fits MAX_FRAME_BODY)
NO_TIME: Final = 0  # validity window bound absent
DEFAULT_CODE_CAPACITY: Final = 250  # Kwikset-like
DEFAULT_EVENT_LOG_SIZE: Final = 512  # ring buffer; oldest entry dropped when full

# --------------------------------------------------------------------------
# Timeouts (seconds). Used by the bridge (client) and the lock; not by the
# sans-IO code itself, which has no clock.
# --------------------------------------------------------------------------
#: HELLO -> CHALLENGE -> CONFIRM is two round trips plus one HKDF on a small MCU.
HANDSHAKE_TIMEOUT: Final = 5.0
#: Status/list/read-log answer from RAM/flash without moving the motor.
READ_TIMEOUT: Final = 5.0
#: Lock/unlock drive the motor (~1-2 s) and may retry once on a stall.
BOLT_TIMEOUT: Final = 10.0
#: Put/delete code write flash pages (erase can take ~100 ms per page).
CODE_WRITE_TIMEOUT: Final = 6.0
#: A lock-side partial frame older than this is dropped (a lost chunk, not a slow link).
REASSEMBLY_TIMEOUT: Final = 2.0
#: The lock drops an unauthenticated connection that has not finished the handshake.
LOCK_HANDSHAKE_IDLE_TIMEOUT: Final = 10.0
#: Failed handshakes (bad CONFIRM) the lock tolerates before it backs off.
HANDSHAKE_FREE_FAILURES: Final = 3
#: First back-off after that many failures; doubles per further failure.
HANDSHAKE_BACKOFF_INITIAL: Final = 1.0
#: Longest handshake back-off: online guessing stays pointless, the owner waits at most this.
HANDSHAKE_BACKOFF_MAX: Final = 300.0
#: Wrong PINs in a row on the keypad before it locks out.
KEYPAD_LOCKOUT_AFTER: Final = 5
#: First keypad lockout; each further lockout (without a correct PIN between) doubles it.
KEYPAD_LOCKOUT_INITIAL: Final = 60.0
#: Longest keypad lockout: 60 s doubling reaches it at the fifth lockout.
KEYPAD_LOCKOUT_MAX: Final = 900.0

# --------------------------------------------------------------------------
# Offline codes and weekly schedules (docs/ble-protocol.md sections 17, 18)
# --------------------------------------------------------------------------
OFFLINE_SECRET_SIZE: Final = 32
#: Every offline PIN has exactly this many digits: longer than any online PIN (4-8), so the
#: keypad tells them apart by length alone.
OFFLINE_PIN_DIGITS: Final = 10
#: Distinct codes the cloud can issue for one kind and window (the counter is 0..3).
OFFLINE_CODES_PER_WINDOW: Final = 4
OFFLINE_HOURLY_MAX_HOURS: Final = 672  # 28 days
OFFLINE_DAILY_MAX_DAYS: Final = 367
OFFLINE_ONE_TIME_HOURS: Final = 24
#: A code longer than this must be typed for the first time within this many hours of its
#: start (then it is remembered); the lock only searches starts this far back.
OFFLINE_ACTIVATION_HOURS: Final = 24
#: The lock accepts an offline code this many seconds before its start and after its end.
OFFLINE_CLOCK_TOLERANCE: Final = 300
#: Entries of the lock's offline table (first uses of long and one-time codes, revocations).
OFFLINE_TABLE_SIZE: Final = 64
#: Wrong 10-digit entries the lock remembers before it refuses 10-digit entries unchecked;
#: a correct PIN does not reset the count (a guest's own code must not buy more guesses).
OFFLINE_MISS_LIMIT: Final = 10
#: One remembered miss is forgotten per this many seconds of the monotonic timer.
OFFLINE_MISS_DECAY: Final = 3600.0
OFFLINE_CODE_LABEL: Final = b"LKP2 offline code"
OFFLINE_SECRET_PROOF_LABEL: Final = b"LKP2 offline secret"
#: Version of the PUT_SCHEDULED_CODE extension this package speaks.
SCHEDULE_EXTENSION_VERSION: Final = 1
SCHEDULE_MAX_WINDOWS: Final = 8
TZ_RULE_MAX_BYTES: Final = 64
MINUTES_PER_DAY: Final = 1440

#: GET_SETTINGS: the keypad has no battery of its own (it runs on the lock's).
NO_KEYPAD_BATTERY: Final = 0xFF
