"""Test vectors for firmware engineers: ``python -m firmware_bridge.protocol.vectors``.

Runs a full session between a CentralConnection and a PeripheralConnection with
fixed nonces and prints every intermediate value. The output is pasted into
``docs/ble-protocol.md`` (a test checks that the two agree).
"""

from __future__ import annotations

import hashlib
import hmac
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import offline as _offline
from .connection import NEED_DATA, CentralConnection, PeripheralConnection
from .const import (
    CONFIRM_LABEL_BRIDGE,
    CONFIRM_LABEL_LOCK,
    DIRECTION_TO_BRIDGE,
    DIRECTION_TO_LOCK,
    HKDF_INFO,
    NO_KEYPAD_BATTERY,
    OFFLINE_CODE_LABEL,
    PROTOCOL_VERSION,
    STORAGE_KEY_INFO,
    AccessDenial,
    BoltAction,
    BoltFault,
    BoltState,
    Capability,
    DoorState,
    ErrorCode,
    OfflineKind,
    Opcode,
    Source,
    TamperKind,
)
from .crypto import (
    aead_nonce,
    confirm_tag,
    derive_session_keys,
    derive_storage_key,
    key_proof,
    versions,
)
from .framing import FrameDecoder, crc8, encode_frame
from .messages import (
    EVENT_MESSAGES,
    REQUEST_TYPES,
    RESPONSE_TYPES,
    AccessDeniedEvent,
    CodeEntry,
    CommitKeyRequest,
    CommitKeyResponse,
    DeviceInfo,
    ErrorResponse,
    FactoryResetRequest,
    FactoryResetResponse,
    GetCodeScheduleRequest,
    GetCodeScheduleResponse,
    GetSettingsRequest,
    GetSettingsResponse,
    IncorrectPinEvent,
    LockedEvent,
    Message,
    OfflineCodeUsedEvent,
    PutCodeRequest,
    PutScheduledCodeRequest,
    PutScheduledCodeResponse,
    RevokeOfflineCodeRequest,
    RevokeOfflineCodeResponse,
    RotateKeyRequest,
    RotateKeyResponse,
    SetOfflineSecretRequest,
    SetOfflineSecretResponse,
    StatusRequest,
    StatusResponse,
)
from .provisioning import Provision, provisioned_body
from .provisioning import proof as provision_proof
from .schedule import ScheduleWindow, TzRule, open_at

DEVICE_KEY = bytes(range(0x00, 0x10))
NONCE_BRIDGE = bytes(range(0x10, 0x20))
NONCE_LOCK = bytes(range(0x20, 0x30))
EPOCH = 1_700_000_000


def _fixed(value: bytes) -> Iterator[bytes]:
    while True:
        yield value


def _hex(data: bytes) -> str:
    return data.hex(" ")


def _chunks(label: str, chunks: list[bytes]) -> list[str]:
    return [f"{label} chunk {i}: {_hex(c)}" for i, c in enumerate(chunks)]


