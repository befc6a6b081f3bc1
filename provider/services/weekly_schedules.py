"""Weekly schedules of online codes, as the API takes them and as the lock evaluates them.

The API's form (an extension beside Seam's starts_at/ends_at)::

    "weekly_schedule": [{"days_of_week": ["monday", ..., "friday"], "start_time": "09:00",
                         "end_time": "17:30"}, ...]          (1 to 8 windows)

The lock gets the same windows as (weekday bits, start minute, end minute) with the POSIX
TZ rule of its time zone (docs/ble-protocol.md section 18), and evaluates them on its own
wall clock, daylight saving included.
"""

from __future__ import annotations

import re
from typing import Any

from firmware_bridge.protocol.const import MINUTES_PER_DAY, SCHEDULE_MAX_WINDOWS
from provider.errors import ApiError
from provider.services.local_time import TimezoneRuleError, tz_rule

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TIME = re.compile(r"^([01][0-9]|2[0-4]):([0-5][0-9])$")


def _bad(message: str) -> ApiError:
    return ApiError(400, "INVALID_WEEKLY_SCHEDULE", message)


def _minutes(value: Any, what: str) -> int:
    match = _TIME.match(value) if isinstance(value, str) else None
    if match is None or (match[1] == "24" and match[2] != "00"):
        raise _bad(f"{what} must be a time of day HH:MM (00:00 to 24:00).")
    return int(match[1]) * 60 + int(match[2])


def normalize(raw: Any) -> list[dict[str, Any]] | None:
    """The schedule as stored and shown (days in week order, no duplicates); None: no schedule.

    Refuses (INVALID_WEEKLY_SCHEDULE) what the lock could not evaluate: no window or more than
    8, an empty or unknown set of days, a window that ends before it starts or spans midnight.
    """
    if raw is None:
        return None
    if not isinstance(raw, list) or not 1 <= len(raw) <= SCHEDULE_MAX_WINDOWS:
        raise _bad(f"weekly_schedule is a list of 1 to {SCHEDULE_MAX_WINDOWS} windows (or null).")
    windows = []
    for index, window in enumerate(raw):
        if not isinstance(window, dict) or set(window) - {"days_of_week", "start_time", "end_time"}:
            raise _bad(f"window {index}: days_of_week, start_time and end_time only.")
        days = window.get("days_of_week")
        if not isinstance(days, list) or not days or any(day not in DAYS for day in days):
            raise _bad(f"window {index}: days_of_week is a non-empty list of {', '.join(DAYS)}.")
        start = _minutes(window.get("start_time"), f"window {index}: start_time")
        end = _minutes(window.get("end_time"), f"window {index}: end_time")
        if not start < end <= MINUTES_PER_DAY:
            raise _bad(f"window {index}: end_time must be after start_time on the same day "
                       "(22:00-06:00 is two windows: 22:00-24:00 and 00:00-06:00 the next day).")
        windows.append({"days_of_week": [day for day in DAYS if day in days],
                        "start_time": window["start_time"], "end_time": window["end_time"]})
    return windows


def check_timezone(timezone: str) -> None:
    """The lock's zone must be one rule a lock can evaluate (most are; Morocco's is not)."""
    try:
        tz_rule(timezone)
    except TimezoneRuleError as err:
        raise ApiError(400, "TIMEZONE_NOT_SUPPORTED_FOR_SCHEDULES", err.message) from err


def to_wire(schedule: list[dict[str, Any]], timezone: str) -> dict[str, Any]:
    """The command's and desired table's `schedule`: the zone's TZ rule and the windows."""
    return {
        "tz_rule": tz_rule(timezone),
        "windows": [
            [sum(1 << DAYS.index(day) for day in window["days_of_week"]),
             _minutes(window["start_time"], "start_time"), _minutes(window["end_time"], "end_time")]
            for window in schedule
        ],
    }
