"""Fields shared by the schemas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import ValidationError, fields

from provider.clock import isoformat_z

__all__ = ["StrictBoolean", "UTCDateTime", "compile_dump", "isoformat_z"]


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


def compile_dump(schema: Any) -> Any:
    """`dump(obj) -> dict` equal to `schema.dump(obj)`, without marshmallow's per-field machinery.

    The schema stays the one definition of the shape; this walks its fields
    once. Plain fields read the attribute directly, the rest go through the
    field itself. Schemas with hooks are refused rather than half-followed.
    """
    if any(schema._hooks.values()):
        raise ValueError(f"{type(schema).__name__} has hooks; compile_dump does not run them")
    steps: list[tuple[str, Any]] = []
    for key, field in schema.dump_fields.items():
        name = field.attribute or key
        if isinstance(field, fields.Constant):
            steps.append((key, lambda obj, value=field.constant: value))
        elif isinstance(field, fields.Method):
            steps.append((key, getattr(schema, field.serialize_method_name)))
        elif type(field) in (fields.String, fields.Integer, fields.Boolean, UTCDateTime):
            # The field's own conversion of the value, minus the accessor and default machinery.
            steps.append((key, lambda obj, name=name, convert=field._serialize:
                          convert(getattr(obj, name), name, obj)))
        else:
            steps.append((key, lambda obj, name=name, field=field: field.serialize(name, obj)))

    def dump(obj: Any) -> dict[str, Any]:
        return {key: get(obj) for key, get in steps}

    return dump