def lines() -> list[str]:
    """Every vector, one per line."""
    out = [
        "# CRC",
        f"CRC-8/SMBUS('123456789') = {crc8(b'123456789'):02x}",
        "frame(body=01) = " + _hex(encode_frame(bytes((1,)))),
        "",
        "# Inputs",
        f"device_key   = {_hex(DEVICE_KEY)}",
        f"nonce_bridge = {_hex(NONCE_BRIDGE)}",
        f"nonce_lock   = {_hex(NONCE_LOCK)}",
    ]
    transcript = versions(PROTOCOL_VERSION, PROTOCOL_VERSION)
    keys = derive_session_keys(DEVICE_KEY, NONCE_BRIDGE, NONCE_LOCK, transcript)
    out += [
        "",
        f"# Key schedule (HELLO and CHALLENGE both version {PROTOCOL_VERSION})",
        f"T (versions)   = {_hex(transcript)}",
        f"hkdf info      = {_hex(HKDF_INFO + transcript)}",
        f"session_key    = {_hex(keys.session_key)}",
        f"confirm_key    = {_hex(keys.confirm_key)}",
        f"session_id     = {_hex(keys.session_id)}",
        "confirm_lock   = "
        + _hex(confirm_tag(keys.confirm_key, CONFIRM_LABEL_LOCK, NONCE_BRIDGE, NONCE_LOCK, transcript)),
        "confirm_bridge = "
        + _hex(confirm_tag(keys.confirm_key, CONFIRM_LABEL_BRIDGE, NONCE_BRIDGE, NONCE_LOCK, transcript)),
    ]
    newer = versions(PROTOCOL_VERSION + 1, PROTOCOL_VERSION)
    newer_keys = derive_session_keys(DEVICE_KEY, NONCE_BRIDGE, NONCE_LOCK, newer)
    out += [
        "",
        f"# Key schedule when HELLO says {PROTOCOL_VERSION + 1} and the lock answers {PROTOCOL_VERSION}",
        f"T (versions)   = {_hex(newer)}",
        f"session_id     = {_hex(newer_keys.session_id)}",
        "confirm_lock   = "
        + _hex(confirm_tag(newer_keys.confirm_key, CONFIRM_LABEL_LOCK, NONCE_BRIDGE, NONCE_LOCK, newer)),
        "",
        "# Lock storage key (purpose \"state\")",
        f"info           = {_hex(STORAGE_KEY_INFO + b' state')}",
        f"storage_key    = {_hex(derive_storage_key(DEVICE_KEY, b'state'))}",
    ]

    bridge_rand, lock_rand = _fixed(NONCE_BRIDGE), _fixed(NONCE_LOCK)
    central = CentralConnection(DEVICE_KEY, randbytes=lambda n: next(bridge_rand)[:n])
    lock = PeripheralConnection(DEVICE_KEY, randbytes=lambda n: next(lock_rand)[:n])

    hello = central.start_handshake()
    out += ["", "# Handshake (ATT MTU 23: 20-byte chunks)"] + _chunks("HELLO", hello)
    for chunk in hello:
        lock.receive_data(chunk)
    assert lock.next_event() is NEED_DATA
    challenge = lock.data_to_send()
    out += _chunks("CHALLENGE", challenge)
    for chunk in challenge:
        central.receive_data(chunk)
    central.next_event()
    confirm = central.data_to_send()
    out += _chunks("CONFIRM", confirm)
    for chunk in confirm:
        lock.receive_data(chunk)
    lock.next_event()

    def record(
        label: str, message: Message, direction: int, counter: int, chunks: list[bytes]
    ) -> None:
        decoder = FrameDecoder()
        decoder.feed(b"".join(chunks))
        record_body = decoder.next_frame() or b""
        out.extend(
            [
                "",
                f"# {label}: {message!r}",
                f"plaintext = {_hex(bytes(message))}",
                f"nonce     = {_hex(aead_nonce(direction, keys.session_id, counter))}",
                f"aad       = {_hex(record_body[:5])}",
                f"ct || tag = {_hex(record_body[5:])}",
            ]
        )
        out.extend(_chunks("frame", chunks))

    request = StatusRequest(1)
    record("bridge -> lock, counter 1", request, DIRECTION_TO_LOCK, 1, central.send(request))
    response = StatusResponse(
        1, BoltState.LOCKED, DoorState.CLOSED, 87, -60, EPOCH, "Europe/Paris", 60, 2, 250, 42
    )
    record("lock -> bridge, counter 1", response, DIRECTION_TO_BRIDGE, 1, lock.send(response))
    event = LockedEvent(43, EPOCH, Source.KEYPAD, 3)
    record("lock -> bridge, counter 2", event, DIRECTION_TO_BRIDGE, 2, lock.send(event))
    central.set_mtu(64)
    put = PutCodeRequest(2, 3, "482913", "Alice", EPOCH, EPOCH + 86400)
    record("bridge -> lock, counter 2, ATT MTU 64", put, DIRECTION_TO_LOCK, 2, central.send(put))
    lock.set_mtu(64)
    wrong = IncorrectPinEvent(44, EPOCH + 60, "1234")
    record("lock -> bridge, counter 3, ATT MTU 64", wrong, DIRECTION_TO_BRIDGE, 3, lock.send(wrong))
    return out


