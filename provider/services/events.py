"""The transactional outbox: every change Seam must hear about writes one row here.

record_event() only adds to the caller's session; the caller commits it
together with the state change, so the event exists exactly when the change does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import update

from provider.clock import now
from provider.extensions import db
from provider.models import Event
from provider.services import sealed as sealed_data

WEBHOOK_EVENT_TYPES = (
    "device.added",
    "device.removed",
    "device.online",
    "device.offline",
    "device.low_battery",
    "battery.low",
    "battery.replaced",
    "bridge.offline",
    "bridge.online",
    "device.time_wrong",
    "lock.action_completed",
    "access_code.created",
    "access_code.updated",
    "access_code.deleted",
    "access_code.used",
    "access_code.incorrect_attempt",
    # The lock reported tampering: its case opened, the bolt forced, or its keypad
    # locked out after wrong PINs (data.tamper_kind).
    "device.tampered",
    # The door sensor: the door opened (or was left ajar) / closed (data.door_state, door_open).
    "device.door_opened",
    "device.door_closed",
)


class Device(Protocol):
    """Anything events are about: a lock or a bridge."""

    id: str
    owner_id: str
    event_seq: int


def record_event(
    event_type: str,
    *,
    device: Device | None = None,
    user_id: str | None = None,
    data: dict[str, Any] | None = None,
    sealed: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> Event:
    """`data` is kept as is; `sealed` (secrets: a mistyped PIN) is stored encrypted and
    joins `data` only in what is delivered to entitled clients (event_feed.event_data)."""
    if event_type not in WEBHOOK_EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    device_seq = None
    if device is not None:
        model = type(device)
        # An UPDATE, not a read-modify-write: on PostgreSQL it takes the device's
        # row lock, so concurrent writers for one device serialise and the
        # per-device sequence matches commit order.
        device_seq = db.session.execute(
            update(model)
            .where(model.id == device.id)
            .values(event_seq=model.event_seq + 1)
            .returning(model.event_seq)
            .execution_options(synchronize_session=False)
        ).scalar_one()
        device.event_seq = device_seq
        user_id = user_id or device.owner_id
    event = Event(
        event_type=event_type,
        device_id=device.id if device is not None else None,
        user_id=user_id,
        device_seq=device_seq,
        occurred_at=occurred_at or now(),
        data=data or {},
        data_sealed=sealed_data.seal(sealed),
    )
    db.session.add(event)
    return event
