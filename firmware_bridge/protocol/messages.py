"""Application messages: requests, responses, unsolicited lock events.

Every message is a frozen dataclass; ``bytes(message)`` encodes it and
``Request.from_bytes`` / ``decode_request`` / ``decode_from_lock`` decode it.
Layouts are declared once (``_LAYOUT``: field name + codec) and drive the
encoder, the decoder, validation and the tables in ``docs/ble-protocol.md``.

Headers (all integers little-endian)::

    request   opcode u8 | request_id u16
    response  opcode|0x80 u8 | request_id u16 | status u8 (ErrorCode; 0 = OK, body follows)
    event     event_type u8 | seq u32 | timestamp u32 (lock clock, Unix seconds)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, ClassVar

from .const import (
    ANY_SLOT,
    EVENT_OPCODE_MAX,
    EVENT_OPCODE_MIN,
    MAX_EVENTS_PAGE,
    MAX_LIST_PAGE,
    NAME_MAX_BYTES,
    NAME_MAX_CHARS,
    NO_KEYPAD_BATTERY,
    NO_SLOT,
    NO_TIME,
    OFFLINE_SECRET_SIZE,
    PIN_MAX_DIGITS,
    PIN_MIN_DIGITS,
    PROTOCOL_VERSION,
    REQUEST_OPCODE_MAX,
    RESPONSE_FLAG,
    SCHEDULE_EXTENSION_VERSION,
    SCHEDULE_MAX_WINDOWS,
    TIMEZONE_MAX_BYTES,
    TZ_RULE_MAX_BYTES,
    AccessDenial,
    BoltAction,
    BoltFault,
    BoltState,
    DoorState,
    ErrorCode,
    EventType,
    OfflineKind,
    Opcode,
    Source,
    TamperKind,
)
from .errors import LocalProtocolError, MalformedMessageError
from .offline import OfflineCode
from .schedule import ScheduleWindow, TzRule

__all__ = [
    "AccessDeniedEvent",
    "BatteryEvent",
    "BoltFaultEvent",
    "CodeEntry",
    "CommitKeyRequest",
    "CommitKeyResponse",
    "DeleteCodeRequest",
    "DeleteCodeResponse",
    "DeviceInfo",
    "DoorEvent",
    "ErrorResponse",
    "FactoryResetRequest",
    "FactoryResetResponse",
    "GetCodeScheduleRequest",
    "GetCodeScheduleResponse",
    "IncorrectPinEvent",
    "ListCodesRequest",
    "ListCodesResponse",
    "LockEvent",
    "LockRequest",
    "LockResponse",
    "LockedEvent",
    "Message",
    "OfflineCodeUsedEvent",
    "PutCodeRequest",
    "PutCodeResponse",
    "PutScheduledCodeRequest",
    "PutScheduledCodeResponse",
    "ReadEventsRequest",
    "ReadEventsResponse",
    "Request",
    "Response",
    "RevokeOfflineCodeRequest",
    "RevokeOfflineCodeResponse",
    "RotateKeyRequest",
    "RotateKeyResponse",
    "SetOfflineSecretRequest",
    "SetOfflineSecretResponse",
    "SetTimeRequest",
    "SetTimeResponse",
    "StatusRequest",
    "StatusResponse",
    "TamperEvent",
    "UnknownLockEvent",
    "UnlockRequest",
    "UnlockResponse",
    "UnlockedEvent",
    "decode_event",
    "decode_from_lock",
    "decode_request",
    "decode_response",
]


# --------------------------------------------------------------------------
# Reader and codecs
# --------------------------------------------------------------------------
class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise MalformedMessageError(f"truncated message: needs {n} bytes at offset {self.pos}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def rest(self) -> bytes:
        chunk = self.data[self.pos :]
        self.pos = len(self.data)
        return chunk

    def end(self) -> None:
        if self.pos != len(self.data):
            raise MalformedMessageError(f"{len(self.data) - self.pos} trailing bytes")


class Codec:
    """Encodes one field. ``size`` is None for variable-length fields."""

    size: int | None = None
    doc = ""

    def pack(self, value: Any) -> bytes:
        raise NotImplementedError

    def unpack(self, reader: _Reader) -> Any:
        raise NotImplementedError

    def check(self, value: Any) -> None:
        """Raise LocalProtocolError if ``value`` cannot be encoded."""


class Int(Codec):
    def __init__(self, fmt: str, doc: str) -> None:
        self._struct = struct.Struct("<" + fmt)
        self.size = self._struct.size
        self.doc = doc
        signed = fmt.islower()
        bits = self.size * 8
        self.min = -(1 << (bits - 1)) if signed else 0
        self.max = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1

    def pack(self, value: Any) -> bytes:
        return self._struct.pack(value)

    def unpack(self, reader: _Reader) -> Any:
        return self._struct.unpack(reader.take(self.size or 0))[0]

    def check(self, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise LocalProtocolError(f"{value!r} is not an integer")
        if not self.min <= value <= self.max:
            raise LocalProtocolError(f"{value} out of range for {self.doc}")


U8 = Int("B", "u8")
U16 = Int("H", "u16 LE")
U32 = Int("I", "u32 LE")
I8 = Int("b", "i8")
I16 = Int("h", "i16 LE")


class Enum8(Codec):
    size = 1

    def __init__(self, enum: type[IntEnum]) -> None:
        self.enum = enum
        self.doc = f"u8 {enum.__name__}"

    def pack(self, value: Any) -> bytes:
        return bytes((int(value),))

    def unpack(self, reader: _Reader) -> Any:
        return self.enum(reader.take(1)[0])

    def check(self, value: Any) -> None:
        if not isinstance(value, self.enum):
            raise LocalProtocolError(f"{value!r} is not a {self.enum.__name__}")


class Bool8(Codec):
    size = 1
    doc = "u8 0/1"

    def pack(self, value: Any) -> bytes:
        return b"\x01" if value else b"\x00"

    def unpack(self, reader: _Reader) -> Any:
        byte = reader.take(1)[0]
        if byte > 1:
            raise MalformedMessageError(f"boolean byte {byte:#04x}")
        return byte == 1

    def check(self, value: Any) -> None:
        if not isinstance(value, bool):
            raise LocalProtocolError(f"{value!r} is not a bool")


class OrNone(Codec):
    """An integer where one sentinel value means None."""

    def __init__(self, inner: Int, sentinel: int) -> None:
        self.inner = inner
        self.sentinel = sentinel
        self.size = inner.size
        self.doc = f"{inner.doc}, {sentinel:#x} = none"

    def pack(self, value: Any) -> bytes:
        return self.inner.pack(self.sentinel if value is None else value)

    def unpack(self, reader: _Reader) -> Any:
        value = self.inner.unpack(reader)
        return None if value == self.sentinel else value

    def check(self, value: Any) -> None:
        if value is None:
            return
        self.inner.check(value)
        if value == self.sentinel:
            raise LocalProtocolError(f"{value:#x} is reserved for none")


class Text(Codec):
    """u8 byte length, then UTF-8 (no NUL, at most ``max_bytes``)."""

    def __init__(
        self, max_bytes: int, error: ErrorCode = ErrorCode.MALFORMED, doc: str = ""
    ) -> None:
        self.max_bytes = max_bytes
        self.error = error  # what a lock answers when this field is invalid
        self.doc = f"u8 length + UTF-8 (<= {max_bytes} bytes{doc})"

    def pack(self, value: Any) -> bytes:
        raw = str(value).encode()
        return bytes((len(raw),)) + raw

    def unpack(self, reader: _Reader) -> Any:
        length = reader.take(1)[0]
        if length > self.max_bytes:
            raise MalformedMessageError(
                f"string of {length} bytes (max {self.max_bytes})", self.error
            )
        try:
            text = reader.take(length).decode()
        except UnicodeDecodeError as err:
            raise MalformedMessageError("string is not UTF-8", self.error) from err
        if "\x00" in text:
            raise MalformedMessageError("string contains NUL", self.error)
        return text

    def check(self, value: Any) -> None:
        if not isinstance(value, str):
            # The type only: this codec also carries PINs, which never go into a message.
            raise LocalProtocolError(f"{type(value).__name__} is not a string", self.error)
        try:
            raw = value.encode()
        except UnicodeEncodeError as err:
            raise LocalProtocolError("string is not encodable as UTF-8", self.error) from err
        if len(raw) > self.max_bytes or "\x00" in value:
            raise LocalProtocolError(
                f"string of {len(raw)} bytes (max {self.max_bytes}, no NUL)", self.error
            )


class FixedBytes(Codec):
    """Exactly ``size`` raw bytes (keys, proofs)."""

    def __init__(self, size: int, doc: str) -> None:
        self.size = size
        self.doc = doc

    def pack(self, value: Any) -> bytes:
        return bytes(value)

    def unpack(self, reader: _Reader) -> Any:
        return reader.take(self.size or 0)

    def check(self, value: Any) -> None:
        if not isinstance(value, bytes) or len(value) != self.size:
            raise LocalProtocolError(f"must be exactly {self.size} bytes")


class PaddedText(Text):
    """u8 byte length, then the UTF-8 zero-padded to exactly ``max_bytes``: the record's
    size is the same whatever the value, so a PIN's or name's length never shows on
    the air. The padding must be zero (anything else is MALFORMED)."""

    def __init__(
        self, max_bytes: int, error: ErrorCode = ErrorCode.MALFORMED, doc: str = ""
    ) -> None:
        super().__init__(max_bytes, error, doc)
        self.size = 1 + max_bytes
        self.doc = f"u8 length + UTF-8, zero-padded to {max_bytes} bytes (always {1 + max_bytes} bytes{doc})"

    def pack(self, value: Any) -> bytes:
        raw = str(value).encode()
        return bytes((len(raw),)) + raw + bytes(self.max_bytes - len(raw))

    def unpack(self, reader: _Reader) -> Any:
        length = reader.take(1)[0]
        if length > self.max_bytes:
            raise MalformedMessageError(
                f"string of {length} bytes (max {self.max_bytes})", self.error
            )
        field_bytes = reader.take(self.max_bytes)
        if any(field_bytes[length:]):
            raise MalformedMessageError("non-zero padding", self.error)
        try:
            text = field_bytes[:length].decode()
        except UnicodeDecodeError as err:
            raise MalformedMessageError("string is not UTF-8", self.error) from err
        if "\x00" in text:
            raise MalformedMessageError("string contains NUL", self.error)
        return text


class Rest(Codec):
    doc = "remaining bytes"

    def pack(self, value: Any) -> bytes:
        return bytes(value)

    def unpack(self, reader: _Reader) -> Any:
        return reader.rest()

    def check(self, value: Any) -> None:
        if not isinstance(value, bytes):
            raise LocalProtocolError(f"{value!r} is not bytes")


class Nested(Codec):
    """A struct value object (``CodeEntry``) laid out inline."""

    def __init__(self, cls: type[_Struct]) -> None:
        self.cls = cls
        self.doc = f"{cls.__name__} (see its table)"

    def pack(self, value: Any) -> bytes:
        return _pack_layout(value)

    def unpack(self, reader: _Reader) -> Any:
        return self.cls(**_unpack_layout(self.cls, reader))

    def check(self, value: Any) -> None:
        if not isinstance(value, self.cls):
            raise LocalProtocolError(f"{value!r} is not a {self.cls.__name__}")


class Array(Codec):
    """u8 count, then ``count`` items (a tuple in Python)."""

    def __init__(self, item: Codec, max_items: int) -> None:
        self.item = item
        self.max_items = max_items
        self.doc = f"u8 count (<= {max_items}), then each item: {item.doc}"

    def pack(self, value: Any) -> bytes:
        return bytes((len(value),)) + b"".join(self.item.pack(v) for v in value)

    def unpack(self, reader: _Reader) -> Any:
        count = reader.take(1)[0]
        if count > self.max_items:
            raise MalformedMessageError(f"{count} items (max {self.max_items})")
        return tuple(self.item.unpack(reader) for _ in range(count))

    def check(self, value: Any) -> None:
        if not isinstance(value, tuple) or len(value) > self.max_items:
            raise LocalProtocolError(f"expected a tuple of at most {self.max_items} items")
        for item in value:
            self.item.check(item)


class EventItem(Codec):
    """u8 length, then one encoded event (its own header included)."""

    doc = "u8 length + event (header included)"

    def pack(self, value: Any) -> bytes:
        raw = bytes(value)
        return bytes((len(raw),)) + raw

    def unpack(self, reader: _Reader) -> Any:
        return decode_event(reader.take(reader.take(1)[0]))

    def check(self, value: Any) -> None:
        if not isinstance(value, LockEvent):
            raise LocalProtocolError(f"{value!r} is not a LockEvent")


class Version(Codec):
    """u8 version of an extension; a lock refuses any other value with ``error``."""

    size = 1

    def __init__(self, value: int, error: ErrorCode) -> None:
        self.value = value
        self.error = error
        self.doc = f"u8, = {value} (another value: {error.name})"

    def pack(self, value: Any) -> bytes:
        return bytes((value,))

    def unpack(self, reader: _Reader) -> Any:
        version = reader.take(1)[0]
        if version != self.value:
            raise MalformedMessageError(f"extension version {version} (this side speaks {self.value})",
                                        self.error)
        return version

    def check(self, value: Any) -> None:
        if value != self.value:
            raise LocalProtocolError(f"extension version must be {self.value}", self.error)


class WindowCodec(Codec):
    """A schedule window: weekdays u8 (bit 0 Monday .. bit 6 Sunday), start and end minute u16."""

    size = 5
    doc = "weekdays u8 (bit 0 = Monday .. bit 6 = Sunday), start_minute u16 LE, end_minute u16 LE"
    _STRUCT = struct.Struct("<BHH")

    def pack(self, value: Any) -> bytes:
        return self._STRUCT.pack(value.days, value.start_minute, value.end_minute)

    def unpack(self, reader: _Reader) -> Any:
        days, start, end = self._STRUCT.unpack(reader.take(5))
        try:
            return ScheduleWindow(days, start, end)
        except LocalProtocolError as err:
            raise MalformedMessageError(str(err), ErrorCode.INVALID_SCHEDULE) from err

    def check(self, value: Any) -> None:
        if not isinstance(value, ScheduleWindow):
            raise LocalProtocolError(f"{value!r} is not a ScheduleWindow", ErrorCode.INVALID_SCHEDULE)


Layout = tuple[tuple[str, Codec], ...]


def _pack_layout(obj: Any) -> bytes:
    return b"".join(codec.pack(getattr(obj, name)) for name, codec in obj._LAYOUT)


def _unpack_layout(cls: Any, reader: _Reader) -> dict[str, Any]:
    return {name: codec.unpack(reader) for name, codec in cls._LAYOUT}


def _construct(cls: type[Any], **kwargs: Any) -> Any:
    """Build a decoded message; validation failures become remote errors."""
    try:
        return cls(**kwargs)
    except LocalProtocolError as err:
        raise MalformedMessageError(str(err), err.error_code) from err


# --------------------------------------------------------------------------
# Validation helpers (the lock answers the ErrorCode carried by the error)
# --------------------------------------------------------------------------
def _check_pin(pin: str) -> None:
    if not (PIN_MIN_DIGITS <= len(pin) <= PIN_MAX_DIGITS and set(pin) <= set("0123456789")):
        raise LocalProtocolError(
            f"PIN must be {PIN_MIN_DIGITS}-{PIN_MAX_DIGITS} digits", ErrorCode.BAD_PIN
        )


def _check_name(name: str) -> None:
    if len(name) > NAME_MAX_CHARS or any(ord(c) < 0x20 for c in name):
        raise LocalProtocolError(
            f"name must be <= {NAME_MAX_CHARS} printable characters", ErrorCode.INVALID_NAME
        )


def _check_window(starts_at: int | None, ends_at: int | None) -> None:
    if (starts_at is None) != (ends_at is None):
        raise LocalProtocolError(
            "validity window needs both starts_at and ends_at", ErrorCode.INVALID_SCHEDULE
        )
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        raise LocalProtocolError("ends_at must be after starts_at", ErrorCode.INVALID_SCHEDULE)


def _check_code(pin: str, name: str, starts_at: int | None, ends_at: int | None) -> None:
    _check_pin(pin)
    _check_name(name)
    _check_window(starts_at, ends_at)


_TZ_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/_+-")


# --------------------------------------------------------------------------
# Base classes
# --------------------------------------------------------------------------
class _Struct:
    """Validates every field against its codec after construction."""

    _LAYOUT: ClassVar[Layout] = ()

    def __post_init__(self) -> None:
        for name, codec in self._LAYOUT:
            try:
                codec.check(getattr(self, name))
            except LocalProtocolError as err:
                raise LocalProtocolError(
                    f"{type(self).__name__}.{name}: {err}", err.error_code
                ) from err
        self._validate()

    def _validate(self) -> None:
        """Semantic checks beyond the codecs (PIN digits, windows, ...)."""


class Message(_Struct):
    """Base of requests, responses and lock events; ``bytes(msg)`` encodes."""

    def __bytes__(self) -> bytes:
        return self._header() + _pack_layout(self)

    def _header(self) -> bytes:
        raise NotImplementedError


_REQUEST_HEADER = struct.Struct("<BH")
_RESPONSE_HEADER = struct.Struct("<BHB")
_EVENT_HEADER = struct.Struct("<BII")


@dataclass(frozen=True)
class Request(Message):
    """Bridge -> lock. ``request_id`` (u16) is echoed by the response."""

    request_id: int
    OPCODE: ClassVar[Opcode] = Opcode.UNKNOWN

    def __post_init__(self) -> None:
        U16.check(self.request_id)
        super().__post_init__()

    def _header(self) -> bytes:
        return _REQUEST_HEADER.pack(self.OPCODE, self.request_id)

    @classmethod
    def from_bytes(cls, data: bytes) -> Request:
        """Decode any request (see :func:`decode_request`)."""
        return decode_request(data)


@dataclass(frozen=True)
class Response(Message):
    """Lock -> bridge answer to the request with the same ``request_id``."""

    request_id: int
    OPCODE: ClassVar[Opcode] = Opcode.UNKNOWN

    def __post_init__(self) -> None:
        U16.check(self.request_id)
        super().__post_init__()

    @property
    def ok(self) -> bool:
        return True

    def _header(self) -> bytes:
        return _RESPONSE_HEADER.pack(self.OPCODE | RESPONSE_FLAG, self.request_id, ErrorCode.OK)

    @classmethod
    def from_bytes(cls, data: bytes) -> Response:
        """Decode any response (see :func:`decode_response`)."""
        return decode_response(data)


@dataclass(frozen=True)
class LockEvent(Message):
    """Lock -> bridge, unsolicited and in the event log.

    ``seq`` is the lock's event-log sequence number (u32, first event is 1);
    ``timestamp`` is the lock's own clock in Unix seconds.
    """

    seq: int
    timestamp: int
    EVENT_TYPE: ClassVar[EventType] = EventType.UNKNOWN

    def __post_init__(self) -> None:
        U32.check(self.seq)
        U32.check(self.timestamp)
        super().__post_init__()

    def _type_byte(self) -> int:
        return int(self.EVENT_TYPE)

    def _header(self) -> bytes:
        return _EVENT_HEADER.pack(self._type_byte(), self.seq, self.timestamp)

    @classmethod
    def from_bytes(cls, data: bytes) -> LockEvent:
        """Decode any lock event (see :func:`decode_event`)."""
        return decode_event(data)


# --------------------------------------------------------------------------
# Value objects
# --------------------------------------------------------------------------
_SLOT = U16
_TIME = OrNone(U32, NO_TIME)
# Padded: a record's size must not tell how long a PIN or a name is.
_PIN = PaddedText(PIN_MAX_DIGITS, ErrorCode.BAD_PIN, "; 4-8 ASCII digits")
_NAME = PaddedText(NAME_MAX_BYTES, ErrorCode.INVALID_NAME, f"; <= {NAME_MAX_CHARS} characters >= U+0020")
_TZ = Text(TIMEZONE_MAX_BYTES, ErrorCode.INVALID_TIMEZONE, "; IANA name")


@dataclass(frozen=True)
class CodeEntry(_Struct):
    """One code slot as listed by LIST_CODES.

    ``starts_at``/``ends_at``: the validity window in Unix seconds on the lock's
    clock (both or neither; 0 on the wire means absent).
    """

    slot: int
    pin: str = field(repr=False)
    name: str
    starts_at: int | None = None
    ends_at: int | None = None
    _LAYOUT: ClassVar[Layout] = (
        ("slot", _SLOT),
        ("starts_at", _TIME),
        ("ends_at", _TIME),
        ("pin", _PIN),
        ("name", _NAME),
    )

    def _validate(self) -> None:
        _check_code(self.pin, self.name, self.starts_at, self.ends_at)


@dataclass(frozen=True)
class DeviceInfo(_Struct):
    """Plaintext value of the info characteristic (readable without a session)."""

    protocol_version: int
    capabilities: int
    model: str
    firmware: str
    _LAYOUT: ClassVar[Layout] = (
        ("protocol_version", U8),
        ("capabilities", U32),
        ("model", Text(32)),
        ("firmware", Text(32)),
    )

    def __bytes__(self) -> bytes:
        return _pack_layout(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> DeviceInfo:
        reader = _Reader(bytes(data))
        info: DeviceInfo = _construct(cls, **_unpack_layout(cls, reader))
        reader.end()
        return info

    @classmethod
    def default(cls) -> DeviceInfo:
        return cls(PROTOCOL_VERSION, 0, "VL-1 virtual lock", "1.0.0")


# --------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class StatusRequest(Request):
    OPCODE = Opcode.GET_STATUS


@dataclass(frozen=True)
class LockRequest(Request):
    OPCODE = Opcode.LOCK


@dataclass(frozen=True)
class UnlockRequest(Request):
    OPCODE = Opcode.UNLOCK


@dataclass(frozen=True)
class SetTimeRequest(Request):
    """Set the lock's clock (Unix seconds, UTC) and its timezone.

    ``timezone`` is an IANA name (``Europe/Paris``); ``utc_offset_minutes`` is
    its current offset, so that a lock without a tz database can show local time.
    """

    epoch: int
    timezone: str
    utc_offset_minutes: int = 0
    OPCODE = Opcode.SET_TIME
    _LAYOUT: ClassVar[Layout] = (
        ("epoch", U32),
        ("utc_offset_minutes", I16),
        ("timezone", _TZ),
    )

    def _validate(self) -> None:
        if not self.timezone or not set(self.timezone) <= _TZ_CHARS:
            raise LocalProtocolError(
                f"timezone {self.timezone!r} is not an IANA name", ErrorCode.INVALID_TIMEZONE
            )
        if not -18 * 60 <= self.utc_offset_minutes <= 18 * 60:
            raise LocalProtocolError("UTC offset beyond +/-18 h", ErrorCode.INVALID_TIME)


@dataclass(frozen=True)
class PutCodeRequest(Request):
    """Store a PIN in ``slot`` (``ANY_SLOT`` = lowest free slot).

    An identical code already in the slot is accepted (idempotent); a different
    one is refused with SLOT_OCCUPIED unless ``replace`` is set.
    """

    slot: int
    pin: str = field(repr=False)
    name: str = ""
    starts_at: int | None = None
    ends_at: int | None = None
    replace: bool = False
    OPCODE = Opcode.PUT_CODE
    _LAYOUT: ClassVar[Layout] = (
        ("slot", _SLOT),
        ("replace", Bool8()),
        ("starts_at", _TIME),
        ("ends_at", _TIME),
        ("pin", _PIN),
        ("name", _NAME),
    )

    def _validate(self) -> None:
        _check_code(self.pin, self.name, self.starts_at, self.ends_at)


@dataclass(frozen=True)
class DeleteCodeRequest(Request):
    slot: int
    OPCODE = Opcode.DELETE_CODE
    _LAYOUT: ClassVar[Layout] = (("slot", _SLOT),)

    def _validate(self) -> None:
        if self.slot == ANY_SLOT:
            raise LocalProtocolError("cannot delete ANY_SLOT", ErrorCode.INVALID_SLOT)


@dataclass(frozen=True)
class ListCodesRequest(Request):
    """Up to ``max_count`` occupied slots with number >= ``start_slot``."""

    start_slot: int = 0
    max_count: int = MAX_LIST_PAGE
    OPCODE = Opcode.LIST_CODES
    _LAYOUT: ClassVar[Layout] = (("start_slot", _SLOT), ("max_count", U8))

    def _validate(self) -> None:
        if not 1 <= self.max_count <= MAX_LIST_PAGE:
            raise LocalProtocolError(f"max_count must be 1..{MAX_LIST_PAGE}")


@dataclass(frozen=True)
class ReadEventsRequest(Request):
    """Up to ``max_count`` logged events with seq > ``since_seq``, oldest first."""

    since_seq: int = 0
    max_count: int = MAX_EVENTS_PAGE
    OPCODE = Opcode.READ_EVENTS
    _LAYOUT: ClassVar[Layout] = (("since_seq", U32), ("max_count", U8))

    def _validate(self) -> None:
        if not 1 <= self.max_count <= MAX_EVENTS_PAGE:
            raise LocalProtocolError(f"max_count must be 1..{MAX_EVENTS_PAGE}")


_KEY = FixedBytes(16, "16 bytes, the new device key (inside the secure record only)")
_PROOF = FixedBytes(16, "16 bytes, HMAC-SHA256(new_key, \"LKP1 key proof\" || rotation_id)[0:16]")


@dataclass(frozen=True)
class RotateKeyRequest(Request):
    """Store ``new_key`` as the pending device key of rotation ``rotation_id``.

    The lock keeps using its current key (every handshake) until COMMIT_KEY of
    the same rotation; a second ROTATE_KEY replaces the pending key.
    """

    rotation_id: int
    new_key: bytes = field(repr=False)
    OPCODE = Opcode.ROTATE_KEY
    _LAYOUT: ClassVar[Layout] = (("rotation_id", U32), ("new_key", _KEY))

    def _validate(self) -> None:
        if self.rotation_id == 0:
            raise LocalProtocolError("rotation_id 0 is reserved")


@dataclass(frozen=True)
class CommitKeyRequest(Request):
    """Make the pending key of ``rotation_id`` the device key; the old key is erased."""

    rotation_id: int
    OPCODE = Opcode.COMMIT_KEY
    _LAYOUT: ClassVar[Layout] = (("rotation_id", U32),)


@dataclass(frozen=True)
class FactoryResetRequest(Request):
    """Erase every code and the event log; only while the lock's reset button is held."""

    OPCODE = Opcode.FACTORY_RESET