def _table(title: str, header: list[tuple[str, int, str]], layout: Any) -> list[str]:
    out = [f"**{title}**", "", "| offset | size | field | encoding |", "|---|---|---|---|"]
    offset: int | None = 0
    for name, size, doc in header:
        out.append(f"| {offset} | {size} | {name} | {doc} |")
        offset = None if offset is None else offset + size
    for name, codec in layout:
        width = "var" if codec.size is None else str(codec.size)
        where = "var" if offset is None else str(offset)
        out.append(f"| {where} | {width} | {name} | {codec.doc} |")
        offset = None if offset is None or codec.size is None else offset + codec.size
    return out + [""]


def layout_tables() -> list[str]:
    """Markdown tables of every message layout, generated from the codecs."""
    req = [("opcode", 1, "u8"), ("request_id", 2, "u16 LE")]
    resp = [("opcode", 1, "u8, request opcode OR 0x80"), ("request_id", 2, "u16 LE")]
    resp.append(("status", 1, "u8 ErrorCode, 0x00 = OK"))
    event = [("event_type", 1, "u8"), ("seq", 4, "u32 LE"), ("timestamp", 4, "u32 LE")]
    out: list[str] = []
    for opcode, cls in REQUEST_TYPES.items():
        out += _table(f"{cls.__name__} (opcode 0x{opcode:02x})", req, cls._LAYOUT)
    for opcode, rcls in RESPONSE_TYPES.items():
        out += _table(f"{rcls.__name__} (opcode 0x{opcode | 0x80:02x})", resp, rcls._LAYOUT)
    error = resp[:2] + [("status", 1, "u8 ErrorCode, never 0x00; no body follows")]
    out += _table("ErrorResponse (any request's answer when status != 0)", error, ())
    for etype, ecls in EVENT_MESSAGES.items():
        out += _table(f"{ecls.__name__} (event_type 0x{etype:02x})", event, ecls._LAYOUT)
    out += _table("CodeEntry (inside ListCodesResponse)", [], CodeEntry._LAYOUT)
    out += _table("DeviceInfo (value of the info characteristic)", [], DeviceInfo._LAYOUT)
    for enum in (ErrorCode, BoltState, DoorState, Source, BoltFault, BoltAction, TamperKind, OfflineKind,
                 AccessDenial):
        out += [f"**{enum.__name__}** (u8)", "", "| value | name |", "|---|---|"]
        out += [f"| 0x{member.value:02x} | {member.name} |" for member in enum]
        out.append("")
    out += ["**Capability** (u32 bit mask)", "", "| bit | name |", "|---|---|"]
    out += [f"| 0x{cap.value:04x} | {cap.name} |" for cap in Capability]
    return out


_MARK = "<!-- BEGIN GENERATED: python -m firmware_bridge.protocol.vectors{} -->"
_END = "<!-- END GENERATED -->"


NEW_KEY = bytes(range(0x30, 0x40))
ROTATION_ID = 1


