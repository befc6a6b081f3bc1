"""Offline access codes (docs/ble-protocol.md section 17): the scheme, the lock's table,
and the virtual lock that checks them on its own (possibly wrong) clock."""

from __future__ import annotations

import hashlib
import hmac
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge.protocol import (
    AccessDenial,
    AccessDeniedEvent,
    ErrorCode,
    ErrorResponse,
    IncorrectPinEvent,
    LocalProtocolError,
    OfflineCodeUsedEvent,
    OfflineKind,
    RevokeOfflineCodeRequest,
    RevokeOfflineCodeResponse,
    SetOfflineSecretRequest,
    SetOfflineSecretResponse,
    Source,
    UnlockedEvent,
    vectors,
)
from firmware_bridge.protocol import offline as off
from firmware_bridge.protocol.const import (
    OFFLINE_CLOCK_TOLERANCE,
    OFFLINE_MISS_DECAY,
    OFFLINE_MISS_LIMIT,
    OFFLINE_TABLE_SIZE,
)
from firmware_bridge.simulator.lock import VirtualLock

T = OFFLINE_CLOCK_TOLERANCE
H = 3600
NOW = 1_790_000_000  # 2026-09-21
SECRET = bytes(range(0x40, 0x60))


class FakeTime:
    def __init__(self, now: float = NOW) -> None:
        self.now = float(now)

    def __call__(self) -> float:
        return self.now


# --------------------------------------------------------------- strategies
secrets_ = st.binary(min_size=32, max_size=32)