_OFFLINE_SECRET = FixedBytes(OFFLINE_SECRET_SIZE, "32 bytes, the new offline-code secret (inside the secure record only)")
_OFFLINE_KIND = Enum8(OfflineKind)
_HOUR = U32  # whole UTC hours since the Unix epoch
_TZ_RULE = Text(TZ_RULE_MAX_BYTES, ErrorCode.INVALID_SCHEDULE, "; POSIX TZ rule, ASCII")
_WINDOWS = Array(WindowCodec(), SCHEDULE_MAX_WINDOWS)
_OFFLINE_CODE_LAYOUT: Layout = (
    ("kind", _OFFLINE_KIND),
    ("start_hour", _HOUR),
    ("end_hour", _HOUR),
    ("counter", U8),
)


class _OfflineCodeFields:
    """The four fields that name an offline code (section 17.2)."""

    kind: OfflineKind
    start_hour: int
    end_hour: int
    counter: int

    @property
    def code(self) -> OfflineCode:
        return OfflineCode(self.kind, self.start_hour, self.end_hour, self.counter)


def _check_rule(rule: str, windows: tuple[ScheduleWindow, ...]) -> None:
    TzRule.parse(rule)
    if not windows:
        raise LocalProtocolError("a schedule has 1 to 8 windows", ErrorCode.INVALID_SCHEDULE)


