"""The lock object: the older guide's fields and the current guide's device fields in one."""

from __future__ import annotations

from typing import Any

from flask import current_app
from marshmallow import EXCLUDE, Schema, fields, validate

import bridge_contract as contract
from firmware_bridge.protocol.const import SCHEDULE_MAX_WINDOWS
from provider.schemas.fields import UTCDateTime, compile_dump
from provider.services import access_codes as access_code_rules
from provider.services import locks as lock_rules
from provider.services import offline_codes


class LockSchema(Schema):
    lock_id = fields.String(attribute="id", dump_only=True)
    device_id = fields.String(attribute="id", dump_only=True)
    device_type = fields.Constant("smart_lock", dump_only=True)
    name = fields.String(dump_only=True)
    model = fields.String(dump_only=True)
    device_model = fields.String(attribute="model", dump_only=True)
    address = fields.String(dump_only=True, allow_none=True)
    online = fields.Boolean(dump_only=True)
    battery_level = fields.Integer(dump_only=True, allow_none=True)
    # The RSSI in dBm (negative, as the guide's example) when the bridge measured one, else the
    # 0-100 level a bridge reported; both also apart in rssi_dbm and signal_strength.
    signal_quality = fields.Method("_signal_quality", dump_only=True, allow_none=True)
    rssi_dbm = fields.Integer(dump_only=True, allow_none=True)
    signal_strength = fields.Integer(attribute="signal_quality", dump_only=True, allow_none=True)
    manufacturer = fields.Method("_manufacturer", dump_only=True)
    model_display_name = fields.Method("_model_display_name", dump_only=True)
    serial_number = fields.String(dump_only=True, allow_none=True)
    firmware_version = fields.String(dump_only=True, allow_none=True)
    keypad_battery = fields.Method("_keypad_battery", dump_only=True, allow_none=True)
    auto_lock_enabled = fields.Boolean(dump_only=True, allow_none=True)
    auto_lock_delay_seconds = fields.Integer(dump_only=True, allow_none=True)
    door_open = fields.Method("_door_open", dump_only=True, allow_none=True)
    supported_code_lengths = fields.Constant(
        list(range(contract.PIN_MIN_DIGITS, contract.PIN_MAX_DIGITS + 1)), dump_only=True)
    max_active_codes_supported = fields.Integer(attribute="code_capacity", dump_only=True)
    code_constraints = fields.Constant([
        {"constraint_type": "name_length", "min_length": contract.NAME_MIN_CHARS,
         "max_length": access_code_rules.NAME_LENGTH_MAX, "max_length_on_device": contract.NAME_MAX_CHARS},
        # Only for a new start: a code that has begun keeps its start when it is extended.
        {"constraint_type": "start_date_in_future"},
    ], dump_only=True)
    supports_time_bound_access_codes = fields.Constant(True, dump_only=True)
    can_program_online_access_codes = fields.Constant(True, dump_only=True)
    location = fields.Method("_location", dump_only=True)
    timezone = fields.String(dump_only=True)
    bridge_id = fields.String(dump_only=True, allow_none=True)
    # The asking account's role: owner, or admin / user of a lock shared with it.
    role = fields.String(dump_only=True)
    lock_state = fields.String(dump_only=True)
    door_state = fields.String(dump_only=True, allow_none=True)
    device_time = UTCDateTime(dump_only=True, allow_none=True)
    access_code_constraints = fields.Method("_constraints", dump_only=True)
    can_program_online_access_codes = fields.Constant(True, dump_only=True)
    # True once the lock confirmed the secret the cloud derives offline codes from.
    can_program_offline_access_codes = fields.Method("_offline", dump_only=True)
    offline_access_code_constraints = fields.Method("_offline_constraints", dump_only=True)
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)

    def _signal_quality(self, lock: Any) -> int | None:
        return lock.rssi_dbm if lock.rssi_dbm is not None else lock.signal_quality

    def _manufacturer(self, lock: Any) -> str:
        return str(current_app.config["MANUFACTURER_NAME"])

    def _model_display_name(self, lock: Any) -> str:
        return lock_rules.model_display_name(lock.model)

    def _keypad_battery(self, lock: Any) -> dict[str, int] | None:
        return None if lock.keypad_battery_level is None else {"level": lock.keypad_battery_level}

    def _door_open(self, lock: Any) -> bool | None:
        return lock_rules.door_open(lock.door_state) if lock.has_door_sensor else None

    def _location(self, lock: Any) -> dict[str, float] | None:
        if lock.latitude is None or lock.longitude is None:
            return None
        return {"latitude": lock.latitude, "longitude": lock.longitude}

    def _offline(self, lock: Any) -> bool:
        return offline_codes.can_program(lock)

    def _offline_constraints(self, lock: Any) -> dict[str, Any] | None:
        return offline_codes.constraints() if offline_codes.can_program(lock) else None

    def _constraints(self, lock: Any) -> dict[str, Any]:
        return {
            "code_length_min": contract.PIN_MIN_DIGITS,
            "code_length_max": contract.PIN_MAX_DIGITS,
            "name_length_min": contract.NAME_MIN_CHARS,
            "name_length_max_on_device": contract.NAME_MAX_CHARS,
            "code_capacity": lock.code_capacity,
            "schedules_evaluated_on_device": True,
            "weekly_schedule_max_windows": SCHEDULE_MAX_WINDOWS,
        }


class LockListQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    limit = fields.Integer(validate=validate.Range(min=1, max=lock_rules.MAX_PAGE))
    cursor = fields.String(validate=validate.Length(min=1, max=64))


lock_schema = LockSchema()
locks_schema = LockSchema(many=True)
# The same shape as lock_schema.dump, at a fraction of the cost (the lock list is Seam's hot read).
dump_lock = compile_dump(lock_schema)
lock_list_query_schema = LockListQuerySchema()
