"""The operations console: operators, the audit log of what they did, fleet samples for charts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from provider.clock import now
from provider.extensions import db
from provider.models.base import TimestampMixin, UTCDateTime, new_id
from provider.models.event import BigIntPK


class Operator(TimestampMixin, db.Model):
    """A member of the vendor's operations team: password plus TOTP, apart from lock owners."""

    __tablename__ = "operators"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    # The TOTP seed, encrypted (provider.services.crypto): we must compute codes from it.
    totp_secret_enc: Mapped[str] = mapped_column(Text, nullable=False)
    # The last TOTP time step accepted: a code is good for one sign-in only.
    last_totp_step: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEntry(db.Model):
    """One operator action (console or CLI), append-only."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now)
    # "operator:<email>" in the console, "cli:<user>" on the command line.
    actor: Mapped[str] = mapped_column(String(300), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    target: Mapped[str | None] = mapped_column(String(300))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)

    __table_args__ = (Index("ix_audit_log_at", "at"),)


class FleetSample(db.Model):
    """The fleet at one moment (every few minutes): what the console's 24-hour charts draw."""

    __tablename__ = "fleet_samples"

    at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    bridges_online: Mapped[int] = mapped_column(Integer, nullable=False)
    bridges_total: Mapped[int] = mapped_column(Integer, nullable=False)
    locks_online: Mapped[int] = mapped_column(Integer, nullable=False)
    locks_total: Mapped[int] = mapped_column(Integer, nullable=False)
    queue_depth: Mapped[int] = mapped_column(Integer, nullable=False)