@dataclass(frozen=True)
class SetOfflineSecretRequest(Request):
    """Replace the offline-code secret (section 17.6): every code of the old secret stops working."""

    generation: int
    secret: bytes = field(repr=False)
    OPCODE = Opcode.SET_OFFLINE_SECRET
    _LAYOUT: ClassVar[Layout] = (("generation", U32), ("secret", _OFFLINE_SECRET))

    def _validate(self) -> None:
        if self.generation == 0:
            raise LocalProtocolError("generation 0 is the factory's secret")


@dataclass(frozen=True)
class RevokeOfflineCodeRequest(_OfflineCodeFields, Request):
    """Refuse one offline code from now on (it goes into the lock's offline table)."""

    kind: OfflineKind
    start_hour: int
    end_hour: int
    counter: int
    OPCODE = Opcode.REVOKE_OFFLINE_CODE
    _LAYOUT: ClassVar[Layout] = _OFFLINE_CODE_LAYOUT

    def _validate(self) -> None:
        _ = self.code  # raises INVALID_SCHEDULE for a code the scheme cannot issue


@dataclass(frozen=True)
class PutScheduledCodeRequest(Request):
    """PUT_CODE with a weekly schedule (extension version 1, section 18).

    The same rules as PUT_CODE; the code also opens only inside one of ``windows``
    on the wall clock of ``tz_rule``. A lock that does not know the opcode answers
    UNKNOWN_OPCODE, one that knows another extension version UNSUPPORTED_EXTENSION.
    """

    slot: int
    pin: str = field(repr=False)
    name: str = ""
    starts_at: int | None = None
    ends_at: int | None = None
    replace: bool = False
    tz_rule: str = "UTC0"
    windows: tuple[ScheduleWindow, ...] = ()
    extension: int = SCHEDULE_EXTENSION_VERSION
    OPCODE = Opcode.PUT_SCHEDULED_CODE
    # PUT_CODE's body, then the extension: a lock reads the code exactly as PUT_CODE's.
    _LAYOUT: ClassVar[Layout] = (
        *PutCodeRequest._LAYOUT,
        ("extension", Version(SCHEDULE_EXTENSION_VERSION, ErrorCode.UNSUPPORTED_EXTENSION)),
        ("tz_rule", _TZ_RULE),
        ("windows", _WINDOWS),
    )

    def _validate(self) -> None:
        _check_code(self.pin, self.name, self.starts_at, self.ends_at)
        _check_rule(self.tz_rule, self.windows)


