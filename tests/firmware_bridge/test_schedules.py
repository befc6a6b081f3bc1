"""Weekly schedules of online codes (docs/ble-protocol.md section 18): POSIX TZ rules against
the tz database, windows on the lock's wall clock, daylight-saving edges, the virtual lock."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge.protocol import (
    AccessDenial,
    AccessDeniedEvent,
    ErrorCode,
    ErrorResponse,
    GetCodeScheduleRequest,
    GetCodeScheduleResponse,
    PutCodeRequest,
    PutCodeResponse,
    PutScheduledCodeRequest,
    PutScheduledCodeResponse,
    UnlockedEvent,
)
from firmware_bridge.protocol.schedule import (
    RuleError,
    ScheduleWindow,
    TzRule,
    open_at,
    rule_from_tzif,
)
from firmware_bridge.simulator.lock import VirtualLock
from provider.services.local_time import TimezoneRuleError, _tzif, tz_rule

ZONES = ["America/Los_Angeles", "Europe/Paris", "Australia/Sydney", "Europe/Dublin", "America/Santiago",
         "Pacific/Chatham", "Asia/Kolkata", "America/St_Johns", "Pacific/Auckland", "UTC"]
Y2026 = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
Y2029 = int(datetime(2029, 1, 1, tzinfo=UTC).timestamp())
DAY_2026 = Y2026 // 86400


def _rule(zone: str) -> TzRule:
    return TzRule.parse(tz_rule(zone, DAY_2026))


def _transitions(zone: str) -> list[int]:
    """The instants 2026-2028 where the tz database changes the zone's offset (by bisection)."""
    info = ZoneInfo(zone)

    def offset(t: int) -> float:
        value = datetime.fromtimestamp(t, UTC).astimezone(info).utcoffset()
        return value.total_seconds() if value else 0.0

    found = []
    for t in range(Y2026, Y2029, 6 * 3600):
        if offset(t) != offset(t + 6 * 3600):
            low, high = t, t + 6 * 3600
            while high - low > 1:
                mid = (low + high) // 2
                low, high = (mid, high) if offset(mid) == offset(t) else (low, mid)
            found.append(high)
    return found


TRANSITIONS = {zone: _transitions(zone) for zone in ZONES}


def _oracle(windows: tuple[ScheduleWindow, ...], zone: str, t: int) -> bool:
    """What the windows say at `t` on the zone's wall clock, according to the tz database."""
    local = datetime.fromtimestamp(t, UTC).astimezone(ZoneInfo(zone))
    minute = local.hour * 60 + local.minute
    return any(w.days >> local.weekday() & 1 and w.start_minute <= minute < w.end_minute for w in windows)


@st.composite
def instants(draw: st.DrawFn, zone: str) -> int:
    """2026-2028, often within two hours of a DST change (and on its exact second)."""
    near = TRANSITIONS[zone]
    if near and draw(st.booleans()):
        return draw(st.sampled_from(near)) + draw(st.integers(-2 * 3600, 2 * 3600))
    return draw(st.integers(Y2026, Y2029 - 1))


windows_ = st.builds(
    lambda days, start, length: ScheduleWindow(days, start, min(1440, start + length)),
    st.integers(1, 0x7F), st.integers(0, 1439), st.integers(1, 720),
)


# ------------------------------------------------------------------ rules
@pytest.mark.parametrize("zone", ZONES)
def test_the_rule_agrees_with_the_tz_database_at_every_change_2026_to_2028(zone: str) -> None:
    rule, info = _rule(zone), ZoneInfo(zone)
    points = [p for t in TRANSITIONS[zone] for p in (t - 1, t)] + list(range(Y2026, Y2029, 86400 * 7 + 3601))
    for t in points:
        expected = datetime.fromtimestamp(t, UTC).astimezone(info).utcoffset()
        assert expected is not None and rule.utc_offset(t) == int(expected.total_seconds()), (zone, t)
    if zone not in ("Asia/Kolkata", "UTC"):
        assert len(TRANSITIONS[zone]) == 6


def test_zones_one_rule_cannot_describe_are_refused_for_schedules() -> None:
    with pytest.raises(TimezoneRuleError, match="cannot describe"):
        tz_rule("Africa/Casablanca", DAY_2026)
    for bad in ("Mars/Olympus", "../../etc/passwd", ""):
        with pytest.raises(TimezoneRuleError):
            tz_rule(bad, DAY_2026)


@pytest.mark.parametrize("text", ["", "PST8PDT", "EST5EDT,M3.2.0", "X5", "CET-1CEST,M13.5.0,M10.5.0",
                                  "CET-1CEST,M3.6.0,M10.5.0", "CET-1CEST,J0,J100", "A" * 65, "UTC0 "])
def test_rules_a_lock_refuses(text: str) -> None:
    with pytest.raises(RuleError) as caught:
        TzRule.parse(text)
    assert caught.value.error_code is ErrorCode.INVALID_SCHEDULE


def test_the_rule_is_the_footer_of_the_tzif_file() -> None:
    assert rule_from_tzif(_tzif("Europe/Paris")) == "CET-1CEST,M3.5.0,M10.5.0/3"
    with pytest.raises(RuleError):
        rule_from_tzif(b"TZif\x00" + bytes(40))


# --------------------------------------------------------------- windows
@given(st.sampled_from(ZONES).flatmap(lambda z: st.tuples(st.just(z), instants(z))),
       st.lists(windows_, min_size=1, max_size=8).map(tuple))
