from __future__ import annotations

from marshmallow import Schema, fields, validate

from provider.schemas.fields import UTCDateTime


class ActionSchema(Schema):
    action_id = fields.String(attribute="id", dump_only=True)
    action = fields.String(required=True, validate=validate.OneOf(["lock", "unlock"]))
    custom_id = fields.String(allow_none=True, validate=validate.Length(min=1, max=255))
    status = fields.String(dump_only=True)
    lock_id = fields.String(dump_only=True)
    performed_via = fields.String(dump_only=True)
    error_code = fields.String(dump_only=True, allow_none=True)
    error_message = fields.String(dump_only=True, allow_none=True)
    created_at = UTCDateTime(dump_only=True)
    completed_at = UTCDateTime(dump_only=True, allow_none=True)


action_schema = ActionSchema()
