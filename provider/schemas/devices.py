"""Bodies of the device-lifecycle calls: claim, transfer, share."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from provider.models import SHARE_ROLES
from provider.schemas.fields import UTCDateTime


class ClaimSchema(Schema):
    class Meta:
        unknown = RAISE

    # The code as typed (dashes, spaces and either case) or the scanned label URL.
    claim_code = fields.String(required=True, validate=validate.Length(min=1, max=300))
    name = fields.String(validate=validate.Length(min=1, max=100))
    timezone = fields.String(validate=validate.Length(min=1, max=64))
    bridge_id = fields.String(validate=validate.Length(min=1, max=36))


class TransferSchema(Schema):
    class Meta:
        unknown = RAISE

    to_email = fields.Email(required=True, validate=validate.Length(max=254))


class ShareCreateSchema(Schema):
    class Meta:
        unknown = RAISE

    email = fields.Email(required=True, validate=validate.Length(max=254))
    role = fields.String(required=True, validate=validate.OneOf(SHARE_ROLES))


class ShareSchema(Schema):
    share_id = fields.String(attribute="id", dump_only=True)
    lock_id = fields.String(dump_only=True)
    account_id = fields.String(dump_only=True)
    email = fields.String(dump_only=True)
    role = fields.String(dump_only=True)
    created_at = UTCDateTime(dump_only=True)


claim_schema = ClaimSchema()
transfer_schema = TransferSchema()
share_create_schema = ShareCreateSchema()
share_schema = ShareSchema()
shares_schema = ShareSchema(many=True)


class AssignBridgeSchema(Schema):
    class Meta:
        unknown = RAISE

    # Omitted or null: the owner's bridge that hears the lock loudest.
    bridge_id = fields.String(allow_none=True, load_default=None, validate=validate.Length(min=1, max=36))


class BridgeCreateSchema(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(load_default="Bridge", validate=validate.Length(min=1, max=100))


class ScanResultSchema(Schema):
    ble_address = fields.String(required=True, validate=validate.Regexp(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$"))
    rssi = fields.Integer(required=True, strict=True, validate=validate.Range(min=-127, max=20))


class ScanSchema(Schema):
    results = fields.List(fields.Nested(ScanResultSchema), required=True,
                          validate=validate.Length(max=200))


assign_bridge_schema = AssignBridgeSchema()
bridge_create_schema = BridgeCreateSchema()
scan_schema = ScanSchema()


class KeyConfirmedSchema(Schema):
    # The cloud numbers a lock's rotations from 1 in an INTEGER column.
    rotation_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=2**31 - 1))


key_confirmed_schema = KeyConfirmedSchema()