def rotation_lines() -> list[str]:
    """Key rotation and factory reset: plaintexts, the key proof, and one sealed ROTATE_KEY."""
    rotate = RotateKeyRequest(3, ROTATION_ID, NEW_KEY)
    proof = key_proof(NEW_KEY, ROTATION_ID)
    out = [
        "# Inputs (session of section 11: device_key 00..0f, Nb 10..1f, Nl 20..2f)",
        f"new_key     = {_hex(NEW_KEY)}",
        f"rotation_id = {ROTATION_ID}",
        "",
        "# Messages (plaintext of the secure record)",
        f"ROTATE_KEY request   = {_hex(bytes(rotate))}",
        f"key_proof            = {_hex(proof)}",
        f"ROTATE_KEY response  = {_hex(bytes(RotateKeyResponse(3, ROTATION_ID, proof)))}",
        f"COMMIT_KEY request   = {_hex(bytes(CommitKeyRequest(4, ROTATION_ID)))}",
        f"COMMIT_KEY response  = {_hex(bytes(CommitKeyResponse(4, ROTATION_ID)))}",
        "COMMIT_KEY refused   = "
        + _hex(bytes(ErrorResponse(4, int(Opcode.COMMIT_KEY), ErrorCode.NO_PENDING_KEY))),
        f"FACTORY_RESET request  = {_hex(bytes(FactoryResetRequest(5)))}",
        f"FACTORY_RESET response = {_hex(bytes(FactoryResetResponse(5)))}",
        "FACTORY_RESET refused  = "
        + _hex(bytes(ErrorResponse(5, int(Opcode.FACTORY_RESET), ErrorCode.PRESENCE_REQUIRED))),
    ]
    keys = derive_session_keys(DEVICE_KEY, NONCE_BRIDGE, NONCE_LOCK)
    bridge_rand, lock_rand = _fixed(NONCE_BRIDGE), _fixed(NONCE_LOCK)
    central = CentralConnection(DEVICE_KEY, randbytes=lambda n: next(bridge_rand)[:n])
    lock = PeripheralConnection(DEVICE_KEY, randbytes=lambda n: next(lock_rand)[:n])
    for chunk in central.start_handshake():
        lock.receive_data(chunk)
    lock.next_event()
    for chunk in lock.data_to_send():
        central.receive_data(chunk)
    central.next_event()
    for chunk in central.data_to_send():
        lock.receive_data(chunk)
    lock.next_event()
    decoder = FrameDecoder()
    decoder.feed(b"".join(central.send(rotate)))
    body = decoder.next_frame() or b""
    new_keys = derive_session_keys(NEW_KEY, NONCE_BRIDGE, NONCE_LOCK)
    out += [
        "",
        "# ROTATE_KEY sealed as the first bridge -> lock record (counter 1)",
        f"nonce     = {_hex(aead_nonce(DIRECTION_TO_LOCK, keys.session_id, 1))}",
        f"aad       = {_hex(body[:5])}",
        f"ct || tag = {_hex(body[5:])}",
        "",
        "# After COMMIT_KEY: the same HELLO nonces answered under the new key",
        "confirm_lock (new key) = "
        + _hex(confirm_tag(new_keys.confirm_key, CONFIRM_LABEL_LOCK, NONCE_BRIDGE, NONCE_LOCK)),
        "confirm_lock (old key) = "
        + _hex(confirm_tag(keys.confirm_key, CONFIRM_LABEL_LOCK, NONCE_BRIDGE, NONCE_LOCK)),
    ]
    provision = Provision(DEVICE_KEY, bytes(range(0x40, 0x60)), "HALO-000042")
    out += [
        "",
        "# PROVISION (factory mode; device_key 00..0f, offline secret 40..5f, serial HALO-000042)",
        f"PROVISION body   = {_hex(provision.body())}",
        *_chunks("PROVISION (ATT MTU 23)", CentralConnection(bytes(16)).provision(provision)),
        f"proof            = {_hex(provision_proof(DEVICE_KEY, provision.serial))}",
        "PROVISIONED body = "
        + _hex(provisioned_body(ErrorCode.OK, provision_proof(DEVICE_KEY, provision.serial))),
        f"refused (again)  = {_hex(provisioned_body(ErrorCode.FACTORY_LOCKED))}",
    ]
    return out


OFFLINE_SECRET = bytes(range(0x40, 0x60))
#: 2023-11-14 22:00 UTC, the hour of EPOCH.
OFFLINE_START_HOUR = EPOCH // 3600


def _rejected_example() -> _offline.OfflineCode:
    """The first hourly 1-hour code from OFFLINE_START_HOUR on whose first chunk is rejected."""
    start = OFFLINE_START_HOUR
    while True:
        code = _offline.OfflineCode(OfflineKind.HOURLY, start, start + 1, 0)
        digest = hmac.new(OFFLINE_SECRET, _offline.code_message(code, 0), hashlib.sha256).digest()
        if int.from_bytes(digest[:4], "little") >= _offline._LIMIT:
            return code
        start += 1


