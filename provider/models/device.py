"""Bridges, locks, access codes, lock actions and the durable command queue.

Secrets never sit in clear text: bridge tokens are stored as SHA-256 digests,
device keys and PINs as AES-GCM ciphertext (provider.services.crypto).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql import false, true

from provider.clock import now
from provider.extensions import db
from provider.models.base import TimestampMixin, UTCDateTime, new_id
from provider.models.event import BigIntPK

# Access-code statuses that hold a slot on the lock (and a PIN that others may not reuse).
LIVE_CODE_STATUSES = ("pending", "active", "removing")
# Command statuses a bridge may still be handed.
OPEN_COMMAND_STATUSES = ("queued", "leased")


class Bridge(TimestampMixin, db.Model):
    """A gateway that serves the locks near it over BLE and talks to us through /bridge/v1."""

    __tablename__ = "bridges"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    # SHA-256 hex of the bearer token: tokens are 256-bit random, so a fast hash is enough.
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    online: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    event_seq: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Taken by each long-poll; a poll that no longer holds the newest number ends.
    poll_generation: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    # MQTT presence: the session of the agent's connection the last presence message was about
    # (an "offline" will of an older connection must not take a reconnected bridge offline).
    presence_session: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_bridges_online_seen", "online", "last_seen_at"),)


class Lock(TimestampMixin, db.Model):
    __tablename__ = "locks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), nullable=False)
    bridge_id: Mapped[str | None] = mapped_column(ForeignKey("bridges.id"))
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    model: Mapped[str] = mapped_column(String(50), nullable=False, default="HALO-01")
    address: Mapped[str | None] = mapped_column(String(255))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    timezone: Mapped[str] = mapped_column(String(64), nullable=False, default="UTC")
    ble_address: Mapped[str] = mapped_column(String(17), nullable=False)
    device_key_enc: Mapped[str] = mapped_column(Text, nullable=False)

    online: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    battery_level: Mapped[int | None] = mapped_column(Integer)
    # 0-100; the RSSI (dBm) it was derived from, when the bridge measured one.
    signal_quality: Mapped[int | None] = mapped_column(Integer)
    rssi_dbm: Mapped[int | None] = mapped_column(Integer)
    # As the lock reports itself (NULL until a bridge that reads them has reported).
    firmware_version: Mapped[str | None] = mapped_column(String(32))
    auto_lock_enabled: Mapped[bool | None] = mapped_column(Boolean)
    auto_lock_delay_seconds: Mapped[int | None] = mapped_column(Integer)
    # Only for a lock whose keypad has its own battery; NULL otherwise.
    keypad_battery_level: Mapped[int | None] = mapped_column(Integer)
    # From the factory manifest when the lock was claimed; NULL for locks added by hand.
    serial_number: Mapped[str | None] = mapped_column(String(64))
    lock_state: Mapped[str] = mapped_column(String(16), nullable=False, default="unknown")
    has_door_sensor: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    door_state: Mapped[str | None] = mapped_column(String(16))
    device_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    time_wrong: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Last report said the bolt could not move freely: a new lock action is refused at once.
    obstructed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)

    code_capacity: Mapped[int] = mapped_column(Integer, nullable=False, default=30)
    event_seq: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Highest lock event-log sequence accepted from the bridge (the agent resumes after it).
    last_event_seq: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Keyed digest of the device key (crypto.fingerprint): finds a key used twice
    # without decrypting every lock's key.
    device_key_fingerprint: Mapped[str | None] = mapped_column(String(64))
    # The bridge's last reconciliation: slots it found holding codes the cloud did not know,
    # and the slots it cleared (CONTRACTS.md, code_sync).
    code_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unknown_code_slots: Mapped[list[int] | None] = mapped_column(JSON)
    removed_code_slots: Mapped[list[int] | None] = mapped_column(JSON)
    # Offline codes (docs/ble-protocol.md 17): the secret they are derived from (encrypted), its
    # generation, and whether the lock confirmed it (None, pending, installed, unsupported).
    offline_secret_enc: Mapped[str | None] = mapped_column(Text)
    offline_generation: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    offline_state: Mapped[str | None] = mapped_column(String(16))
    # The factory device this lock is, when it came in through a manifest and a claim.
    device_id: Mapped[str | None] = mapped_column(ForeignKey("factory_devices.id"), unique=True)
    # Not a column: the role of the account asking ("owner", "admin", "user"), set by the access check.
    role = "owner"

    __table_args__ = (
        # GET /locks for one owner, paged by id: an index range scan, whatever the table size.
        Index("ix_locks_owner_id_id", "owner_id", "id"),
        Index("ix_locks_bridge", "bridge_id"),
        Index("ix_locks_device_key_fingerprint", "device_key_fingerprint"),
        Index("ix_locks_ble_address", "ble_address"),
    )


class AccessCode(TimestampMixin, db.Model):
    __tablename__ = "access_codes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    lock_id: Mapped[str] = mapped_column(ForeignKey("locks.id"), nullable=False)
    owner_id: Mapped[str] = mapped_column(String(36), nullable=False)
    name: Mapped[str | None] = mapped_column(String(200))
    code_enc: Mapped[str] = mapped_column(Text, nullable=False)
    # Keyed HMAC of (lock, PIN): the PIN-conflict check is an index lookup, no decryption.
    # NULL on rows written before it existed (filled in when a check meets them).
    pin_lookup: Mapped[str | None] = mapped_column(String(64))
    slot: Mapped[int] = mapped_column(Integer, nullable=False)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # pending -> active; removing -> removed; failed (with error_code)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    error_code: Mapped[str | None] = mapped_column(String(64))
    # The command whose result decides this code's status; results of older commands are ignored.
    command_id: Mapped[str | None] = mapped_column(String(36))
    # Bumped on every change sent to the lock; part of the command's idempotency key.
    revision: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # When the lock first confirmed the code: until then a change is still its creation for Seam.
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # An offline code: no slot (0), its PIN derived from the lock's offline secret of
    # `offline_generation` for (kind, start hour, end hour, counter).
    is_offline: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
    offline_kind: Mapped[str | None] = mapped_column(String(16))
    offline_start_hour: Mapped[int | None] = mapped_column(Integer)
    offline_end_hour: Mapped[int | None] = mapped_column(Integer)
    offline_counter: Mapped[int | None] = mapped_column(Integer)
    offline_generation: Mapped[int | None] = mapped_column(BigInteger)
    # When the lock last reported a use (its own clock), for offline codes.
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Weekly windows of an online code: [{"days": [...], "start_time": "09:00", "end_time": "17:30"}].
    weekly_schedule: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # False for a code found on the lock that the cloud did not create (set at the keypad, by
    # another app): listed, convertible and deletable, never put back or changed by the cloud.
    is_managed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default=true())

    # Not columns: what the answer to this request reports (an offline code's rounding, why a
    # deletion waits for the lock).
    warnings = ()
    delete_message = None

    __table_args__ = (
        # Listing one lock's codes stays an index range scan with millions of rows.
        Index("ix_access_codes_lock_status", "lock_id", "status", "created_at"),
        Index("ix_access_codes_lock_pin", "lock_id", "pin_lookup"),
        Index("ix_access_codes_offline", "lock_id", "offline_start_hour"),
    )


class Action(db.Model):
    __tablename__ = "actions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    lock_id: Mapped[str] = mapped_column(ForeignKey("locks.id"), nullable=False)
    owner_id: Mapped[str] = mapped_column(String(36), nullable=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    custom_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    performed_via: Mapped[str] = mapped_column(String(32), nullable=False, default="remote_api")
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        # custom_id makes POST /locks/<id>/actions idempotent per lock (NULLs never collide).
        UniqueConstraint("lock_id", "custom_id", name="uq_actions_lock_custom_id"),
    )


class Command(db.Model):
    """Work for one lock, addressed to its bridge; written with the state change it carries out."""

    __tablename__ = "commands"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    bridge_id: Mapped[str] = mapped_column(ForeignKey("bridges.id"), nullable=False)
    lock_id: Mapped[str] = mapped_column(ForeignKey("locks.id"), nullable=False)
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    # The wire parameters; a PIN only sealed (encrypted), and only until the command ends.
    params: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    idempotency_key: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    # queued -> leased -> succeeded | failed; cancelled/superseded never reached a result.
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(String(255))
    action_id: Mapped[str | None] = mapped_column(String(36))
    access_code_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The id of the API request that queued it: the bridge's result is logged under it too.
    request_id: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_commands_bridge_status_created", "bridge_id", "status", "created_at"),
        Index("ix_commands_status_expires", "status", "expires_at"),
    )


class LockEventLog(db.Model):
    """Lock-originated events as the bridge reported them; (lock_id, lock_seq) makes re-sends harmless."""

    __tablename__ = "lock_event_log"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    lock_id: Mapped[str] = mapped_column(ForeignKey("locks.id"), nullable=False)
    lock_seq: Mapped[int] = mapped_column(Integer, nullable=False)
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    # The whole report's data, encrypted, for event types that carry secrets (keypad digits).
    data_sealed: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=now)

    __table_args__ = (UniqueConstraint("lock_id", "lock_seq", name="uq_lock_event_log_lock_seq"),)


class RateLimitCounter(db.Model):
    """Fixed-window counters for per-device rate limits when no Redis is configured."""

    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    window_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