@st.composite
def windows(draw: st.DrawFn) -> off.Window:
    kind = draw(st.sampled_from([OfflineKind.ONE_TIME, OfflineKind.HOURLY, OfflineKind.DAILY]))
    start = draw(st.integers(NOW // H - 1000, NOW // H + 1000))
    if kind is OfflineKind.ONE_TIME:
        hours = 24
    elif kind is OfflineKind.HOURLY:
        hours = draw(st.integers(1, 672))
    else:
        hours = 24 * draw(st.integers(1, 367))
    return off.Window(kind, start, start + hours)


def _first_use_edges(code: off.OfflineCode) -> tuple[int, int]:
    """[opens, closes) of a first use, Unix seconds on the lock's clock."""
    return code.starts_at - T, (code.start_hour + code.first_use_hours) * H + T


def _offsets(code: off.OfflineCode) -> st.SearchStrategy[int]:
    """Lock times around the first-use window, its edges (and one second either side) included."""
    opens, closes = _first_use_edges(code)
    return st.one_of(
        st.sampled_from([opens - 1, opens, opens + 1, closes - 1, closes, closes + 1]),
        st.integers(opens - 3 * H, closes + 3 * H),
    )


# ----------------------------------------------------------------- vectors
def test_vector_matches_an_independent_computation() -> None:
    """The doc's hourly vector, recomputed from the prose of section 17.3 alone."""
    msg = b"LKP2 offline code" + bytes([2]) + struct.pack("<II", 472222, 472225) + bytes([0, 0])
    digest = hmac.new(SECRET, msg, hashlib.sha256).digest()
    q_space = 10**10 // 4160
    bound = 2**32 - 2**32 % q_space
    x = next(c for c in struct.unpack("<8I", digest) if c < bound)
    header = 3 * 4 + 0
    expected = f"{(x % q_space) * 4160 + header:010d}"
    assert expected in "\n".join(vectors.offline_lines())
    assert off.derive_pin(SECRET, off.OfflineCode(OfflineKind.HOURLY, 472222, 472225, 0)) == expected


def test_a_rejected_chunk_moves_on_to_the_next_one() -> None:
    code = vectors._rejected_example()
    digest = hmac.new(SECRET, off.code_message(code, 0), hashlib.sha256).digest()
    first, second = struct.unpack("<2I", digest[:8])
    assert first >= off._LIMIT > second
    assert off.secret_value(SECRET, code) == second % off.Q


# -------------------------------------------------------------- the scheme
@given(secrets_, windows())
@settings(max_examples=60, deadline=None)
def test_codes_of_one_window_never_collide(secret: bytes, window: off.Window) -> None:
    issued = []
    for _ in range(4):
        code, pin = off.issue(secret, window, [c.counter for c, _ in issued])
        issued.append((code, pin))
    pins = [pin for _, pin in issued]
    assert len(set(pins)) == 4
    assert sorted(code.counter for code, _ in issued) == [0, 1, 2, 3]
    for code, pin in issued:
        parsed = off.parse_pin(pin)
        assert parsed is not None and (parsed.kind, parsed.hours, parsed.counter) == (
            code.kind, code.hours, code.counter)
        assert off.unambiguous(secret, code)
    with pytest.raises(LocalProtocolError) as full:
        off.issue(secret, window, [0, 1, 2, 3])
    assert full.value.error_code is ErrorCode.STORAGE_FULL


@given(st.integers(1_700_000_000, 1_900_000_000), st.integers(1, 400 * 86400), st.booleans())
def test_rounding_covers_the_request_as_the_scheme_requires(starts_at: int, length: int, one_time: bool) -> None:
    ends_at = starts_at + length
    try:
        window = off.round_window(starts_at, ends_at, one_time=one_time)
    except LocalProtocolError as err:
        assert not one_time and err.error_code is ErrorCode.INVALID_SCHEDULE
        assert length > 367 * 86400 - H
        return
    assert window.starts_at <= starts_at < window.starts_at + H
    code = off.OfflineCode(window.kind, window.start_hour, window.end_hour)  # a code the lock accepts
    if one_time:
        assert window.kind is OfflineKind.ONE_TIME and code.hours == 24
        return
    assert window.ends_at >= ends_at
    if window.kind is OfflineKind.HOURLY:
        assert window.ends_at - ends_at < H
    else:
        assert code.hours > 672 and code.hours % 24 == 0 and window.ends_at - ends_at < 86400


def test_pins_that_cannot_be_offline_codes() -> None:
    assert off.parse_pin("123456") is None
    assert off.parse_pin("99999999999") is None
    assert off.parse_pin("9999999999") is None  # v >= Q * HEADERS
    assert off.parse_pin("12345678a0") is None
    assert off.parse_pin("１２３４５６７８９０") is None  # fullwidth digits are not ASCII


# -------------------------------------------------------------- the table
@given(secrets_, windows(), st.data())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_first_use_accepted_exactly_inside_its_window(secret: bytes, window: off.Window, data: st.DataObject) -> None:
    code, pin = off.issue(secret, window)
    table = off.OfflineTable()
    table.set_secret(secret, 3)
    t = data.draw(_offsets(code))
    opens, closes = _first_use_edges(code)
    verdict = table.enter(pin, t, monotonic=0.0)
    if opens <= t < closes:
        assert verdict == off.Verdict(off.Outcome.ACCEPTED, code)
    else:
        assert verdict.outcome is off.Outcome.NO_MATCH


@given(secrets_, windows(), st.data())
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_one_time_once_and_long_codes_until_their_end(secret: bytes, window: off.Window, data: st.DataObject) -> None:
    code, pin = off.issue(secret, window)
    opens, closes = _first_use_edges(code)
    table = off.OfflineTable()
    table.set_secret(secret, 1)
    first = data.draw(st.integers(opens, closes - 1))
    assert table.enter(pin, first, 0.0).outcome is off.Outcome.ACCEPTED
    # The lock's flash is all there is: a reboot (saved and loaded) changes nothing.
    table = off.OfflineTable.from_dict(table.to_dict())
    later = data.draw(st.integers(first, code.ends_at + T + 2 * H))
    verdict = table.enter(pin, later, 0.0)
    if code.kind is OfflineKind.ONE_TIME:
        expected = (off.Outcome.DENIED if later < code.ends_at + T else off.Outcome.NO_MATCH)
        assert verdict.outcome is expected
        if expected is off.Outcome.DENIED:
            assert verdict.reason is AccessDenial.ALREADY_USED
    else:
        accepted = later < (code.ends_at + T if code.remembered else closes)
        assert (verdict.outcome is off.Outcome.ACCEPTED) == accepted


def test_a_long_code_not_used_within_24_hours_of_its_start_never_opens() -> None:
    code, pin = off.issue(SECRET, off.Window(OfflineKind.DAILY, NOW // H, NOW // H + 30 * 24))
    table = off.OfflineTable(secret=SECRET)
    assert table.enter(pin, code.starts_at + 24 * H + T, 0.0).outcome is off.Outcome.NO_MATCH
    assert table.enter(pin, code.starts_at + 10 * 86400, 0.0).outcome is off.Outcome.NO_MATCH


def test_revoked_codes_are_refused_whatever_their_state() -> None:
    window = off.Window(OfflineKind.HOURLY, NOW // H, NOW // H + 48)
    (used, used_pin), (fresh, fresh_pin) = off.issue(SECRET, window), off.issue(SECRET, window, [0])
    table = off.OfflineTable(secret=SECRET)
    assert table.enter(used_pin, NOW + 10, 0.0).outcome is off.Outcome.ACCEPTED
    assert table.revoke(used, NOW + 20) and table.revoke(fresh, NOW + 20)
    assert table.revoke(fresh, NOW + 30)  # idempotent
    for pin, code in ((used_pin, used), (fresh_pin, fresh)):
        assert table.enter(pin, NOW + 40, 0.0) == off.Verdict(off.Outcome.DENIED, code, AccessDenial.REVOKED)
    assert table.free(NOW + 40) == OFFLINE_TABLE_SIZE - 2
    assert table.free(used.ends_at + T) == OFFLINE_TABLE_SIZE  # entries end with their codes


def test_a_full_table_refuses_first_uses_and_revocations_and_a_new_secret_clears_it() -> None:
    start = NOW // H
    table = off.OfflineTable(secret=SECRET, size=2)
    a, _ = off.issue(SECRET, off.Window(OfflineKind.ONE_TIME, start, start + 24))
    b, _ = off.issue(SECRET, off.Window(OfflineKind.ONE_TIME, start - 1, start + 23))
    c, c_pin = off.issue(SECRET, off.Window(OfflineKind.ONE_TIME, start - 2, start + 22))
    assert table.revoke(a, NOW) and table.revoke(b, NOW)
    assert not table.revoke(c, NOW)
    assert table.enter(c_pin, NOW, 0.0) == off.Verdict(off.Outcome.DENIED, c, AccessDenial.TABLE_FULL)
    short, short_pin = off.issue(SECRET, off.Window(OfflineKind.HOURLY, start, start + 2))
    assert table.enter(short_pin, NOW, 0.0).outcome is off.Outcome.ACCEPTED  # nothing to remember
    assert table.set_secret(bytes(range(32)), 1) and table.entries == []
    assert not table.set_secret(bytes(range(32)), 1)  # the same again: nothing changes
    assert table.enter(short_pin, NOW, 0.0).outcome is off.Outcome.NO_MATCH  # the old secret's code


def test_wrong_ten_digit_entries_are_paced_and_a_correct_code_does_not_reset_the_count() -> None:
    start = NOW // H
    code, pin = off.issue(SECRET, off.Window(OfflineKind.HOURLY, start, start + 5))
    table = off.OfflineTable(secret=SECRET)
    wrong = f"{(int(pin) + 4160) % (off.Q * off.HEADERS):010d}"  # same header, another q
    for i in range(OFFLINE_MISS_LIMIT - 1):
        assert table.enter(wrong, NOW, float(i)).outcome is off.Outcome.NO_MATCH
    assert table.enter(pin, NOW, 20.0).outcome is off.Outcome.ACCEPTED  # the guest's own code ...
    assert table.enter(wrong, NOW, 21.0).outcome is off.Outcome.NO_MATCH  # ... bought no guesses
    assert table.misses == OFFLINE_MISS_LIMIT
    assert table.enter(pin, NOW, 22.0).outcome is off.Outcome.NO_MATCH  # refused unchecked
    assert table.enter(pin, NOW, OFFLINE_MISS_DECAY).outcome is off.Outcome.ACCEPTED  # one forgotten
    assert table.misses == OFFLINE_MISS_LIMIT - 1
    restored = off.OfflineTable.from_dict(table.to_dict(OFFLINE_MISS_DECAY), OFFLINE_MISS_DECAY)
    assert (restored.misses, restored.miss_decay_at) == (table.misses, table.miss_decay_at)


# ------------------------------------------------------- the virtual lock
def _lock(clock: FakeTime, offset: int = 0) -> VirtualLock:
    lock = VirtualLock(time_source=clock)
    lock.skew_clock(offset)
    assert isinstance(lock.handle(SetOfflineSecretRequest(1, 7, SECRET)), SetOfflineSecretResponse)
    return lock


@given(windows(), st.integers(-6 * H, 6 * H), st.data())
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_lock_judges_by_its_own_clock(window: off.Window, offset: int, data: st.DataObject) -> None:
    """Whatever the lock's clock says (here `offset` from real time) is what counts."""
    code, pin = off.issue(SECRET, window)
    lock_time = data.draw(_offsets(code))
    clock = FakeTime(lock_time - offset)
    lock = _lock(clock, offset)
    assert lock.device_time() == lock_time
    event = lock.enter_pin(pin)
    opens, closes = _first_use_edges(code)
    if opens <= lock_time < closes:
        used, unlocked = lock.events[-2:]
        assert isinstance(unlocked, UnlockedEvent) and unlocked.source is Source.KEYPAD and unlocked.slot is None
        assert used == OfflineCodeUsedEvent(used.seq, lock_time, 7, *_fields(code))
        assert event == unlocked
    else:
        assert event is not None and event == IncorrectPinEvent(event.seq, lock_time, pin)


def _fields(code: off.OfflineCode) -> tuple[OfflineKind, int, int, int]:
    return code.kind, code.start_hour, code.end_hour, code.counter


def test_a_revocation_delivered_at_the_next_sync_refuses_the_code() -> None:
    clock = FakeTime()
    lock = _lock(clock)
    code, pin = off.issue(SECRET, off.Window(OfflineKind.HOURLY, NOW // H, NOW // H + 72))
    assert isinstance(lock.enter_pin(pin), UnlockedEvent)
    lock.manual_turn()
    answer = lock.handle(RevokeOfflineCodeRequest(2, *_fields(code)))
    assert answer == RevokeOfflineCodeResponse(2, OFFLINE_TABLE_SIZE - 1)
    clock.now += 60
    denied = lock.enter_pin(pin)
    assert denied == AccessDeniedEvent(denied.seq, int(clock.now), AccessDenial.REVOKED, None, 7, *_fields(code))
    assert lock.bolt.name == "LOCKED"
    saved = VirtualLock.from_dict(lock.to_dict(), time_source=clock)  # the revocation is in flash
    assert isinstance(saved.enter_pin(pin), AccessDeniedEvent)


def test_a_lock_without_a_secret_refuses_revocations_and_offline_pins() -> None:
    lock = VirtualLock(time_source=FakeTime())
    code, pin = off.issue(SECRET, off.Window(OfflineKind.ONE_TIME, NOW // H, NOW // H + 24))
    assert lock.handle(RevokeOfflineCodeRequest(3, *_fields(code))) == ErrorResponse(
        3, 0x0D, ErrorCode.NO_OFFLINE_SECRET)
    assert isinstance(lock.enter_pin(pin), IncorrectPinEvent)


def test_the_factory_secret_is_generation_zero_and_a_new_one_ends_its_codes() -> None:
    clock = FakeTime()
    lock = VirtualLock(time_source=clock)
    lock.offline_secret = SECRET
    _, pin = off.issue(SECRET, off.Window(OfflineKind.HOURLY, NOW // H, NOW // H + 3))
    assert isinstance(lock.enter_pin(pin), UnlockedEvent)
    assert lock.events[-2].generation == 0
    new = bytes(range(100, 132))
    answer = lock.handle(SetOfflineSecretRequest(4, 1, new))
    assert answer == SetOfflineSecretResponse(4, 1, off.secret_proof(new, 1))
    assert lock.handle(SetOfflineSecretRequest(5, 1, new)) == SetOfflineSecretResponse(5, 1, off.secret_proof(new, 1))
    assert isinstance(lock.enter_pin(pin), IncorrectPinEvent)


@given(windows(), st.data())
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_revoked_code_is_refused_from_the_sync_on(window: off.Window, data: st.DataObject) -> None:
    """Used or not before the revocation, a code is refused at every moment after the sync that
    delivered it, and nothing else changes: the window's other codes still open."""
    (code, pin), (other, other_pin) = off.issue(SECRET, window), off.issue(SECRET, window, [0])
    opens, closes = _first_use_edges(code)
    clock = FakeTime(data.draw(st.integers(opens, closes - 1)))
    lock = _lock(clock)
    if data.draw(st.booleans()):
        assert isinstance(lock.enter_pin(pin), UnlockedEvent)  # used before the revocation
        lock.manual_turn()
    assert isinstance(lock.handle(RevokeOfflineCodeRequest(9, *_fields(code))), RevokeOfflineCodeResponse)
    clock.now = data.draw(st.integers(int(clock.now), closes - 1))
    refused = lock.enter_pin(pin)
    assert isinstance(refused, AccessDeniedEvent) and refused.reason is AccessDenial.REVOKED
    assert isinstance(lock.enter_pin(other_pin), UnlockedEvent)