def _code_lines(code: _offline.OfflineCode) -> list[str]:
    digest = hmac.new(OFFLINE_SECRET, _offline.code_message(code, 0), hashlib.sha256).digest()
    chunks = [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 32, 4)]
    accepted = next(i for i, c in enumerate(chunks) if c < _offline._LIMIT)
    q = _offline.secret_value(OFFLINE_SECRET, code)
    return [
        f"code      = {code.kind.name} start_hour {code.start_hour} end_hour {code.end_hour} "
        f"counter {code.counter}",
        f"message   = {_hex(_offline.code_message(code, 0))}",
        f"block 0   = {_hex(digest)}",
        "chunks    = " + " ".join(str(c) for c in chunks),
        f"accepted  = chunk {accepted} ({chunks[accepted]} < {_offline._LIMIT})",
        f"q         = {chunks[accepted]} mod {_offline.Q} = {q}",
        f"header    = {code.header}",
        f"PIN       = {q} * {_offline.HEADERS} + {code.header} = {_offline.derive_pin(OFFLINE_SECRET, code)}",
    ]


def offline_lines() -> list[str]:
    """The offline-code scheme, its messages, TZ rules and schedules."""
    hourly = _offline.OfflineCode(OfflineKind.HOURLY, OFFLINE_START_HOUR, OFFLINE_START_HOUR + 3, 0)
    daily = _offline.OfflineCode(OfflineKind.DAILY, OFFLINE_START_HOUR, OFFLINE_START_HOUR + 30 * 24, 1)
    one_time = _offline.OfflineCode(OfflineKind.ONE_TIME, OFFLINE_START_HOUR, OFFLINE_START_HOUR + 24, 2)
    out = [
        f"# Inputs: offline secret {_hex(OFFLINE_SECRET[:4])} .. {_hex(OFFLINE_SECRET[-4:])} (bytes 40..5f)",
        f"label = {_hex(OFFLINE_CODE_LABEL)}",
        f"Q = {_offline.Q}, HEADERS = {_offline.HEADERS}, bound = {_offline._LIMIT}",
    ]
    for title, code in (("Hourly, 3 hours", hourly), ("Daily, 30 days", daily), ("One-time", one_time),
                        ("A first chunk above the bound (rejected)", _rejected_example())):
        out += ["", f"# {title}", *_code_lines(code)]
    proof = _offline.secret_proof(OFFLINE_SECRET, 1)
    rule = "PST8PDT,M3.2.0,M11.1.0"
    window = ScheduleWindow(0x1F, 9 * 60, 17 * 60 + 30)
    put = PutScheduledCodeRequest(7, 3, "482913", "Cleaner", None, None, False, rule, (window,))
    out += [
        "",
        "# Messages (plaintext of the secure record)",
        f"SET_OFFLINE_SECRET request  = {_hex(bytes(SetOfflineSecretRequest(6, 1, OFFLINE_SECRET)))}",
        f"secret proof (generation 1) = {_hex(proof)}",
        f"SET_OFFLINE_SECRET response = {_hex(bytes(SetOfflineSecretResponse(6, 1, proof)))}",
        f"REVOKE_OFFLINE_CODE request  = {_hex(bytes(RevokeOfflineCodeRequest(8, *_fields(daily))))}",
        f"REVOKE_OFFLINE_CODE response = {_hex(bytes(RevokeOfflineCodeResponse(8, 63)))}",
        "REVOKE_OFFLINE_CODE refused  = "
        + _hex(bytes(ErrorResponse(8, int(Opcode.REVOKE_OFFLINE_CODE), ErrorCode.OFFLINE_TABLE_FULL))),
        f"PUT_SCHEDULED_CODE request  = {_hex(bytes(put))}",
        f"PUT_SCHEDULED_CODE response = {_hex(bytes(PutScheduledCodeResponse(7, 3)))}",
        "PUT_SCHEDULED_CODE refused (extension 2) = "
        + _hex(bytes(ErrorResponse(7, int(Opcode.PUT_SCHEDULED_CODE), ErrorCode.UNSUPPORTED_EXTENSION))),
        f"GET_CODE_SCHEDULE request  = {_hex(bytes(GetCodeScheduleRequest(9, 3)))}",
        f"GET_CODE_SCHEDULE response = {_hex(bytes(GetCodeScheduleResponse(9, 3, rule, (window,))))}",
        "OfflineCodeUsedEvent = "
        + _hex(bytes(OfflineCodeUsedEvent(45, EPOCH + 120, 1, *_fields(hourly)))),
        "AccessDeniedEvent (online, outside schedule) = "
        + _hex(bytes(AccessDeniedEvent(46, EPOCH + 180, AccessDenial.OUTSIDE_SCHEDULE, 3))),
        "AccessDeniedEvent (offline, already used)    = "
        + _hex(bytes(AccessDeniedEvent(47, EPOCH + 240, AccessDenial.ALREADY_USED, None, 1,
                                       *_fields(one_time)))),
        "",
        f"# TZ rule {rule}: 2026 transitions (UTC) and local wall clock",
    ]
    parsed = TzRule.parse(rule)
    start, end = parsed._transitions(2026)
    out += [
        f"DST starts 2026 = {start}  (2026-03-08 10:00 UTC, 02:00 PST -> 03:00 PDT)",
        f"DST ends   2026 = {end}  (2026-11-01 09:00 UTC, 02:00 PDT -> 01:00 PST)",
    ]
    for t in (start - 1, start, end - 1, end):
        out.append(f"utc_offset({t}) = {parsed.utc_offset(t)}")
    out += ["", "# Schedule: Monday-Friday (weekdays 0x1f) 09:00-17:30 in " + rule]
    monday = 1_773_072_000  # 2026-03-09 16:00 UTC = Monday 09:00 PDT
    for t, what in ((monday - 60, "Monday 08:59 PDT"), (monday, "Monday 09:00 PDT"),
                    (monday + 30600 - 60, "Monday 17:29 PDT"), (monday + 30600, "Monday 17:30 PDT"),
                    (monday - 2 * 86400, "Saturday 08:00 PST")):
        out.append(f"open_at({t}) = {int(open_at((window,), parsed, t))}  ({what})")
    return out