@dataclass(frozen=True)
class GetCodeScheduleRequest(Request):
    """The weekly schedule of one slot (LIST_CODES does not show schedules)."""

    slot: int
    OPCODE = Opcode.GET_CODE_SCHEDULE
    _LAYOUT: ClassVar[Layout] = (("slot", _SLOT),)


@dataclass(frozen=True)
class GetSettingsRequest(Request):
    """What the lock says about its own configuration (section 20)."""

    OPCODE = Opcode.GET_SETTINGS


# --------------------------------------------------------------------------
# Responses
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class StatusResponse(Response):
    """The lock's state. ``signal_dbm`` is the RSSI the lock sees (0 = unknown)."""

    bolt: BoltState
    door: DoorState
    battery_percent: int
    signal_dbm: int
    device_time: int
    timezone: str
    utc_offset_minutes: int
    code_count: int
    code_capacity: int
    event_head_seq: int
    OPCODE = Opcode.GET_STATUS
    _LAYOUT: ClassVar[Layout] = (
        ("bolt", Enum8(BoltState)),
        ("door", Enum8(DoorState)),
        ("battery_percent", U8),
        ("signal_dbm", I8),
        ("device_time", U32),
        ("utc_offset_minutes", I16),
        ("code_count", U16),
        ("code_capacity", U16),
        ("event_head_seq", U32),
        ("timezone", _TZ),
    )

    def _validate(self) -> None:
        if self.battery_percent > 100:
            raise LocalProtocolError("battery_percent above 100")


