"""Message encodings: one table drives encoding and decoding; properties for the rest."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge.protocol import (
    ANY_SLOT,
    AccessDenial,
    BatteryEvent,
    BoltAction,
    BoltFault,
    BoltFaultEvent,
    BoltState,
    CodeEntry,
    DeleteCodeRequest,
    DeleteCodeResponse,
    DeviceInfo,
    DoorEvent,
    DoorState,
    ErrorCode,
    ErrorResponse,
    IncorrectPinEvent,
    ListCodesRequest,
    ListCodesResponse,
    LocalProtocolError,
    LockedEvent,
    LockEvent,
    LockRequest,
    LockResponse,
    MalformedMessageError,
    Message,
    OfflineKind,
    Opcode,
    ProtocolError,
    PutCodeRequest,
    PutCodeResponse,
    ReadEventsRequest,
    ReadEventsResponse,
    Request,
    Response,
    SetTimeRequest,
    SetTimeResponse,
    Source,
    StatusRequest,
    StatusResponse,
    TamperEvent,
    TamperKind,
    UnknownLockEvent,
    UnlockedEvent,
    UnlockRequest,
    UnlockResponse,
    decode_event,
    decode_from_lock,
    decode_request,
)
from firmware_bridge.protocol import messages as m
from firmware_bridge.protocol.const import NO_KEYPAD_BATTERY
from firmware_bridge.protocol.schedule import ScheduleWindow

T = 1_700_000_000  # 00 f1 53 65 little-endian

def _text(data: str, width: int) -> str:
    """A padded text field: u8 length, the bytes, zeros up to ``width`` (protocol 2)."""
    raw = bytes.fromhex(data)
    return f"{len(raw):02x} " + (raw + bytes(width - len(raw))).hex()


def _pin(data: str) -> str:
    return _text(data, 8)


def _name(data: str) -> str:
    return _text(data, 56)


# (message, wire bytes). Drives both directions; reviewed by hand against docs/ble-protocol.md.
CASES: list[tuple[Message, str]] = [
    (StatusRequest(1), "01 0100"),
    (LockRequest(2), "02 0200"),
    (UnlockRequest(0x1234), "03 3412"),
    (
        SetTimeRequest(4, T, "Europe/Paris", 60),
        "04 0400 00f15365 3c00 0c 4575726f70652f5061726973",
    ),
    (
        PutCodeRequest(5, 3, "482913", "Alice"),
        f"05 0500 0300 00 00000000 00000000 {_pin('343832393133')} {_name('416c696365')}",
    ),
    (
        PutCodeRequest(6, ANY_SLOT, "1234", "Zoë", T, T + 3600, replace=True),
        f"05 0600 ffff 01 00f15365 10ff5365 {_pin('31323334')} {_name('5a6fc3ab')}",
    ),
    (DeleteCodeRequest(7, 3), "06 0700 0300"),
    (ListCodesRequest(8, 1, 10), "07 0800 0100 0a"),
    (ReadEventsRequest(9, 41, 16), "08 0900 29000000 10"),
    (
        StatusResponse(
            1, BoltState.LOCKED, DoorState.CLOSED, 87, -60, T, "Europe/Paris", 60, 2, 250, 42
        ),
        "81 0100 00 01 01 57 c4 00f15365 3c00 0200 fa00 2a000000 0c 4575726f70652f5061726973",
    ),
    (LockResponse(2, BoltState.LOCKED), "82 0200 00 01"),
    (UnlockResponse(3, BoltState.UNLOCKED), "83 0300 00 02"),
    (SetTimeResponse(4), "84 0400 00"),
    (PutCodeResponse(5, 3), "85 0500 00 0300"),
    (DeleteCodeResponse(7, 3), "86 0700 00 0300"),
    (
        ListCodesResponse(
            8, (CodeEntry(3, "482913", "Alice"), CodeEntry(9, "1234", "Bob", T, T + 60)), 10
        ),
        "87 0800 00 0a00 02"
        f" 0300 00000000 00000000 {_pin('343832393133')} {_name('416c696365')}"
        f" 0900 00f15365 3cf15365 {_pin('31323334')} {_name('426f62')}",
    ),
    (ListCodesResponse(8, (), None), "87 0800 00 ffff 00"),
    (
        ReadEventsResponse(9, (LockedEvent(42, T, Source.BLE),), 42, 1),
        "88 0900 00 2a000000 01000000 01 0c 41 2a000000 00f15365 03 ffff",
    ),
    (ErrorResponse(5, Opcode.PUT_CODE, ErrorCode.SLOT_OCCUPIED), "85 0500 0b"),
    (m.RotateKeyRequest(3, 1, bytes(range(0x30, 0x40))), "09 0300 01000000 303132333435363738393a3b3c3d3e3f"),
    (m.RotateKeyResponse(3, 1, bytes(range(16))), "89 0300 00 01000000 000102030405060708090a0b0c0d0e0f"),
    (m.CommitKeyRequest(4, 1), "0a 0400 01000000"),
    (m.CommitKeyResponse(4, 1), "8a 0400 00 01000000"),
    (m.FactoryResetRequest(5), "0b 0500"),
    (m.FactoryResetResponse(5), "8b 0500 00"),
    (ErrorResponse(6, 0x3E, ErrorCode.UNKNOWN_OPCODE), "be 0600 01"),
    (LockedEvent(1, T, Source.KEYPAD, 3), "41 01000000 00f15365 01 0300"),
    (UnlockedEvent(2, T, Source.MANUAL), "42 02000000 00f15365 02 ffff"),
    (UnlockedEvent(3, T, Source.AUTO_LOCK), "42 03000000 00f15365 04 ffff"),
    (IncorrectPinEvent(4, T, "1111"), "43 04000000 00f15365 " + _text("31313131", 16)),
    (
        BoltFaultEvent(5, T, BoltFault.JAMMED, BoltAction.LOCK, Source.BLE),
        "44 05000000 00f15365 01 01 03",
    ),
    (BatteryEvent(6, T, 14, True), "45 06000000 00f15365 0e 01"),
    (DoorEvent(7, T, DoorState.AJAR), "46 07000000 00f15365 03"),
    (TamperEvent(8, T, TamperKind.CASE_OPENED), "47 08000000 00f15365 01"),
    (UnknownLockEvent(9, T, 0x60, b"\x01\x02"), "60 09000000 00f15365 0102"),
    # Offline codes and weekly schedules (sections 17, 18)
    (m.SetOfflineSecretRequest(6, 1, bytes(range(0x40, 0x60))),
     "0c 0600 01000000 404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"),
    (m.SetOfflineSecretResponse(6, 1, bytes(range(16))), "8c 0600 00 01000000 000102030405060708090a0b0c0d0e0f"),
    (m.RevokeOfflineCodeRequest(8, OfflineKind.DAILY, 472222, 472942, 1), "0d 0800 03 9e340700 6e370700 01"),
    (m.RevokeOfflineCodeResponse(8, 63), "8d 0800 00 3f"),
    (
        m.PutScheduledCodeRequest(7, 3, "482913", "Alice", None, None, False, "UTC0",
                                  (ScheduleWindow(0x1F, 540, 1050), ScheduleWindow(0x60, 600, 720))),
        f"0e 0700 0300 00 00000000 00000000 {_pin('343832393133')} {_name('416c696365')}"
        " 01 04 55544330 02 1f 1c02 1a04 60 5802 d002",
    ),
    (m.PutScheduledCodeResponse(7, 3), "8e 0700 00 0300"),
    (m.GetCodeScheduleRequest(9, 3), "0f 0900 0300"),
    (m.GetCodeScheduleResponse(9, 3), "8f 0900 00 0300 01 00 00"),
    (m.GetCodeScheduleResponse(9, 3, "UTC0", (ScheduleWindow(1, 0, 1440),)),
     "8f 0900 00 0300 01 04 55544330 01 01 0000 a005"),
    (m.GetSettingsRequest(5), "10 0500"),
    (m.GetSettingsResponse(5, 30, NO_KEYPAD_BATTERY, "HALO-000042"),
     "90 0500 00 1e00 ff 0b 48414c4f2d303030303432"),
    (m.GetSettingsResponse(6, 0, 80), "90 0600 00 0000 50 00"),
    (m.OfflineCodeUsedEvent(10, T, 1, OfflineKind.HOURLY, 472222, 472225, 0),
     "48 0a000000 00f15365 01000000 02 9e340700 a1340700 00"),
    (m.AccessDeniedEvent(11, T, AccessDenial.OUTSIDE_SCHEDULE, 3),
     "49 0b000000 00f15365 01 0300 00000000 00 00000000 00000000 00"),
    (m.AccessDeniedEvent(12, T, AccessDenial.REVOKED, None, 2, OfflineKind.ONE_TIME, 472222, 472246, 3),
     "49 0c000000 00f15365 02 ffff 02000000 01 9e340700 b6340700 03"),
]


def _decode(message: Message, data: bytes) -> Message:
    if isinstance(message, Request):
        return decode_request(data)
    return decode_from_lock(data)


@pytest.mark.parametrize(("message", "wire"), CASES, ids=[type(c[0]).__name__ for c in CASES])
def test_encode(message: Message, wire: str) -> None:
    assert bytes(message) == bytes.fromhex(wire)


@pytest.mark.parametrize(("message", "wire"), CASES, ids=[type(c[0]).__name__ for c in CASES])
def test_decode(message: Message, wire: str) -> None:
    assert _decode(message, bytes.fromhex(wire)) == message


@pytest.mark.parametrize(("message", "wire"), CASES, ids=[type(c[0]).__name__ for c in CASES])
def test_every_truncation_and_extension_is_rejected(message: Message, wire: str) -> None:
    data = bytes.fromhex(wire)
    unknown = isinstance(message, UnknownLockEvent)  # its payload is "the rest"
    for cut in range(9 if unknown else len(data)):
        with pytest.raises(ProtocolError):
            _decode(message, data[:cut])
    if not unknown:
        with pytest.raises(MalformedMessageError):
            _decode(message, data + b"\x00")


def test_cases_cover_every_message_type() -> None:
    covered = {type(message) for message, _ in CASES}
    every = {*m.REQUEST_TYPES.values(), *m.RESPONSE_TYPES.values(), *m.EVENT_MESSAGES.values()}
    assert every | {ErrorResponse, UnknownLockEvent} <= covered


def test_a_new_key_is_not_in_repr_and_must_be_16_bytes() -> None:
    assert "3031" not in repr(m.RotateKeyRequest(3, 1, bytes(range(0x30, 0x40))))
    with pytest.raises(LocalProtocolError):
        m.RotateKeyRequest(3, 1, b"short")
    with pytest.raises(LocalProtocolError):
        m.RotateKeyRequest(3, 0, bytes(16))  # rotation 0 is reserved


def test_pin_is_not_in_repr() -> None:
    assert "482913" not in repr(PutCodeRequest(1, 1, "482913", "Alice"))
    assert "482913" not in repr(CodeEntry(1, "482913", "Alice"))


def test_unknown_enum_values_decode_to_unknown() -> None:
    assert decode_from_lock(bytes.fromhex("82 0200 00 09")) == LockResponse(2, BoltState.UNKNOWN)
    error = decode_from_lock(bytes.fromhex("85 0500 77"))
    assert error == ErrorResponse(5, 5, ErrorCode.UNKNOWN)
    assert not error.ok


def test_device_info_round_trip() -> None:
    info = DeviceInfo.default()
    assert DeviceInfo.from_bytes(bytes(info)) == info
    assert bytes(info)[:5] == bytes.fromhex("02 00000000")


# (constructor, expected error code): invalid values are refused before they reach the air.
INVALID = [
    (lambda: PutCodeRequest(1, 1, "123", "x"), ErrorCode.BAD_PIN),
    (lambda: PutCodeRequest(1, 1, "123456789", "x"), ErrorCode.BAD_PIN),
    (lambda: PutCodeRequest(1, 1, "12a4", "x"), ErrorCode.BAD_PIN),
    (lambda: PutCodeRequest(1, 1, "١٢٣٤", "x"), ErrorCode.BAD_PIN),  # Arabic-Indic digits
    (lambda: PutCodeRequest(1, 1, "1234", "x" * 15), ErrorCode.INVALID_NAME),
    (lambda: PutCodeRequest(1, 1, "1234", "tab\there"), ErrorCode.INVALID_NAME),
    (lambda: PutCodeRequest(1, 1, "1234", "x", T), ErrorCode.INVALID_SCHEDULE),
    (lambda: PutCodeRequest(1, 1, "1234", "x", None, T), ErrorCode.INVALID_SCHEDULE),
    (lambda: PutCodeRequest(1, 1, "1234", "x", T, T), ErrorCode.INVALID_SCHEDULE),
    (lambda: PutCodeRequest(1, 70000, "1234", "x"), ErrorCode.MALFORMED),
    (lambda: PutCodeRequest(1, 1, "1234", "x", 0, 5), ErrorCode.MALFORMED),  # 0 = absent
    (lambda: DeleteCodeRequest(1, ANY_SLOT), ErrorCode.INVALID_SLOT),
    (lambda: SetTimeRequest(1, T, "Not a zone!"), ErrorCode.INVALID_TIMEZONE),
    (lambda: SetTimeRequest(1, T, ""), ErrorCode.INVALID_TIMEZONE),
    (lambda: SetTimeRequest(1, T, "UTC", 24 * 60), ErrorCode.INVALID_TIME),
    (lambda: SetTimeRequest(1, -1, "UTC"), ErrorCode.MALFORMED),
    (lambda: StatusRequest(-1), ErrorCode.MALFORMED),
    (lambda: StatusRequest(65536), ErrorCode.MALFORMED),
    (lambda: ListCodesRequest(1, 0, 11), ErrorCode.MALFORMED),
    (lambda: ReadEventsRequest(1, 0, 0), ErrorCode.MALFORMED),
    (lambda: ErrorResponse(1, 5, ErrorCode.OK), ErrorCode.MALFORMED),
    (lambda: ErrorResponse(1, 0x40, ErrorCode.BUSY), ErrorCode.MALFORMED),
    (lambda: LockResponse(1, 1), ErrorCode.MALFORMED),  # type: ignore[arg-type]
    (lambda: BatteryEvent(1, T, 101, False), ErrorCode.MALFORMED),
    (lambda: m.GetSettingsResponse(1, 30, 101), ErrorCode.MALFORMED),
    (lambda: m.GetSettingsResponse(1, 0x10000), ErrorCode.MALFORMED),
    (lambda: IncorrectPinEvent(1, T, "12x"), ErrorCode.MALFORMED),
    (lambda: UnknownLockEvent(1, T, 0x41 + 0x40), ErrorCode.MALFORMED),
    (lambda: ListCodesResponse(1, (CodeEntry(1, "1234", "a"),) * 11), ErrorCode.MALFORMED),
]


@pytest.mark.parametrize(("build", "code"), INVALID)
def test_invalid_messages_are_refused_locally(build: object, code: ErrorCode) -> None:
    with pytest.raises(LocalProtocolError) as info:
        build()  # type: ignore[operator]
    assert info.value.error_code is code


# (raw request, error code the lock answers with): decoding keeps the reason.
BAD_REQUESTS = [
    ("3e 0700", ErrorCode.UNKNOWN_OPCODE, 7),
    (f"05 0800 0100 00 00000000 00000000 {_pin('313233')} {_name('')}", ErrorCode.BAD_PIN, 8),
    (f"05 0900 0100 00 00000000 00000000 {_pin('31323334')} {_name('41' * 15)}", ErrorCode.INVALID_NAME, 9),
    (f"05 0a00 0100 00 01000000 00000000 {_pin('31323334')} {_name('')}", ErrorCode.INVALID_SCHEDULE, 10),
    # Padding must be zero, and present: a short field is truncated.
    (f"05 0f00 0100 00 00000000 00000000 04 3132333401000000 {_name('')}", ErrorCode.BAD_PIN, 15),
    ("05 1000 0100 00 00000000 00000000 04 31323334 00", ErrorCode.MALFORMED, 16),
    ("05 0b00 0100 02 00000000 00000000 04 31323334 00", ErrorCode.MALFORMED, 11),
    ("04 0c00 00f15365 0000 03 a1b2c3", ErrorCode.INVALID_TIMEZONE, 12),  # not UTF-8
    ("04 0e00 00f153", ErrorCode.MALFORMED, 14),  # truncated
    ("01 0d00 00", ErrorCode.MALFORMED, 13),  # trailing byte
]


@pytest.mark.parametrize(("raw", "code", "request_id"), BAD_REQUESTS)
def test_bad_requests_carry_the_answer(raw: str, code: ErrorCode, request_id: int) -> None:
    with pytest.raises(MalformedMessageError) as info:
        decode_request(bytes.fromhex(raw))
    assert info.value.error_code is code
    assert info.value.request_id == request_id


# ---------------------------------------------------------------- properties
_digits = st.text(alphabet="0123456789", min_size=4, max_size=8)
_names = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x2FFF, exclude_categories=("Cs",)),
    max_size=14,
)
_u16 = st.integers(0, 0xFFFF)
_u32 = st.integers(0, 0xFFFF_FFFF)
_time = st.integers(1, 0xFFFF_FFFE)


@st.composite
def _window(draw: st.DrawFn) -> tuple[int | None, int | None]:
    if draw(st.booleans()):
        return None, None
    start = draw(st.integers(1, 0xFFFF_FFF0))
    return start, draw(st.integers(start + 1, 0xFFFF_FFFF))


@st.composite
def _code_entry(draw: st.DrawFn) -> CodeEntry:
    start, end = draw(_window())
    return CodeEntry(draw(_u16), draw(_digits), draw(_names), start, end)


@st.composite
def _put_code(draw: st.DrawFn) -> PutCodeRequest:
    start, end = draw(_window())
    return PutCodeRequest(
        draw(_u16), draw(_u16), draw(_digits), draw(_names), start, end, draw(st.booleans())
    )


def _enum(cls: type) -> st.SearchStrategy[object]:
    return st.sampled_from(list(cls))


_opt_slot = st.none() | st.integers(0, 0xFFFE)
_tz = st.sampled_from(["UTC", "Europe/Paris", "America/Argentina/Buenos_Aires", "Etc/GMT+5"])

events: st.SearchStrategy[LockEvent] = st.one_of(
    st.builds(LockedEvent, _u32, _u32, _enum(Source), _opt_slot),
    st.builds(UnlockedEvent, _u32, _u32, _enum(Source), _opt_slot),
    st.builds(IncorrectPinEvent, _u32, _u32, st.text(alphabet="0123456789", max_size=16)),
    st.builds(BoltFaultEvent, _u32, _u32, _enum(BoltFault), _enum(BoltAction), _enum(Source)),
    st.builds(BatteryEvent, _u32, _u32, st.integers(0, 100), st.booleans()),
    st.builds(DoorEvent, _u32, _u32, _enum(DoorState)),
    st.builds(TamperEvent, _u32, _u32, _enum(TamperKind)),
    st.builds(UnknownLockEvent, _u32, _u32, st.integers(0x4A, 0x7E), st.binary(max_size=20)),
)
requests: st.SearchStrategy[Request] = st.one_of(
    st.builds(StatusRequest, _u16),
    st.builds(LockRequest, _u16),
    st.builds(UnlockRequest, _u16),
    st.builds(SetTimeRequest, _u16, _u32, _tz, st.integers(-1080, 1080)),
    _put_code(),
    st.builds(DeleteCodeRequest, _u16, st.integers(0, 0xFFFE)),
    st.builds(ListCodesRequest, _u16, _u16, st.integers(1, 10)),
    st.builds(ReadEventsRequest, _u16, _u32, st.integers(1, 16)),
)
responses = st.one_of(
    st.builds(
        StatusResponse,
        _u16,
        _enum(BoltState),
        _enum(DoorState),
        st.integers(0, 100),
        st.integers(-128, 127),
        _u32,
        _tz,
        st.integers(-1080, 1080),
        _u16,
        _u16,
        _u32,
    ),
    st.builds(LockResponse, _u16, _enum(BoltState)),
    st.builds(UnlockResponse, _u16, _enum(BoltState)),
    st.builds(SetTimeResponse, _u16),
    st.builds(PutCodeResponse, _u16, _u16),
    st.builds(DeleteCodeResponse, _u16, _u16),
    st.builds(ListCodesResponse, _u16, st.lists(_code_entry(), max_size=10).map(tuple), _opt_slot),
    st.builds(ReadEventsResponse, _u16, st.lists(events, max_size=16).map(tuple), _u32, _u32),
    st.builds(
        ErrorResponse,
        _u16,
        st.integers(0, 0x3F),
        st.sampled_from([c for c in ErrorCode if c is not ErrorCode.OK]),
    ),
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(requests)
def test_request_round_trip(request: Request) -> None:
    assert decode_request(bytes(request)) == request


@FAST
@given(st.one_of(responses, events))
def test_lock_message_round_trip(message: Message) -> None:
    assert decode_from_lock(bytes(message)) == message


@FAST
@given(st.binary(max_size=64))
def test_random_bytes_raise_only_protocol_errors(data: bytes) -> None:
    for decoder in (decode_request, decode_from_lock, decode_event, DeviceInfo.from_bytes):
        try:
            decoder(data)
        except ProtocolError:
            pass


@FAST
@given(st.one_of(requests, responses, events), st.data())
def test_mutated_messages_raise_only_protocol_errors(message: Message, data: st.DataObject) -> None:
    raw = bytearray(bytes(message))
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] = data.draw(st.integers(0, 255))
    for decoder in (decode_request, decode_from_lock):
        try:
            decoder(bytes(raw))
        except ProtocolError:
            pass


def test_from_bytes_on_the_base_classes() -> None:
    assert Request.from_bytes(bytes.fromhex("02 0200")) == LockRequest(2)
    assert Response.from_bytes(bytes.fromhex("82 0200 00 01")) == LockResponse(2, BoltState.LOCKED)
    event = TamperEvent(8, T, TamperKind.CASE_OPENED)
    assert LockEvent.from_bytes(bytes(event)) == event
    with pytest.raises(MalformedMessageError):
        Response.from_bytes(bytes(event))


@FAST
@given(
    st.integers(0, 255),
    st.integers(0, 0xFFFF_FFFF),
    st.text(max_size=8).filter(lambda t: "\x00" not in t),
    st.text(max_size=8).filter(lambda t: "\x00" not in t),
)
def test_device_info_round_trip_property(version: int, caps: int, model: str, fw: str) -> None:
    info = DeviceInfo(version, caps, model, fw)
    assert DeviceInfo.from_bytes(bytes(info)) == info


@pytest.mark.parametrize(
    ("wire", "error"),
    [
        # Extension version 2: refused as such, whatever follows.
        (f"0e 0700 0300 00 00000000 00000000 {_pin('31323334')} {_name('')} 02 04 55544330 01 01 0000 a005",
         ErrorCode.UNSUPPORTED_EXTENSION),
        # No window, an empty weekday set, a window ending before it starts, a window past midnight.
        (f"0e 0700 0300 00 00000000 00000000 {_pin('31323334')} {_name('')} 01 04 55544330 00",
         ErrorCode.INVALID_SCHEDULE),
        (f"0e 0700 0300 00 00000000 00000000 {_pin('31323334')} {_name('')} 01 04 55544330 01 00 0000 a005",
         ErrorCode.INVALID_SCHEDULE),
        (f"0e 0700 0300 00 00000000 00000000 {_pin('31323334')} {_name('')} 01 04 55544330 01 01 5802 5802",
         ErrorCode.INVALID_SCHEDULE),
        (f"0e 0700 0300 00 00000000 00000000 {_pin('31323334')} {_name('')} 01 04 55544330 01 01 0000 a105",
         ErrorCode.INVALID_SCHEDULE),
        # Bit 7 of the weekdays, and a rule that is not a POSIX TZ rule.
        (f"0e 0700 0300 00 00000000 00000000 {_pin('31323334')} {_name('')} 01 04 55544330 01 81 0000 a005",
         ErrorCode.INVALID_SCHEDULE),
        (f"0e 0700 0300 00 00000000 00000000 {_pin('31323334')} {_name('')} 01 03 555443 01 01 0000 a005",
         ErrorCode.INVALID_SCHEDULE),
        # Offline codes the scheme cannot issue: a one-time code of 23 hours, counter 4, kind 0.
        ("0d 0800 01 9e340700 b5340700 00", ErrorCode.INVALID_SCHEDULE),
        ("0d 0800 02 9e340700 a1340700 04", ErrorCode.INVALID_SCHEDULE),
        ("0d 0800 00 9e340700 a1340700 00", ErrorCode.INVALID_SCHEDULE),
        ("0d 0800 03 9e340700 a1340700 00", ErrorCode.INVALID_SCHEDULE),  # daily, 3 hours
        ("0c 0600 00000000 " + "ab" * 32, ErrorCode.MALFORMED),  # generation 0 is the factory's
    ],
)
def test_schedule_and_offline_refusals_carry_the_documented_error(wire: str, error: ErrorCode) -> None:
    with pytest.raises(MalformedMessageError) as caught:
        decode_request(bytes.fromhex(wire))
    assert caught.value.error_code is error
    assert caught.value.request_id is not None


def test_the_offline_secret_is_not_in_repr() -> None:
    assert "4041" not in repr(m.SetOfflineSecretRequest(6, 1, bytes(range(0x40, 0x60))))
