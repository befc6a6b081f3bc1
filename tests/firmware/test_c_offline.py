"""Offline codes and weekly schedules (sections 17-19) on the C lock, against the Python lock.

The same scenario runs on both engines (same clock, nonces and requests); the
bridge must decode exactly the same answers and events from each. The TZ rule
parser and its evaluation are also compared directly on many rules and instants.
"""

from __future__ import annotations

from typing import Any

import pytest

from firmware_bridge.protocol import (
    DeleteCodeRequest,
    GetCodeScheduleRequest,
    OfflineKind,
    PutCodeRequest,
    PutScheduledCodeRequest,
    ReadEventsRequest,
    RevokeOfflineCodeRequest,
    SetOfflineSecretRequest,
    SetTimeRequest,
    StatusRequest,
)
from firmware_bridge.protocol.errors import ProtocolError
from firmware_bridge.protocol.offline import OfflineCode, derive_pin
from firmware_bridge.protocol.schedule import ScheduleWindow, TzRule
from firmware_bridge.protocol.vectors import EPOCH
from tests.firmware.engine import require_c_engine
from tests.firmware.test_c_messages import Step, _run

SECRET = bytes(range(0x40, 0x60))
OTHER = bytes(range(0x60, 0x80))
HOUR = EPOCH // 3600  # 472222: the vectors' start hour
PST = "PST8PDT,M3.2.0,M11.1.0"
WORKDAYS = (ScheduleWindow(0x1F, 540, 1050),)


@pytest.fixture(scope="module", autouse=True)
def c_engine():
    require_c_engine()


def _pin(kind: OfflineKind, start: int, hours: int, counter: int = 0, secret: bytes = SECRET) -> str:
    return derive_pin(secret, OfflineCode(kind, start, start + hours, counter))


def _type(pin: str) -> Step:
    return ("do", lambda lock: lock.enter_pin(pin))


def _advance(seconds: float) -> Step:
    def step(lock: Any) -> None:
        lock.time_source.now += seconds
    return ("do", step)


def _revoke(rid: int, kind: int, start: int, end: int, counter: int = 0) -> bytes:
    return (bytes([0x0D]) + rid.to_bytes(2, "little") + bytes([kind]) + start.to_bytes(4, "little")
            + end.to_bytes(4, "little") + bytes([counter]))


def _events(rid: int) -> Step:
    return ("req", bytes(ReadEventsRequest(rid, 0, 16)))


def _compare(steps: list[Step], **kwargs: Any) -> list[bytes]:
    expected = _run("python", steps, **kwargs)
    assert expected
    assert _run("c", steps, **kwargs) == expected
    return expected


def test_offline_codes_accept_consume_activate_and_revoke_like_the_python_lock() -> None:
    one_time = _pin(OfflineKind.ONE_TIME, HOUR, 24, 2)
    hourly = _pin(OfflineKind.HOURLY, HOUR, 3)
    daily = _pin(OfflineKind.DAILY, HOUR, 24 * 30, 1)
    later = _pin(OfflineKind.HOURLY, HOUR + 2, 5)  # starts in 2 hours
    steps: list[Step] = [
        ("req", _revoke(1, 1, HOUR, HOUR + 24)),  # NO_OFFLINE_SECRET
        _type(hourly),  # no secret: a miss
        ("req", bytes(SetOfflineSecretRequest(2, 1, SECRET))),
        _type(hourly),  # accepted, not remembered
        _type(one_time),  # accepted, consumed
        _type(one_time),  # ALREADY_USED
        _type(daily),  # accepted, activated
        _type(daily),  # accepted again from the table
        _type(later),  # not yet: a miss
        _advance(2 * 3600 - 299),  # within the tolerance before its start
        _type(later),
        _events(3),
        ("req", bytes(RevokeOfflineCodeRequest(4, OfflineKind.DAILY, HOUR, HOUR + 720, 1))),
        ("req", bytes(RevokeOfflineCodeRequest(5, OfflineKind.DAILY, HOUR, HOUR + 720, 1))),  # idempotent
        _type(daily),  # REVOKED
        ("req", bytes(RevokeOfflineCodeRequest(6, OfflineKind.HOURLY, HOUR - 10, HOUR - 5, 0))),  # over: nothing kept
        ("req", _revoke(7, 0, HOUR, HOUR + 24)),  # kind NONE: INVALID_SCHEDULE
        ("req", _revoke(8, 1, HOUR, HOUR + 23)),  # a one-time code lasts 24 h
        ("req", _revoke(9, 2, HOUR, HOUR + 3, 4)),  # counter 0..3
        ("req", _revoke(10, 3, HOUR, HOUR + 25)),  # whole days
        ("req", _revoke(11, 2, 0, 3)),  # start 0
        ("req", _revoke(12, 9, HOUR, HOUR + 3)),  # unknown kind
        ("req", _revoke(13, 2, HOUR, HOUR + 3) + b"\x00"),
        ("req", _revoke(14, 2, HOUR, HOUR + 3)[:-1]),
        ("req", bytes(SetOfflineSecretRequest(15, 1, SECRET))),  # again: same proof, table kept
        _type(one_time),  # still ALREADY_USED
        ("req", bytes([0x0C, 16, 0, 0, 0, 0, 0]) + SECRET),  # generation 0: MALFORMED
        ("req", bytes([0x0C, 17, 0, 1, 0, 0, 0]) + SECRET[:-1]),
        ("req", bytes(SetOfflineSecretRequest(18, 2, OTHER))),  # a new secret: the table is forgotten
        _type(one_time),  # an old secret's code: a miss
        _type(_pin(OfflineKind.ONE_TIME, HOUR + 2, 24, 0, OTHER)),
        _events(19),
        ("req", bytes(StatusRequest(20))),
    ]
    _compare(steps)