@dataclass(frozen=True)
class LockResponse(Response):
    bolt: BoltState
    OPCODE = Opcode.LOCK
    _LAYOUT: ClassVar[Layout] = (("bolt", Enum8(BoltState)),)


@dataclass(frozen=True)
class UnlockResponse(Response):
    bolt: BoltState
    OPCODE = Opcode.UNLOCK
    _LAYOUT: ClassVar[Layout] = (("bolt", Enum8(BoltState)),)


@dataclass(frozen=True)
class SetTimeResponse(Response):
    OPCODE = Opcode.SET_TIME


@dataclass(frozen=True)
class PutCodeResponse(Response):
    slot: int
    OPCODE = Opcode.PUT_CODE
    _LAYOUT: ClassVar[Layout] = (("slot", _SLOT),)


@dataclass(frozen=True)
class DeleteCodeResponse(Response):
    slot: int
    OPCODE = Opcode.DELETE_CODE
    _LAYOUT: ClassVar[Layout] = (("slot", _SLOT),)


@dataclass(frozen=True)
class ListCodesResponse(Response):
    """One page of codes; ``next_slot`` is where the next page starts (None = done)."""

    codes: tuple[CodeEntry, ...]
    next_slot: int | None = None
    OPCODE = Opcode.LIST_CODES
    _LAYOUT: ClassVar[Layout] = (
        ("next_slot", OrNone(U16, NO_SLOT)),
        ("codes", Array(Nested(CodeEntry), MAX_LIST_PAGE)),
    )