def settings_lines() -> list[str]:
    """GET_SETTINGS (section 20): plaintexts of the secure record."""
    return [
        "# Messages (plaintext of the secure record)",
        f"GET_SETTINGS request                   = {_hex(bytes(GetSettingsRequest(5)))}",
        "GET_SETTINGS response (auto-lock 30 s, no keypad battery, serial HALO-000042)",
        f"                                       = {_hex(bytes(GetSettingsResponse(5, 30, NO_KEYPAD_BATTERY, 'HALO-000042')))}",
        "GET_SETTINGS response (auto-lock off, keypad battery 80 %, no serial)",
        f"                                       = {_hex(bytes(GetSettingsResponse(6, 0, 80)))}",
        f"GET_SETTINGS refused by an older lock  = {_hex(bytes(ErrorResponse(7, 0x10, ErrorCode.UNKNOWN_OPCODE)))}",
    ]


def _fields(code: _offline.OfflineCode) -> tuple[OfflineKind, int, int, int]:
    return code.kind, code.start_hour, code.end_hour, code.counter


def render_doc(text: str) -> str:
    """``text`` with its generated sections (tables, vectors) brought up to date."""
    for flag, body in (
        (" --tables", "\n".join(layout_tables())),
        (" --rotation", "```text\n" + "\n".join(rotation_lines()) + "\n```"),
        (" --offline", "```text\n" + "\n".join(offline_lines()) + "\n```"),
        (" --settings", "```text\n" + "\n".join(settings_lines()) + "\n```"),
        ("", "```text\n" + "\n".join(lines()) + "\n```"),
    ):
        begin = _MARK.format(flag)
        head, found, rest = text.partition(begin)
        if not found:
            continue
        _, _, tail = rest.partition(_END)
        text = f"{head}{begin}\n{body}\n{_END}{tail}"
    return text


def main(argv: list[str] | None = None) -> None:
    """Print the vectors; ``--tables``: the layout tables; ``--update-doc PATH``: rewrite PATH."""
    args = sys.argv[1:] if argv is None else argv
    if "--update-doc" in args:
        path = Path(args[args.index("--update-doc") + 1])
        path.write_text(render_doc(path.read_text(encoding="utf-8")), encoding="utf-8")
        return
    if "--rotation" in args:
        print("\n".join(rotation_lines()))
        return
    if "--offline" in args:
        print("\n".join(offline_lines()))
        return
    if "--settings" in args:
        print("\n".join(settings_lines()))
        return
    print("\n".join(layout_tables() if "--tables" in args else lines()))


if __name__ == "__main__":
    main()