def test_the_miss_count_refuses_ten_digit_entries_and_decays_like_the_python_lock() -> None:
    good = _pin(OfflineKind.HOURLY, HOUR, 48)
    wrong = iter(f"{1234567890 + i:010d}" for i in range(20))
    steps: list[Step] = [("req", bytes(SetOfflineSecretRequest(1, 1, SECRET)))]
    steps += [_type(next(wrong)) for _ in range(4)]
    for lockout in (60, 120, 240, 480, 900):  # each further miss locks the keypad: wait it out
        steps += [_type(next(wrong)), _advance(lockout + 1)]
    steps += [
        _type(next(wrong)),  # the tenth miss (45 minutes after the first)
        _advance(901),
        _type(good),  # refused unchecked: IncorrectPin
        _advance(901),  # an hour after the first miss: one is forgotten
        _type(good),  # accepted (and a correct PIN does not reset the miss count)
        _type(next(wrong)),  # back at the limit
        _type(good),
        _events(2),
        ("req", bytes(ReadEventsRequest(3, 16, 16))),
    ]
    assert sum(1 for m in _compare(steps) if m[:1] == b"\x48") >= 1


def test_a_full_offline_table_refuses_like_the_python_lock() -> None:
    steps: list[Step] = [("req", bytes(SetOfflineSecretRequest(1, 1, SECRET)))]
    for i in range(64):
        steps.append(("req", bytes(RevokeOfflineCodeRequest(2 + i, OfflineKind.HOURLY, HOUR + i // 4, HOUR + i // 4
                                                            + 100, i % 4))))
    steps += [
        ("req", bytes(RevokeOfflineCodeRequest(70, OfflineKind.HOURLY, HOUR + 30, HOUR + 130, 0))),  # OFFLINE_TABLE_FULL
        _type(_pin(OfflineKind.ONE_TIME, HOUR, 24)),  # TABLE_FULL: no room to record its use
        _type(_pin(OfflineKind.HOURLY, HOUR, 3, 3)),  # short codes need no entry
        _advance(125 * 3600),  # every revocation is over: pruned
        ("req", bytes(RevokeOfflineCodeRequest(71, OfflineKind.HOURLY, HOUR + 200, HOUR + 300, 0))),
        _events(72),
    ]
    _compare(steps)


def _scheduled(rid: int, slot: int, pin: str, rule: str = PST, windows=WORKDAYS, **kw: Any) -> bytes:
    return bytes(PutScheduledCodeRequest(rid, slot, pin, kw.pop("name", ""), tz_rule=rule, windows=windows, **kw))


def _raw_scheduled(rid: int, slot: int, pin: str, tail: bytes) -> bytes:
    body = bytes(PutCodeRequest(rid, slot, "9999"))[1:].replace(b"\x049999", bytes([len(pin)]) + pin.encode())
    return bytes([0x0E]) + body + tail