@dataclass(frozen=True)
class ReadEventsResponse(Response):
    """One page of the event log.

    ``head_seq``: the newest seq in the log (0 = empty); ``oldest_seq``: the oldest
    still held (0 = empty). Events with seq < oldest_seq were overwritten.
    """

    events: tuple[LockEvent, ...]
    head_seq: int
    oldest_seq: int
    OPCODE = Opcode.READ_EVENTS
    _LAYOUT: ClassVar[Layout] = (
        ("head_seq", U32),
        ("oldest_seq", U32),
        ("events", Array(EventItem(), MAX_EVENTS_PAGE)),
    )


@dataclass(frozen=True)
class RotateKeyResponse(Response):
    rotation_id: int
    key_proof: bytes
    OPCODE = Opcode.ROTATE_KEY
    _LAYOUT: ClassVar[Layout] = (("rotation_id", U32), ("key_proof", _PROOF))


@dataclass(frozen=True)
class CommitKeyResponse(Response):
    rotation_id: int
    OPCODE = Opcode.COMMIT_KEY
    _LAYOUT: ClassVar[Layout] = (("rotation_id", U32),)


@dataclass(frozen=True)
class FactoryResetResponse(Response):
    OPCODE = Opcode.FACTORY_RESET


@dataclass(frozen=True)
class SetOfflineSecretResponse(Response):
    generation: int
    proof: bytes
    OPCODE = Opcode.SET_OFFLINE_SECRET
    _LAYOUT: ClassVar[Layout] = (
        ("generation", U32),
        ("proof", FixedBytes(16, "16 bytes, HMAC-SHA256(secret, \"LKP2 offline secret\" || generation)[0:16]")),
    )


@dataclass(frozen=True)
class RevokeOfflineCodeResponse(Response):
    """``free_entries``: room left in the lock's offline table after this revocation."""

    free_entries: int
    OPCODE = Opcode.REVOKE_OFFLINE_CODE
    _LAYOUT: ClassVar[Layout] = (("free_entries", U8),)


@dataclass(frozen=True)
class PutScheduledCodeResponse(Response):
    slot: int
    OPCODE = Opcode.PUT_SCHEDULED_CODE
    _LAYOUT: ClassVar[Layout] = (("slot", _SLOT),)


