from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from provider.clock import now
from provider.extensions import db
from provider.models.base import UTCDateTime, new_id

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class Event(db.Model):
    """An outbox row: written in the same transaction as the change it reports."""

    __tablename__ = "events"

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True, nullable=False, default=new_id)
    event_type: Mapped[str] = mapped_column(String(64), nullable=False)
    device_id: Mapped[str | None] = mapped_column(String(36))
    user_id: Mapped[str | None] = mapped_column(String(36))
    # Position in the device's own history; webhooks are delivered in this order per device.
    device_seq: Mapped[int | None] = mapped_column(Integer)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    # Fields too sensitive to keep in clear (a mistyped PIN), encrypted as one JSON object
    # (provider.services.sealed); merged into `data` only when the event is delivered.
    data_sealed: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now)

    __table_args__ = (
        Index("uq_events_device_seq", "device_id", "device_seq", unique=True),
        Index("ix_events_type_created", "event_type", "created_at"),
        Index("ix_events_user_created", "user_id", "created_at"),
        Index("ix_events_created", "created_at"),
    )
