"""Bodies of the bridge API (/bridge/v1)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates,
    validates_schema,
)

import bridge_contract as contract
from firmware_bridge.protocol.const import OFFLINE_CODES_PER_WINDOW
from provider.schemas.fields import StrictBoolean, UTCDateTime

#: The lock-event types a bridge may post (bridge_contract.LOCK_EVENT_TYPES).
BRIDGE_EVENT_TYPES = contract.LOCK_EVENT_TYPES
ID = validate.Length(min=1, max=contract.ID_MAX_CHARS)
PERCENT = validate.Range(min=0, max=100)
MAX_ITEMS = validate.Length(max=contract.MAX_BATCH)


class CommandsQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    wait = fields.Float(load_default=0.0, validate=validate.Range(min=0, max=contract.MAX_WAIT_SECONDS))
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=contract.MAX_COMMANDS_PER_POLL))
    # A restarted agent's first poll: take back the commands leased to this bridge at once.
    resume = fields.Boolean(load_default=False)


class ResultSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(contract.RESULT_STATUSES))
    error_code = fields.String(
        allow_none=True, load_default=None, validate=validate.Length(max=contract.ERROR_CODE_MAX_CHARS)
    )
    message = fields.String(
        allow_none=True, load_default=None, validate=validate.Length(max=contract.ERROR_MESSAGE_MAX_CHARS)
    )

    @validates_schema
    def _failure_has_code(self, result: dict[str, Any], **kwargs: Any) -> None:
        if result.get("status") == contract.FAILED and not result.get("error_code"):
            raise ValidationError({"error_code": ["A failed result needs an error_code."]})


class LockEventSchema(Schema):
    lock_id = fields.String(required=True, validate=ID)
    lock_seq = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=2**31 - 1))
    type = fields.String(required=True, validate=validate.OneOf(BRIDGE_EVENT_TYPES))
    occurred_at = UTCDateTime(required=True)
    data = fields.Dict(keys=fields.String(), load_default=dict, allow_none=True)

    @validates_schema
    def _check_data(self, event: dict[str, Any], **kwargs: Any) -> None:
        data = event.get("data") or {}
        kind = event.get("type")
        if kind in (contract.LOCKED, contract.UNLOCKED):
            if data.get("source") not in (None, *contract.LOCK_SOURCES):
                raise ValidationError({"data": ["unknown source"]})
            slot = data.get("slot")
            if slot is not None and (not isinstance(slot, int) or isinstance(slot, bool) or not 0 <= slot < 10_000):
                raise ValidationError({"data": ["slot must be an integer"]})
        elif kind == contract.BATTERY:
            level = data.get("level")
            if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= 100:
                raise ValidationError({"data": ["level must be an integer 0-100"]})
        elif kind == contract.DOOR and data.get("state") not in contract.DOOR_STATES:
            raise ValidationError({"data": ["state must be open, closed or ajar"]})
        elif kind == contract.INCORRECT_PIN and not isinstance(data.get("pin"), str | None):
            raise ValidationError({"data": ["pin must be a string"]})
        elif kind == contract.OFFLINE_CODE_USED:
            _check_offline_fields(data)
        elif kind == contract.ACCESS_DENIED:
            if data.get("reason") not in contract.DENIAL_REASONS:
                raise ValidationError({"data": ["unknown reason"]})
            slot = data.get("slot")
            if slot is not None and (not isinstance(slot, int) or isinstance(slot, bool) or not 0 <= slot < 10_000):
                raise ValidationError({"data": ["slot must be an integer"]})
            if slot is None:
                _check_offline_fields(data)


def _check_offline_fields(data: dict[str, Any]) -> None:
    """An offline code's identity: generation, kind, start and end hour, counter."""
    if data.get("kind") not in contract.OFFLINE_KINDS:
        raise ValidationError({"data": ["kind must be one_time, hourly or daily"]})
    # Whole hours since 1970 stay below 2^31 until the year 246,000; a counter is 0..3.
    for name, top in (("generation", 0xFFFF_FFFF), ("start_hour", 2**31 - 1), ("end_hour", 2**31 - 1),
                      ("counter", OFFLINE_CODES_PER_WINDOW - 1)):
        value = data.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= top:
            raise ValidationError({"data": [f"{name} must be an integer 0-{top}"]})