@dataclass(frozen=True)
class GetCodeScheduleResponse(Response):
    """A slot's schedule; a code without one has ``tz_rule`` empty and no windows."""

    slot: int
    tz_rule: str = ""
    windows: tuple[ScheduleWindow, ...] = ()
    OPCODE = Opcode.GET_CODE_SCHEDULE
    _LAYOUT: ClassVar[Layout] = (
        ("slot", _SLOT),
        ("extension", Version(SCHEDULE_EXTENSION_VERSION, ErrorCode.UNSUPPORTED_EXTENSION)),
        ("tz_rule", _TZ_RULE),
        ("windows", _WINDOWS),
    )
    extension: int = SCHEDULE_EXTENSION_VERSION

    def _validate(self) -> None:
        if self.tz_rule or self.windows:
            _check_rule(self.tz_rule, self.windows)


@dataclass(frozen=True)
class GetSettingsResponse(Response):
    """Auto-lock delay (0 = off), the keypad's own battery (NO_KEYPAD_BATTERY when it has none)
    and the serial the factory wrote (empty if none)."""

    auto_lock_seconds: int
    keypad_battery_percent: int = NO_KEYPAD_BATTERY
    serial: str = ""
    OPCODE = Opcode.GET_SETTINGS
    _LAYOUT: ClassVar[Layout] = (
        ("auto_lock_seconds", U16),
        ("keypad_battery_percent", U8),
        ("serial", Text(32)),
    )

    def _validate(self) -> None:
        if self.keypad_battery_percent > 100 and self.keypad_battery_percent != NO_KEYPAD_BATTERY:
            raise LocalProtocolError("keypad_battery_percent above 100")


@dataclass(frozen=True)
class ErrorResponse(Response):
    """A refusal: ``opcode`` is the request's (raw u8), ``error`` why."""

    opcode: int
    error: ErrorCode

    def _validate(self) -> None:
        U8.check(self.opcode)
        if self.opcode > REQUEST_OPCODE_MAX:
            raise LocalProtocolError(f"request opcode {self.opcode:#x} above 0x3f")
        if not isinstance(self.error, ErrorCode) or self.error is ErrorCode.OK:
            raise LocalProtocolError("ErrorResponse needs a non-OK ErrorCode")

    @property
    def ok(self) -> bool:
        return False

    def _header(self) -> bytes:
        return _RESPONSE_HEADER.pack(self.opcode | RESPONSE_FLAG, self.request_id, self.error)


# --------------------------------------------------------------------------
# Lock events
# --------------------------------------------------------------------------
_SOURCE = Enum8(Source)
_OPT_SLOT = OrNone(U16, NO_SLOT)


@dataclass(frozen=True)
class LockedEvent(LockEvent):
    """The bolt was thrown. ``slot`` is the keypad code slot (source KEYPAD)."""

    source: Source
    slot: int | None = None
    EVENT_TYPE = EventType.LOCKED
    _LAYOUT: ClassVar[Layout] = (("source", _SOURCE), ("slot", _OPT_SLOT))


@dataclass(frozen=True)
class UnlockedEvent(LockEvent):
    """The bolt was retracted. ``slot`` is the keypad code slot (source KEYPAD)."""

    source: Source
    slot: int | None = None
    EVENT_TYPE = EventType.UNLOCKED
    _LAYOUT: ClassVar[Layout] = (("source", _SOURCE), ("slot", _OPT_SLOT))


@dataclass(frozen=True)
class IncorrectPinEvent(LockEvent):
    """Someone typed a PIN that matched no (currently valid) code."""

    digits: str
    EVENT_TYPE = EventType.INCORRECT_PIN
    _LAYOUT: ClassVar[Layout] = (("digits", PaddedText(16, doc="; 0-16 ASCII digits")),)

    def _validate(self) -> None:
        if not set(self.digits) <= set("0123456789"):
            raise LocalProtocolError("keypad digits must be 0-9")


@dataclass(frozen=True)
class BoltFaultEvent(LockEvent):
    """The motor could not finish ``action`` (jammed, or obstructed by the door frame)."""

    fault: BoltFault
    action: BoltAction
    source: Source
    EVENT_TYPE = EventType.BOLT_FAULT
    _LAYOUT: ClassVar[Layout] = (
        ("fault", Enum8(BoltFault)),
        ("action", Enum8(BoltAction)),
        ("source", _SOURCE),
    )


@dataclass(frozen=True)
class BatteryEvent(LockEvent):
    """Battery level changed (reported on each whole-percent step downwards)."""

    level_percent: int
    low: bool
    EVENT_TYPE = EventType.BATTERY
    _LAYOUT: ClassVar[Layout] = (("level_percent", U8), ("low", Bool8()))

    def _validate(self) -> None:
        if self.level_percent > 100:
            raise LocalProtocolError("level_percent above 100")


@dataclass(frozen=True)
class DoorEvent(LockEvent):
    door: DoorState
    EVENT_TYPE = EventType.DOOR
    _LAYOUT: ClassVar[Layout] = (("door", Enum8(DoorState)),)


@dataclass(frozen=True)
class TamperEvent(LockEvent):
    kind: TamperKind
    EVENT_TYPE = EventType.TAMPER
    _LAYOUT: ClassVar[Layout] = (("kind", Enum8(TamperKind)),)


@dataclass(frozen=True)
class OfflineCodeUsedEvent(_OfflineCodeFields, LockEvent):
    """An offline code opened the lock (logged before the UnlockedEvent it causes).

    ``generation``: the offline secret the code was derived from.
    """

    generation: int
    kind: OfflineKind
    start_hour: int
    end_hour: int
    counter: int
    EVENT_TYPE = EventType.OFFLINE_CODE_USED
    _LAYOUT: ClassVar[Layout] = (("generation", U32), *_OFFLINE_CODE_LAYOUT)


@dataclass(frozen=True)
class AccessDeniedEvent(LockEvent):
    """A PIN the lock recognised did not open it: an online code outside its schedule
    (``slot`` set, offline fields zero), or an offline code revoked, already used, or with
    no room to record its first use (``slot`` none, the code's fields set)."""

    reason: AccessDenial
    slot: int | None = None
    generation: int = 0
    kind: OfflineKind = OfflineKind.NONE
    start_hour: int = 0
    end_hour: int = 0
    counter: int = 0
    EVENT_TYPE = EventType.ACCESS_DENIED
    _LAYOUT: ClassVar[Layout] = (
        ("reason", Enum8(AccessDenial)),
        ("slot", OrNone(U16, NO_SLOT)),
        ("generation", U32),
        *_OFFLINE_CODE_LAYOUT,
    )

    @property
    def code(self) -> OfflineCode | None:
        if self.kind in (OfflineKind.NONE, OfflineKind.UNKNOWN):
            return None
        try:
            return OfflineCode(self.kind, self.start_hour, self.end_hour, self.counter)
        except LocalProtocolError:
            return None


