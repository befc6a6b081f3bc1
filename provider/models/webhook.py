"""Webhooks, their per-event deliveries and the log of every delivery attempt."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from provider.clock import now
from provider.extensions import db
from provider.models.base import TimestampMixin, UTCDateTime, new_id
from provider.models.event import BigIntPK

# Webhook.status
ACTIVE = "active"
FAILING = "failing"  # still retried; status_reason says why
DISABLED = "disabled"  # by its owner, or by the receiver answering 410

# WebhookDelivery.status
PENDING = "pending"  # waiting for its next attempt (or in flight while leased)
DELIVERED = "delivered"
EXPIRED = "expired"  # retried for the whole retry window without a 2xx


class Webhook(TimestampMixin, db.Model):
    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # The OAuth client that registered it (None: created by an operator on the CLI).
    client_id: Mapped[str | None] = mapped_column(String(64), index=True)
    url: Mapped[str] = mapped_column(String(2048), nullable=False)
    # Event types to deliver; empty list = every type.
    event_types: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=ACTIVE)
    status_reason: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Signing secrets, encrypted (provider.services.crypto), never hashed: we must sign with them.
    secret_encrypted: Mapped[str] = mapped_column(String(255), nullable=False)
    previous_secret_encrypted: Mapped[str | None] = mapped_column(String(255))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Fan-out cursor: every event with seq <= fanout_seq has its delivery row (if it matches).
    fanout_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)

    @property
    def enabled(self) -> bool:
        return self.status != DISABLED


class WebhookDelivery(db.Model):
    """One event for one webhook: retried until delivered or expired."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    webhook_id: Mapped[str] = mapped_column(
        ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False
    )
    event_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    event_id: Mapped[str] = mapped_column(String(36), nullable=False)
    event_type: Mapped[str] = mapped_column(String(64), nullable=False)
    # Copied from the event: deliveries of one device go out in event_seq order.
    device_id: Mapped[str | None] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now)
    # Start of the current retry series (creation, or a manual redelivery): expiry counts from here.
    pending_since: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now, onupdate=now)

    __table_args__ = (
        Index("uq_webhook_deliveries_webhook_event", "webhook_id", "event_seq", unique=True),
        # The claim scans due rows in this order and stops at its LIMIT.
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at", "event_seq"),
        Index("ix_webhook_deliveries_device", "webhook_id", "device_id", "status", "event_seq"),
        Index("ix_webhook_deliveries_event", "event_seq"),
    )


class WebhookAttempt(db.Model):
    """The delivery log: one row per HTTP attempt."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False, index=True
    )
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    error: Mapped[str | None] = mapped_column(Text)
    succeeded: Mapped[bool] = mapped_column(Boolean, nullable=False)
    dispatcher: Mapped[str | None] = mapped_column(String(64))
