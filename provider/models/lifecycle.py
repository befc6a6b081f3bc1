"""A lock's life outside the Seam API: the factory inventory and who else may use a lock.

A factory device is one physical lock as the factory line recorded it (serial,
radio address, keys). It exists before anybody owns it; claiming it creates
the owner's `Lock` row (locks.device_id), unclaiming deletes that row again.
Keys are AES-GCM ciphertext; the claim code is kept only as a SHA-256 digest
(it is 80 random bits, so a fast hash is enough).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from provider.clock import now
from provider.extensions import db
from provider.models.base import TimestampMixin, UTCDateTime, new_id

SHARE_ROLES = ("admin", "user")


class FactoryDevice(TimestampMixin, db.Model):
    __tablename__ = "factory_devices"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    serial: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    ble_address: Mapped[str] = mapped_column(String(17), nullable=False, unique=True)
    model: Mapped[str] = mapped_column(String(50), nullable=False)
    hardware_revision: Mapped[str] = mapped_column(String(32), nullable=False)
    firmware_version: Mapped[str] = mapped_column(String(32), nullable=False)
    device_key_enc: Mapped[str] = mapped_column(Text, nullable=False)
    # Keyed digest of the device key: finds a key reused by another device without decrypting all.
    device_key_digest: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    offline_secret_enc: Mapped[str] = mapped_column(Text, nullable=False)
    # The import that brought it in (one manifest = one batch).
    batch_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    # SHA-256 hex of the code on its box label; cleared when claimed (single use).
    claim_code_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    claim_code_issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A key rotation the lock may or may not have finished when it was unclaimed; the next
    # claim carries it on (the bridge offers both keys).
    pending_key_enc: Mapped[str | None] = mapped_column(Text)
    pending_rotation_no: Mapped[int | None] = mapped_column(Integer)


class LockShare(db.Model):
    """Another account's access to a lock: admin (codes, sharing) or user (lock and unlock)."""

    __tablename__ = "lock_shares"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    lock_id: Mapped[str] = mapped_column(ForeignKey("locks.id"), nullable=False)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    granted_by: Mapped[str] = mapped_column(String(36), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now)

    __table_args__ = (
        UniqueConstraint("lock_id", "account_id", name="uq_lock_shares_lock_account"),
        # GET /locks of a shared user: the locks shared with one account.
        Index("ix_lock_shares_account", "account_id", "lock_id"),
    )


class BridgeSighting(db.Model):
    """The last time a bridge heard a BLE address in its scan, and how strongly."""

    __tablename__ = "bridge_sightings"

    bridge_id: Mapped[str] = mapped_column(ForeignKey("bridges.id"), primary_key=True)
    ble_address: Mapped[str] = mapped_column(String(17), primary_key=True)
    rssi: Mapped[int] = mapped_column(Integer, nullable=False)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now)

    __table_args__ = (
        # Which bridges hear this lock: one index range scan per assignment.
        Index("ix_bridge_sightings_address", "ble_address", "seen_at"),
    )


class KeyRotation(db.Model):
    """One replacement of a lock's device key, from scheduling to the lock's confirmation.

    pending: the new key is chosen (encrypted here) and sent through the bridge;
    completed: the lock proved it holds it and switched, and locks.device_key_enc
    is the new key; cancelled: the lock left its owner before it switched.
    """

    __tablename__ = "key_rotations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    lock_id: Mapped[str] = mapped_column(ForeignKey("locks.id"), nullable=False)
    # The u32 the protocol carries: 1, 2, ... per lock.
    rotation_no: Mapped[int] = mapped_column(Integer, nullable=False)
    new_key_enc: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    reason: Mapped[str] = mapped_column(String(16), nullable=False)  # transfer | operator | policy
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("lock_id", "rotation_no", name="uq_key_rotations_lock_no"),
        Index("ix_key_rotations_status", "status", "lock_id"),
    )