@dataclass(frozen=True)
class UnknownLockEvent(LockEvent):
    """An event type this bridge does not know (a newer firmware); kept raw."""

    event_type: int
    payload: bytes = b""
    _LAYOUT: ClassVar[Layout] = (("payload", Rest()),)

    def _validate(self) -> None:
        if not EVENT_OPCODE_MIN <= self.event_type <= EVENT_OPCODE_MAX:
            raise LocalProtocolError(f"event type {self.event_type:#x} outside 0x40..0x7f")

    def _type_byte(self) -> int:
        return self.event_type


# --------------------------------------------------------------------------
# Dispatch
# --------------------------------------------------------------------------
REQUEST_TYPES: dict[int, type[Request]] = {
    cls.OPCODE: cls
    for cls in (
        StatusRequest,
        LockRequest,
        UnlockRequest,
        SetTimeRequest,
        PutCodeRequest,
        DeleteCodeRequest,
        ListCodesRequest,
        ReadEventsRequest,
        RotateKeyRequest,
        CommitKeyRequest,
        FactoryResetRequest,
        SetOfflineSecretRequest,
        RevokeOfflineCodeRequest,
        PutScheduledCodeRequest,
        GetCodeScheduleRequest,
        GetSettingsRequest,
    )
}
RESPONSE_TYPES: dict[int, type[Response]] = {
    cls.OPCODE: cls
    for cls in (
        StatusResponse,
        LockResponse,
        UnlockResponse,
        SetTimeResponse,
        PutCodeResponse,
        DeleteCodeResponse,
        ListCodesResponse,
        ReadEventsResponse,
        RotateKeyResponse,
        CommitKeyResponse,
        FactoryResetResponse,
        SetOfflineSecretResponse,
        RevokeOfflineCodeResponse,
        PutScheduledCodeResponse,
        GetCodeScheduleResponse,
        GetSettingsResponse,
    )
}
EVENT_MESSAGES: dict[int, type[LockEvent]] = {
    cls.EVENT_TYPE: cls
    for cls in (
        LockedEvent,
        UnlockedEvent,
        IncorrectPinEvent,
        BoltFaultEvent,
        BatteryEvent,
        DoorEvent,
        TamperEvent,
        OfflineCodeUsedEvent,
        AccessDeniedEvent,
    )
}


def decode_request(data: bytes) -> Request:
    """Decode a request. Raises :class:`MalformedMessageError` whose ``error_code``
    is the answer the lock should give (UNKNOWN_OPCODE, BAD_PIN, MALFORMED...), and
    whose ``request_id``/``opcode`` are set when the header could be read."""
    data = bytes(data)
    if len(data) < _REQUEST_HEADER.size:
        raise MalformedMessageError("request shorter than its header")
    opcode, request_id = _REQUEST_HEADER.unpack_from(data)
    try:
        cls = REQUEST_TYPES.get(opcode)
        if cls is None:
            raise MalformedMessageError(
                f"unknown request opcode {opcode:#04x}", ErrorCode.UNKNOWN_OPCODE
            )
        reader = _Reader(data)
        reader.pos = _REQUEST_HEADER.size
        request: Request = _construct(cls, request_id=request_id, **_unpack_layout(cls, reader))
        reader.end()
        return request
    except MalformedMessageError as err:
        err.request_id = request_id
        err.opcode = opcode if opcode <= REQUEST_OPCODE_MAX else None
        raise


def decode_event(data: bytes) -> LockEvent:
    """Decode one lock event (header included)."""
    data = bytes(data)
    if len(data) < _EVENT_HEADER.size:
        raise MalformedMessageError("event shorter than its header")
    event_type, seq, timestamp = _EVENT_HEADER.unpack_from(data)
    if not EVENT_OPCODE_MIN <= event_type <= EVENT_OPCODE_MAX:
        raise MalformedMessageError(f"{event_type:#04x} is not an event type")
    reader = _Reader(data)
    reader.pos = _EVENT_HEADER.size
    cls = EVENT_MESSAGES.get(event_type)
    event: LockEvent
    if cls is None:
        event = UnknownLockEvent(seq, timestamp, event_type, reader.rest())
    else:
        event = _construct(cls, seq=seq, timestamp=timestamp, **_unpack_layout(cls, reader))
    reader.end()
    return event


def decode_response(data: bytes) -> Response:
    """Decode a response (opcode with the 0x80 bit)."""
    data = bytes(data)
    if len(data) < _RESPONSE_HEADER.size:
        raise MalformedMessageError("response shorter than its header")
    raw_opcode, request_id, status = _RESPONSE_HEADER.unpack_from(data)
    opcode = raw_opcode & ~RESPONSE_FLAG
    if not raw_opcode & RESPONSE_FLAG or opcode > REQUEST_OPCODE_MAX:
        raise MalformedMessageError(f"{raw_opcode:#04x} is not a response opcode")
    reader = _Reader(data)
    reader.pos = _RESPONSE_HEADER.size
    response: Response
    if status != ErrorCode.OK:
        response = ErrorResponse(request_id, opcode, ErrorCode(status))
    else:
        cls = RESPONSE_TYPES.get(opcode)
        if cls is None:
            raise MalformedMessageError(f"unknown response opcode {raw_opcode:#04x}")
        response = _construct(cls, request_id=request_id, **_unpack_layout(cls, reader))
    reader.end()
    return response


def decode_from_lock(data: bytes) -> Response | LockEvent:
    """Decode a lock -> bridge message: a response or an unsolicited event."""
    if not data:
        raise MalformedMessageError("empty message")
    if data[0] & RESPONSE_FLAG:
        return decode_response(data)
    return decode_event(data)