@settings(max_examples=400, deadline=None)
def test_a_schedule_is_open_exactly_when_the_wall_clock_says(zoned: tuple[str, int],
                                                             windows: tuple[ScheduleWindow, ...]) -> None:
    zone, t = zoned
    assert open_at(windows, _rule(zone), t) == _oracle(windows, zone, t)


def _la(*args: int) -> int:
    return int(datetime(*args, tzinfo=ZoneInfo("America/Los_Angeles")).timestamp())  # type: ignore[misc]


def test_a_window_starting_in_the_skipped_hour_opens_at_the_first_minute_that_exists() -> None:
    rule = _rule("America/Los_Angeles")
    sunday = ScheduleWindow(1 << 6, 2 * 60 + 30, 4 * 60)  # Sunday 02:30-04:00
    inside = ScheduleWindow(1 << 6, 2 * 60, 2 * 60 + 45)  # Sunday 02:00-02:45: does not exist on 8 March
    spring = 1_772_964_000  # 2026-03-08 10:00 UTC: 02:00 PST becomes 03:00 PDT
    assert not open_at((sunday,), rule, spring - 1)  # 01:59:59 PST
    assert open_at((sunday,), rule, spring)  # 03:00 PDT
    assert not any(open_at((inside,), rule, t) for t in range(spring - 86400, spring + 86400, 60))
    assert open_at((inside,), rule, _la(2026, 3, 15, 2, 10))  # a week later it does


def test_a_window_in_the_repeated_hour_is_open_both_times() -> None:
    rule = _rule("America/Los_Angeles")
    early = ScheduleWindow(1 << 6, 0, 90)  # Sunday 00:00-01:30
    fall = 1_793_523_600  # 2026-11-01 09:00 UTC: 02:00 PDT becomes 01:00 PST
    first_0115, second_0115 = fall - 45 * 60, fall + 15 * 60
    assert open_at((early,), rule, first_0115) and open_at((early,), rule, second_0115)
    assert not open_at((early,), rule, fall - 15 * 60)  # 01:45 PDT
    assert open_at((early,), rule, fall)  # 01:00 PST, again
    minutes_open = sum(open_at((early,), rule, t) for t in range(fall - 3 * 3600, fall + 3 * 3600, 60))
    assert minutes_open == 90 + 30  # the wall clock shows 00:00-01:30, then 01:00-01:30 again


# ----------------------------------------------------------- virtual lock
class FakeTime:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@given(st.sampled_from(ZONES).flatmap(lambda z: st.tuples(st.just(z), instants(z))),
       st.lists(windows_, min_size=1, max_size=3).map(tuple), st.integers(-3 * 3600, 3 * 3600))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_lock_opens_a_scheduled_code_exactly_inside_its_windows_on_its_own_clock(
        zoned: tuple[str, int], windows: tuple[ScheduleWindow, ...], offset: int) -> None:
    zone, lock_time = zoned
    clock = FakeTime(float(lock_time - offset))  # real time; the lock's clock is `offset` off
    lock = VirtualLock(time_source=clock)
    lock.skew_clock(offset)
    assert lock.device_time() == lock_time
    answer = lock.handle(PutScheduledCodeRequest(1, 4, "482913", "Cleaner", None, None, False,
                                                 tz_rule(zone, DAY_2026), windows))
    assert answer == PutScheduledCodeResponse(1, 4)
    event = lock.enter_pin("482913")
    if _oracle(windows, zone, lock_time):
        assert isinstance(event, UnlockedEvent) and event.slot == 4
    else:
        assert event == AccessDeniedEvent(event.seq, lock_time, AccessDenial.OUTSIDE_SCHEDULE, 4)
        assert lock.bolt.name == "LOCKED"


def test_schedules_are_stored_listed_replaced_and_survive_a_reboot() -> None:
    clock = FakeTime(float(Y2026))
    lock = VirtualLock(time_source=clock)
    weekdays = (ScheduleWindow(0x1F, 540, 1050),)
    put = PutScheduledCodeRequest(1, 4, "482913", "Cleaner", None, None, False, "UTC0", weekdays)
    assert lock.handle(put) == PutScheduledCodeResponse(1, 4)
    assert lock.handle(put) == PutScheduledCodeResponse(1, 4)  # idempotent
    plain = PutCodeRequest(2, 4, "482913", "Cleaner")
    assert lock.handle(plain) == ErrorResponse(2, 0x05, ErrorCode.SLOT_OCCUPIED)  # not the same code
    assert lock.handle(GetCodeScheduleRequest(3, 4)) == GetCodeScheduleResponse(3, 4, "UTC0", weekdays)
    again = VirtualLock.from_dict(lock.to_dict(), time_source=clock)
    assert again.handle(GetCodeScheduleRequest(4, 4)) == GetCodeScheduleResponse(4, 4, "UTC0", weekdays)
    assert lock.handle(PutCodeRequest(5, 4, "482913", "Cleaner", replace=True)) == PutCodeResponse(5, 4)
    assert lock.handle(GetCodeScheduleRequest(6, 4)) == GetCodeScheduleResponse(6, 4)
    assert lock.handle(GetCodeScheduleRequest(7, 5)) == ErrorResponse(7, 0x0F, ErrorCode.SLOT_EMPTY)
