"""Fields shared by the schemas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import ValidationError, fields

from provider.clock import isoformat_z

__all__ = ["StrictBoolean", "UTCDateTime", "isoformat_z"]


class UTCDateTime(fields.DateTime):
    """ISO 8601 in and out; naive input is taken as UTC, output always ends in Z."""

    default_error_messages = {"invalid": "Not a valid ISO 8601 datetime."}

    def _serialize(self, value: datetime | None, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else isoformat_z(value)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> datetime:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError as err:
            raise self.make_error("invalid") from err
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        try:
            return parsed.astimezone(UTC)
        except (OverflowError, ValueError) as err:
            raise ValidationError("Datetime out of range.") from err


class StrictBoolean(fields.Boolean):
    """JSON true/false only: marshmallow's Boolean also takes 1, "yes", "on", ..."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value
