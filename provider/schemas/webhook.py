"""Webhooks, their deliveries (with the attempt log) and the event feed."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields, validate

from provider.models.webhook import DELIVERED, EXPIRED, PENDING
from provider.schemas.fields import UTCDateTime
from provider.services.events import WEBHOOK_EVENT_TYPES
from provider.services.webhooks import MAX_ROTATION_GRACE, PARKED, ignored_event_types

MAX_PAGE = 500


class WebhookSchema(Schema):
    webhook_id = fields.String(attribute="id", dump_only=True)
    url = fields.String(required=True)
    events = fields.List(fields.Raw(), attribute="event_types", load_default=None)
    # Types the registration listed that this cloud does not emit: kept, never delivered.
    ignored_events = fields.Function(ignored_event_types, dump_only=True)
    enabled = fields.Boolean()
    status = fields.String(dump_only=True)
    status_reason = fields.String(dump_only=True, allow_none=True)
    consecutive_failures = fields.Integer(dump_only=True)
    last_success_at = UTCDateTime(dump_only=True, allow_none=True)
    last_failure_at = UTCDateTime(dump_only=True, allow_none=True)
    previous_secret_expires_at = UTCDateTime(dump_only=True, allow_none=True)
    created_at = UTCDateTime(dump_only=True)
    updated_at = UTCDateTime(dump_only=True)


class RotateSecretSchema(Schema):
    grace_seconds = fields.Integer(
        load_default=24 * 3600,
        validate=validate.Range(0, int(MAX_ROTATION_GRACE.total_seconds())),
        strict=True,
    )


class RedeliverSchema(Schema):
    event_id = fields.String(required=True, validate=validate.Length(1, 36))


class AttemptSchema(Schema):
    attempt = fields.Integer()
    attempted_at = UTCDateTime()
    status_code = fields.Integer(allow_none=True)
    latency_ms = fields.Integer()
    error = fields.String(allow_none=True)
    succeeded = fields.Boolean()


class DeliverySchema(Schema):
    delivery_id = fields.String(attribute="id")
    webhook_id = fields.String()
    event_id = fields.String()
    event_type = fields.String()
    device_id = fields.String(allow_none=True)
    status = fields.String()
    attempts = fields.Integer()
    next_attempt_at = fields.Method("_next_attempt_at")
    delivered_at = UTCDateTime(allow_none=True)
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    created_at = UTCDateTime()
    attempt_log = fields.List(fields.Nested(AttemptSchema))

    def _next_attempt_at(self, delivery: Any) -> str | None:
        if delivery.status != PENDING or delivery.next_attempt_at >= PARKED:
            return None  # finished, or waiting for its disabled webhook to be enabled
        return UTCDateTime()._serialize(delivery.next_attempt_at, None, None)


class PageQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    limit = fields.Integer(load_default=100, validate=validate.Range(1, MAX_PAGE))
    cursor = fields.String(load_default=None)


class DeliveryQuerySchema(PageQuerySchema):
    status = fields.String(load_default=None, validate=validate.OneOf([PENDING, DELIVERED, EXPIRED]))
    event_id = fields.String(load_default=None)


class EventQuerySchema(PageQuerySchema):
    device_id = fields.String(load_default=None)
    event_type = fields.String(load_default=None, validate=validate.OneOf(WEBHOOK_EVENT_TYPES))
    since = UTCDateTime(load_default=None)
    until = UTCDateTime(load_default=None)


webhook_schema = WebhookSchema()
webhook_update_schema = WebhookSchema(partial=True)
rotate_secret_schema = RotateSecretSchema()
redeliver_schema = RedeliverSchema()
delivery_schema = DeliverySchema()
delivery_query_schema = DeliveryQuerySchema()
event_query_schema = EventQuerySchema()
