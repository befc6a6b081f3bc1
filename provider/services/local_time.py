"""Times as a lock's owner reads and types them: in the lock's own timezone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

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