def _tail(rule: bytes = PST.encode(), windows: list[tuple[int, int, int]] | None = None, ext: int = 1,
          count: int | None = None) -> bytes:
    windows = [(0x1F, 540, 1050)] if windows is None else windows
    body = b"".join(bytes([d]) + s.to_bytes(2, "little") + e.to_bytes(2, "little") for d, s, e in windows)
    return bytes([ext, len(rule)]) + rule + bytes([len(windows) if count is None else count]) + body


def _set_time(rid: int, epoch: int) -> Step:
    return ("req", bytes(SetTimeRequest(rid, epoch, "America/Los_Angeles", -420)))


def test_weekly_schedules_open_and_refuse_like_the_python_lock() -> None:
    steps: list[Step] = [
        ("req", _scheduled(1, 3, "482913", name="Cleaner")),
        ("req", _scheduled(2, 3, "482913", name="Cleaner")),  # idempotent
        ("req", _scheduled(3, 3, "482913", windows=(ScheduleWindow(0x60, 0, 1440),))),  # SLOT_OCCUPIED
        ("req", bytes(GetCodeScheduleRequest(4, 3))),
        _set_time(5, 1773071940),  # Monday 08:59 PDT
        _type("482913"),  # OUTSIDE_SCHEDULE
        _set_time(6, 1773072000),  # Monday 09:00 PDT
        _type("482913"),
        _set_time(7, 1773102600),  # Monday 17:30 PDT
        _type("482913"),
        _set_time(8, 1772899200),  # Saturday 08:00 PST
        _type("482913"),
        ("req", _scheduled(9, 4, "1234", "CET-1CEST,M3.5.0,M10.5.0/3",
                           (ScheduleWindow(0x20, 0, 600), ScheduleWindow(0x20, 900, 1440)))),
        _type("1234"),  # Saturday 17:00 CET: the second window
        ("req", bytes(PutCodeRequest(10, 3, "482913", "Cleaner", replace=True))),  # plain: schedule gone
        ("req", bytes(GetCodeScheduleRequest(11, 3))),
        _type("482913"),
        ("req", bytes(DeleteCodeRequest(12, 4))),
        ("req", bytes(GetCodeScheduleRequest(13, 4))),  # SLOT_EMPTY
        ("req", bytes(GetCodeScheduleRequest(14, 0))),  # INVALID_SLOT
        ("req", bytes(GetCodeScheduleRequest(15, 251))),
        ("req", bytes([0x0F, 16, 0, 3])),  # short: MALFORMED
        _events(17),
    ]
    _compare(steps)


SCHEDULE_REFUSALS: list[bytes] = [
    _raw_scheduled(1, 5, "5555", _tail(ext=2)),  # UNSUPPORTED_EXTENSION
    _raw_scheduled(2, 5, "5555", _tail(rule=b"XX5")),  # a name of 3 letters at least
    _raw_scheduled(3, 5, "5555", _tail(windows=[])),  # INVALID_SCHEDULE: no window
    _raw_scheduled(4, 5, "5555", _tail(windows=[(1, 0, 60)] * 9)),  # MALFORMED: 9 windows
    _raw_scheduled(5, 5, "5555", _tail(windows=[(0, 0, 60)])),
    _raw_scheduled(6, 5, "5555", _tail(windows=[(0x80, 0, 60)])),
    _raw_scheduled(7, 5, "5555", _tail(windows=[(1, 60, 60)])),
    _raw_scheduled(8, 5, "5555", _tail(windows=[(1, 0, 1441)])),
    _raw_scheduled(9, 5, "5555", _tail(rule="UTC0é".encode())),
    _raw_scheduled(10, 5, "5555", _tail(rule=b"A" * 65)),
    _raw_scheduled(11, 5, "5555", _tail() + b"\x00"),
    _raw_scheduled(12, 5, "5555", _tail()[:-1]),
    _raw_scheduled(13, 5, "5555", _tail(rule=b"UTC\x000")),
    _raw_scheduled(14, 5, "5555", _tail(rule=b"\xff\xfe")),
    _raw_scheduled(15, 5, "5555", _tail(count=2)),
    _raw_scheduled(16, 5, "12a4", _tail(ext=2)),  # the extension is read before the PIN rules run
    _raw_scheduled(17, 5, "12a4", _tail()),  # BAD_PIN
    _raw_scheduled(18, 5, "5555", _tail(rule=b"EST5\n")),  # accepted, as the reference's `$` does
    _raw_scheduled(19, 0, "5555", _tail()),  # INVALID_SLOT
]


