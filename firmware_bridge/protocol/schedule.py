"""Weekly schedules of online codes, evaluated on the lock's wall clock (section 18).

A schedule is a list of windows (a set of weekdays and a time-of-day range,
minutes after local midnight) and the POSIX TZ rule of the lock's time zone
(``"CET-1CEST,M3.5.0,M10.5.0/3"``: the same string the tz database puts at the
end of every TZif file for the years after its last listed transition). The
rule lets a lock without a tz database find its local time, daylight saving
included; :func:`rule_from_tzif` reads it from a TZif file.

Sans-IO, integers only, so that a C implementation can follow it line by line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .const import MINUTES_PER_DAY, TZ_RULE_MAX_BYTES, ErrorCode
from .errors import LocalProtocolError

DAY = 86400
#: Weekday bits of a window: bit 0 is Monday ... bit 6 is Sunday.
WEEKDAY_BITS = 0x7F


class RuleError(LocalProtocolError):
    """A TZ rule this implementation cannot evaluate."""

    error_code = ErrorCode.INVALID_SCHEDULE


# --------------------------------------------------------------------------
# Civil calendar (proleptic Gregorian, days since 1970-01-01)
# --------------------------------------------------------------------------
def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a calendar date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_year(days: int) -> int:
    """The calendar year of a day number."""
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    month_index = (5 * doy + 2) // 153
    return yoe + era * 400 + (month_index >= 10)


def is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def weekday(days: int) -> int:
    """0 = Monday ... 6 = Sunday (1970-01-01 was a Thursday)."""
    return (days + 3) % 7


# --------------------------------------------------------------------------
# POSIX TZ rules
# --------------------------------------------------------------------------
_NAME = r"(?:[A-Za-z]{3,}|<[A-Za-z0-9+-]{3,}>)"
_OFFSET = r"[+-]?\d{1,2}(?::\d{2}(?::\d{2})?)?"
_TIME = r"[+-]?\d{1,3}(?::\d{2}(?::\d{2})?)?"
_DATE = r"(?:J\d{1,3}|\d{1,3}|M\d{1,2}\.\d\.\d)"
_RULE = re.compile(
    rf"^(?P<std>{_NAME})(?P<std_off>{_OFFSET})"
    rf"(?:(?P<dst>{_NAME})(?P<dst_off>{_OFFSET})?"
    rf",(?P<start>{_DATE})(?:/(?P<start_time>{_TIME}))?"
    rf",(?P<end>{_DATE})(?:/(?P<end_time>{_TIME}))?)?$"
)


def _seconds(text: str, limit_hours: int) -> int:
    sign = -1 if text.startswith("-") else 1
    parts = [int(p) for p in text.lstrip("+-").split(":")] + [0, 0]
    hours, minutes, seconds = parts[:3]
    if hours > limit_hours or minutes > 59 or seconds > 59:
        raise RuleError(f"{text!r} is out of range")
    return sign * (hours * 3600 + minutes * 60 + seconds)


@dataclass(frozen=True)
class _Date:
    form: str  # "J" (1..365, no Feb 29), "n" (0..365), "M" (month, week, day)
    a: int
    b: int = 0
    c: int = 0

    def day_of_year(self, year: int) -> int:
        """0-based day of the year this date falls on in ``year``."""
        if self.form == "J":
            return self.a - 1 + (is_leap(year) and self.a >= 60)
        if self.form == "n":
            return self.a
        month, week, wday = self.a, self.b, self.c  # wday: 0 = Sunday
        first = days_from_civil(year, month, 1)
        first_sunday_based = (weekday(first) + 1) % 7
        day = 1 + (wday - first_sunday_based) % 7 + 7 * (week - 1)
        length = _MONTH_DAYS[month - 1] + (month == 2 and is_leap(year))
        while day > length:
            day -= 7
        return first - days_from_civil(year, 1, 1) + day - 1


def _date(text: str) -> _Date:
    if text.startswith("J"):
        value = int(text[1:])
        if not 1 <= value <= 365:
            raise RuleError(f"{text!r}: Jn is 1..365")
        return _Date("J", value)
    if text.startswith("M"):
        month, week, wday = (int(p) for p in text[1:].split("."))
        if not (1 <= month <= 12 and 1 <= week <= 5 and 0 <= wday <= 6):
            raise RuleError(f"{text!r}: Mm.w.d is m 1..12, w 1..5, d 0..6")
        return _Date("M", month, week, wday)
    value = int(text)
    if not 0 <= value <= 365:
        raise RuleError(f"{text!r}: n is 0..365")
    return _Date("n", value)


@dataclass(frozen=True)
class TzRule:
    """A parsed POSIX TZ rule. Offsets are seconds east of UTC (the string says west)."""

    text: str
    std_offset: int
    dst_offset: int | None = None
    start: _Date | None = None
    start_time: int = 7200
    end: _Date | None = None
    end_time: int = 7200

    @classmethod
    def parse(cls, text: str) -> TzRule:
        if not isinstance(text, str) or not text.isascii() or not 1 <= len(text) <= TZ_RULE_MAX_BYTES:
            raise RuleError(f"a TZ rule is 1..{TZ_RULE_MAX_BYTES} ASCII characters")
        match = _RULE.match(text)
        if match is None:
            raise RuleError(f"{text!r} is not a POSIX TZ rule with explicit DST dates")
        std = -_seconds(match["std_off"], 24)
        if match["dst"] is None:
            return cls(text, std)
        dst = -_seconds(match["dst_off"], 24) if match["dst_off"] else std + 3600
        start_time = _seconds(match["start_time"], 167) if match["start_time"] else 7200
        end_time = _seconds(match["end_time"], 167) if match["end_time"] else 7200
        return cls(text, std, dst, _date(match["start"]), start_time, _date(match["end"]), end_time)

    def _transitions(self, year: int) -> tuple[int, int]:
        """(DST starts, DST ends) of ``year`` as UTC instants."""
        assert self.start is not None and self.end is not None and self.dst_offset is not None
        jan1 = days_from_civil(year, 1, 1)
        # Each transition time is local time as it was before the change.
        start = (jan1 + self.start.day_of_year(year)) * DAY + self.start_time - self.std_offset
        end = (jan1 + self.end.day_of_year(year)) * DAY + self.end_time - self.dst_offset
        return start, end

    def utc_offset(self, t: int) -> int:
        """Seconds east of UTC in effect at UTC instant ``t``."""
        if self.dst_offset is None:
            return self.std_offset
        year = civil_year(t // DAY)
        # The latest transition at or before t, looking at this year and its neighbours.
        latest, in_dst = None, False
        for y in (year - 1, year, year + 1):
            start, end = self._transitions(y)
            for when, dst in ((start, True), (end, False)):
                if when <= t and (latest is None or when > latest):
                    latest, in_dst = when, dst
        return self.dst_offset if in_dst else self.std_offset

    def local(self, t: int) -> int:
        """Local wall-clock seconds since 1970-01-01 00:00 local."""
        return t + self.utc_offset(t)


def rule_from_tzif(data: bytes) -> str:
    """The POSIX TZ rule at the end of a TZif file (version 2 or later)."""
    if data[:4] != b"TZif" or data[4:5] not in (b"2", b"3", b"4"):
        raise RuleError("not a TZif file of version 2 or later")
    footer = data.rstrip(b"\n").rsplit(b"\n", 1)[-1].decode("ascii")
    TzRule.parse(footer)
    return footer


# --------------------------------------------------------------------------
# Windows
# --------------------------------------------------------------------------
@dataclass(frozen=True, order=True)
class ScheduleWindow:
    """Open on the weekdays in ``days`` (bit 0 = Monday), from ``start_minute`` (inclusive) to
    ``end_minute`` (exclusive) after local midnight. A window never spans midnight: 22:00-06:00
    is two windows (22:00-24:00 one day, 00:00-06:00 the next)."""

    days: int
    start_minute: int
    end_minute: int

    def __post_init__(self) -> None:
        if not (isinstance(self.days, int) and 0 < self.days <= WEEKDAY_BITS):
            raise LocalProtocolError("weekdays: a non-empty set of bits 0..6", ErrorCode.INVALID_SCHEDULE)
        if not 0 <= self.start_minute < self.end_minute <= MINUTES_PER_DAY:
            raise LocalProtocolError("times of day: 0 <= start < end <= 1440 minutes",
                                     ErrorCode.INVALID_SCHEDULE)


def open_at(windows: tuple[ScheduleWindow, ...], rule: TzRule, t: int) -> bool:
    """Whether any window is open at UTC instant ``t`` on the local wall clock of ``rule``.

    The wall clock decides: in a skipped hour (spring forward) nothing happens, so a window
    that starts inside it opens at the first minute that exists; in a repeated hour (fall
    back) a window covering it is open both times the clock shows it.
    """
    local = rule.local(t)
    day, second = divmod(local, DAY)
    minute = second // 60
    bit = 1 << weekday(day)
    return any(w.days & bit and w.start_minute <= minute < w.end_minute for w in windows)
