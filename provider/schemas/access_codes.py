from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields

from provider.schemas.fields import UTCDateTime
from provider.services import access_codes as code_rules


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
    code = fields.Method("_code", deserialize="_load_code", required=True)
    starts_at = UTCDateTime(allow_none=True)
    ends_at = UTCDateTime(allow_none=True)
    type = fields.Method("_type", dump_only=True)
    status = fields.String(dump_only=True)
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