@pytest.mark.parametrize("index", range(len(SCHEDULE_REFUSALS)))
def test_put_scheduled_code_refusals_are_the_python_lock_s(index: int) -> None:
    _compare([("req", SCHEDULE_REFUSALS[index]), ("req", bytes(StatusRequest(99)))])


# --------------------------------------------------------------------------- the TZ rule code
RULES = [
    "UTC0", "EST5", "EST5\n", "<+03>-3", "<-0330>3:30", "IST-5:30", "NPT-5:45", "XX5", "AAAA25", "AAA24",
    "AAA-24:59:59", "AAA2:60", "AAA2:5", "AAA123", "EST5EDT", "EST5EDT,M3.2.0,M11.1.0", PST,
    "CET-1CEST,M3.5.0,M10.5.0/3", "NZST-12NZDT,M9.5.0,M4.1.0/3", "<-03>3<-02>,M3.5.0/-2,M10.5.0/-1",
    "IST-1GMT0,M10.5.0,M3.5.0/1", "AAA3BBB,J60,J300", "AAA3BBB,J0,J300", "AAA3BBB,J366,J300", "AAA3BBB,59,300",
    "AAA3BBB,365,0", "AAA3BBB,366,0", "AAA3BBB,M13.1.0,M1.1.0", "AAA3BBB,M3.6.0,M1.1.0", "AAA3BBB,M3.5.7,M1.1.0",
    "AAA3BBB,M3.1.0/167,M10.1.0/-167", "AAA3BBB,M3.1.0/168,M10.1.0", "AAA3BBB,M3.1.0/24:00:00,M10.1.0/25",
    "AAA3BBB2,M3.1.0,M10.1.0", "AAA3BBB2:30,M3.1.0,M10.1.0", "AAA3BBB,M3.1.0", "AAA3BBB,M3.1.0,", "AAA3<BB>",
    "<AB>3", "<A+B>3", "AAA+3", "AAA-3", "AAA+-3", "AAA", "3", "", "AAA3,M3.1.0,M10.1.0", "AAA3BBB,M03.1.0,M10.1.0",
    "AAA3BBB,M3.1.0/2:0,M10.1.0", "AAA3BBB,M3.1.0/02:00:00,M10.1.0/1:59:59", "Europe/Paris", "AAA3 ", " AAA3",
    "AAA3\n\n", "AAA3BBB,J1,J365", "AAA3BBB,0,365/167",
]
INSTANTS = [0, 1700000000, 1772963999, 1772964000, 1793523599, 1793523600, 1711846799, 1711846800,
            1730000000, 1735689599, 1735689600, 2000000000, 4102444800, 4294967295]


def _c_tz():
    from cffi import FFI

    from firmware_bridge.simulator.c_engine import library_path

    ffi = FFI()
    ffi.cdef("""
        typedef struct { uint8_t form; uint16_t a; uint8_t b, c; } lkp_tz_date_t;
        typedef struct { int32_t std_offset, dst_offset; uint8_t has_dst; lkp_tz_date_t start, end;
                         int32_t start_time, end_time; } lkp_tz_rule_t;
        int lkp_tz_parse(const uint8_t *text, size_t len, lkp_tz_rule_t *out);
        int32_t lkp_tz_utc_offset(const lkp_tz_rule_t *rule, int64_t t);
    """)
    return ffi, ffi.dlopen(str(library_path()))


def test_the_c_tz_rule_parser_and_offsets_are_the_reference_s() -> None:
    ffi, lib = _c_tz()
    for text in RULES:
        raw = text.encode()
        rule = ffi.new("lkp_tz_rule_t *")
        ok = lib.lkp_tz_parse(raw, len(raw), rule) == 0
        try:
            reference = TzRule.parse(text)
        except ProtocolError:
            reference = None
        assert ok == (reference is not None), text
        if reference is None:
            continue
        for t in INSTANTS + [y * 31_556_952 + d * 86_400 for y in range(50, 70, 3) for d in (60, 100, 300)]:
            assert lib.lkp_tz_utc_offset(rule, t) == reference.utc_offset(t), (text, t)