class EventsSchema(Schema):
    events = fields.List(fields.Nested(LockEventSchema), required=True, validate=MAX_ITEMS)


class LockStatusSchema(Schema):
    lock_id = fields.String(required=True, validate=ID)
    online = StrictBoolean(allow_none=True)
    battery_level = fields.Integer(allow_none=True, strict=True, validate=PERCENT)
    # 0-100, or (negative) an RSSI in dBm, as the guide's example sends it.
    signal_quality = fields.Integer(allow_none=True, strict=True,
                                    validate=validate.Range(min=contract.RSSI_MIN_DBM, max=100))
    rssi = fields.Integer(allow_none=True, strict=True,
                          validate=validate.Range(min=contract.RSSI_MIN_DBM, max=contract.RSSI_MAX_DBM))
    firmware_version = fields.String(allow_none=True,
                                     validate=validate.Length(min=1, max=contract.FIRMWARE_VERSION_MAX_CHARS))
    auto_lock_enabled = StrictBoolean(allow_none=True)
    auto_lock_delay_seconds = fields.Integer(allow_none=True, strict=True,
                                             validate=validate.Range(min=0, max=contract.AUTO_LOCK_DELAY_MAX))
    # Only a lock whose keypad has its own battery reports it.
    keypad_battery_level = fields.Integer(allow_none=True, strict=True, validate=PERCENT)
    lock_state = fields.String(allow_none=True, validate=validate.OneOf(contract.LOCK_STATES))
    door_state = fields.String(allow_none=True, validate=validate.OneOf(contract.DOOR_STATES))
    device_time = UTCDateTime(allow_none=True)
    timezone = fields.String(allow_none=True, validate=validate.Length(max=64))

    @validates("timezone")
    def _check_timezone(self, value: str | None, **kwargs: Any) -> None:
        if value is None:
            return
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError) as err:
            raise ValidationError("unknown IANA timezone") from err


class HeartbeatSchema(Schema):
    locks = fields.List(fields.Nested(LockStatusSchema), load_default=list, validate=MAX_ITEMS)


SLOT = validate.Range(min=1, max=contract.SLOT_MAX)


class FoundCodeSchema(Schema):
    """A code the bridge found on the lock that the cloud did not ask for, as the lock holds it."""

    slot = fields.Integer(required=True, strict=True, validate=SLOT)
    # The lock's own PIN: whatever its keypad accepted, digits only.
    code = fields.String(required=True, validate=validate.Regexp(r"^[0-9]{1,16}$"))
    name = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=contract.NAME_MAX_CHARS))
    starts_at = UTCDateTime(allow_none=True, load_default=None)
    ends_at = UTCDateTime(allow_none=True, load_default=None)


class OfflineSyncSchema(Schema):
    generation = fields.Integer(strict=True, validate=validate.Range(min=0, max=0xFFFF_FFFF))
    unsupported = StrictBoolean()


class CodeSyncSchema(Schema):
    present = fields.List(fields.String(validate=ID), load_default=list, validate=MAX_ITEMS)
    unknown_slots = fields.List(fields.Integer(strict=True), load_default=list, validate=MAX_ITEMS)
    removed_slots = fields.List(fields.Integer(strict=True), load_default=list, validate=MAX_ITEMS)
    # Absent (an older bridge): the unmanaged codes the cloud knows stay as they are.
    unmanaged = fields.List(fields.Nested(FoundCodeSchema), load_default=None, validate=MAX_ITEMS)
    # The offline-code secret the lock holds now ({"generation": N}) or {"unsupported": true};
    # absent: nothing learnt. `revoked`: offline codes whose revocation the lock took.
    offline = fields.Nested(OfflineSyncSchema, load_default=None, allow_none=True)
    revoked = fields.List(fields.String(validate=ID), load_default=list, validate=MAX_ITEMS)


commands_query_schema = CommandsQuerySchema()
result_schema = ResultSchema()
events_schema = EventsSchema()
heartbeat_schema = HeartbeatSchema()
code_sync_schema = CodeSyncSchema()
