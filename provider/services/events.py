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
from provider.models import Bridge, Event, Lock
from provider.services import sealed as sealed_data
from provider.services import wakeups

#: Notified with every committed event: idle dispatchers wait on it instead of polling.
OUTBOX_CHANNEL = "outbox"

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
    # The lock reported tampering: its case opened or its bolt forced (data.tamper_kind).
    "device.tampered",
    # The keypad locked itself after consecutive wrong PINs (Seam's name for it).
    "lock.access_denied",
    # The door sensor: the door opened (or was left ajar) / closed (data.door_state, door_open).
    "device.door_opened",
    "device.door_closed",
)

#: Seam's guide names one drop of the battery both ways. One event is recorded, as
#: `battery.low`; a webhook that asked for `device.low_battery` and not `battery.low`
#: receives it under that name (provider.services.webhooks.delivered_type).
EVENT_ALIASES = {"device.low_battery": "battery.low"}


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
    """`data` is kept as is; `sealed` (secrets: a PIN, a mistyped PIN) is stored encrypted and
    joins `data` only in what is delivered to entitled clients (event_feed.event_data); a
    nested object in it joins the object of the same name in `data`.

    An event about a lock always names it `lock_id` in its data, one about a bridge
    `bridge_id`: Seam's examples read either, at the top level or inside `data`."""
    if event_type not in WEBHOOK_EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    data = dict(data or {})
    if isinstance(device, Lock):
        data.setdefault("lock_id", device.id)
    elif isinstance(device, Bridge):
        data.setdefault("bridge_id", device.id)
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
        data=data,
        data_sealed=sealed_data.seal(sealed),
    )
    db.session.add(event)
    wake_dispatchers()
    return event


def wake_dispatchers() -> None:
    """Once the caller commits, idle dispatchers look for due deliveries at once."""
    wakeups.notify(OUTBOX_CHANNEL)
