from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields

from provider.schemas.fields import StrictBoolean, UTCDateTime
from provider.services import access_codes as code_rules
from provider.services import offline_codes


class AccessCodeSchema(Schema):
    """Dumps every field Seam reads; loads create (all) and PATCH (partial) bodies.

    `code` and `name` are plain strings here: their rules (Kwikset) live in the
    service, which answers with specific error codes.
    """

    access_code_id = fields.String(attribute="id", dump_only=True)
    lock_id = fields.String(dump_only=True)
    owner_id = fields.String(dump_only=True)
    name = fields.String(allow_none=True)
    device_name = fields.Method("_device_name", dump_only=True)
    # Required for an online code (the service says so); an offline code's PIN is derived.
    code = fields.Method("_code", deserialize="_load_code")
    starts_at = UTCDateTime(allow_none=True)
    ends_at = UTCDateTime(allow_none=True)
    type = fields.Method("_type", dump_only=True)
    status = fields.Method("_status", dump_only=True)
    # Offline (algorithmic) codes: docs/ble-protocol.md section 17.
    is_offline_access_code = fields.Method("_is_offline", deserialize="_load_bool")
    is_one_time_use = fields.Method("_is_one_time", deserialize="_load_bool")
    first_use_deadline = fields.Method("_first_use_deadline", dump_only=True)
    last_used_at = UTCDateTime(attribute="used_at", dump_only=True, allow_none=True)
    # Extension beside starts_at/ends_at: the weekly windows an online code opens in.
    weekly_schedule = fields.Raw(allow_none=True)
    warnings = fields.Method("_warnings", dump_only=True)
    error_code = fields.String(dump_only=True, allow_none=True)
    slot = fields.Integer(dump_only=True)
    # False: found on the lock, not created through the API (list, convert or delete it only).
    is_managed = fields.Boolean(dump_only=True)
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)

    def _device_name(self, code: Any) -> str:
        return code_rules.device_name(code)

    def _code(self, code: Any) -> str:
        return code_rules.plaintext(code)

    def _load_code(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError("Not a valid string.")
        return value

    def _type(self, code: Any) -> str:
        return code_rules.code_type(code)

    def _status(self, code: Any) -> str:
        return code_rules.shown_status(code)

    def _is_offline(self, code: Any) -> bool:
        return bool(code.is_offline)

    def _is_one_time(self, code: Any) -> bool:
        return code.offline_kind == "one_time"

    def _load_bool(self, value: Any) -> bool:
        return StrictBoolean().deserialize(value)

    def _first_use_deadline(self, code: Any) -> str | None:
        deadline = offline_codes.first_use_deadline(code)
        return UTCDateTime()._serialize(deadline, "first_use_deadline", code) if deadline else None

    def _warnings(self, code: Any) -> list[dict[str, Any]]:
        return list(getattr(code, "warnings", None) or [])


class LockCodeListQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    # Omitted: every code on the lock, managed and unmanaged.
    is_managed = fields.Boolean(truthy={"true"}, falsy={"false"})


class AccessCodeListQuerySchema(LockCodeListQuerySchema):
    lock_id = fields.String(required=True)


access_code_schema = AccessCodeSchema()
access_codes_schema = AccessCodeSchema(many=True)
access_code_list_query_schema = AccessCodeListQuerySchema()
lock_code_list_query_schema = LockCodeListQuerySchema()
