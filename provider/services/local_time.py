"""Times as a lock's owner reads and types them: in the lock's own timezone."""

from __future__ import annotations

import functools
import importlib.resources
import os
import zoneinfo
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from firmware_bridge.protocol.errors import ProtocolError
from firmware_bridge.protocol.schedule import TzRule, rule_from_tzif
from provider.errors import InvalidRequest

INPUT_FORMAT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends


class LocalTimeError(InvalidRequest):
    """A date or time typed in a form that is not one."""


def parse_local(value: str, timezone: str) -> datetime | None:
    """A datetime-local field's value in `timezone`, as aware UTC; None when empty."""
    value = value.strip()
    if not value:
        return None
    try:
        naive = datetime.strptime(value[:16], INPUT_FORMAT)
    except ValueError as err:
        raise LocalTimeError(f"Not a date and time: {value!r}.") from err
    return naive.replace(tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def to_local(value: datetime | None, timezone: str) -> datetime | None:
    return value.astimezone(ZoneInfo(timezone)) if value is not None else None


def input_value(value: datetime | None, timezone: str) -> str:
    local = to_local(value, timezone)
    return local.strftime(INPUT_FORMAT) if local is not None else ""


def display(value: datetime | None, timezone: str) -> str:
    local = to_local(value, timezone)
    return local.strftime("%d %b %Y %H:%M %Z") if local is not None else "—"


class TimezoneRuleError(InvalidRequest):
    """A time zone whose future cannot be written as one POSIX TZ rule (or is not known)."""


#: How far ahead a zone's POSIX rule must agree with the tz database for schedules on a lock.
RULE_CHECK_DAYS = 2 * 366


def _tzif(name: str) -> bytes:
    """The TZif file of `name`, where zoneinfo finds it (system tz database, else tzdata)."""
    if not name or name.startswith(("/", ".")) or ".." in name or "\\" in name:
        raise TimezoneRuleError(f"{name!r} is not an IANA time zone.")
    for base in zoneinfo.TZPATH:
        path = os.path.join(base, name)
        if os.path.isfile(path):
            with open(path, "rb") as handle:
                return handle.read()
    try:
        return importlib.resources.files("tzdata.zoneinfo").joinpath(name).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError, OSError) as err:
        raise TimezoneRuleError(f"{name!r} is not an IANA time zone.") from err


@functools.lru_cache(maxsize=512)
def tz_rule(name: str, today: int | None = None) -> str:
    """The POSIX TZ rule a lock evaluates schedules in, for IANA zone `name`.

    The rule is the one at the end of the zone's TZif file; it is checked
    against the tz database every 3 hours for RULE_CHECK_DAYS from `today` (a Unix day number; the
    current day when None), so a zone whose coming changes are listed one by one
    (Morocco's Ramadan offsets) is refused rather than evaluated wrongly on the lock.
    """
    try:
        rule_text = rule_from_tzif(_tzif(name))
        rule = TzRule.parse(rule_text)
        zone = ZoneInfo(name)
    except (ProtocolError, ValueError, zoneinfo.ZoneInfoNotFoundError) as err:
        raise TimezoneRuleError(f"{name!r} has no POSIX TZ rule a lock can evaluate.") from err
    start = (int(datetime.now(UTC).timestamp()) // 86400 if today is None else today) * 86400
    for t in range(start, start + RULE_CHECK_DAYS * 86400, 3 * 3600):
        offset = datetime.fromtimestamp(t, UTC).astimezone(zone).utcoffset()
        if offset is None or int(offset.total_seconds()) != rule.utc_offset(t):
            raise TimezoneRuleError(
                f"{name!r} changes its UTC offset in ways one POSIX TZ rule cannot describe "
                "(schedules on the lock are not available in this time zone).")
    return rule_text
