"""Sandbox devices: jane's bridge with three HALO-01 locks, john's bridge with one. Idempotent.

BLE addresses and device keys derive from a fixed sandbox seed, so the
sandbox's virtual locks can be recreated identically on every run.
"""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy import select

from provider.clock import now
from provider.extensions import db
from provider.models import Bridge, Lock
from provider.services import bridges, locks
from provider.services.accounts import find_by_email
from provider.services.sandbox import SANDBOX_BRIDGE_NAME as BRIDGE_NAME

SANDBOX_SEED = b"seam-lock-cloud sandbox v1"
SANDBOX_LOCKS = {
    "jane@example.com": ("Front Door", "Back Door", "Garage"),
    "john@example.com": ("Front Door",),
}


def _derive(label: str) -> bytes:
    return hmac.new(SANDBOX_SEED, label.encode(), hashlib.sha256).digest()


def sandbox_lock_identity(email: str, name: str) -> tuple[str, str]:
    """(BLE address, device key hex) of a seeded lock; the same on every machine and run."""
    raw = bytearray(_derive(f"ble address {email}/{name}")[:6])
    raw[0] |= 0xC0  # a static random address has its two top bits set
    address = ":".join(f"{byte:02X}" for byte in raw)
    return address, _derive(f"device key {email}/{name}")[:16].hex()


def seed_devices() -> None:
    for email, names in SANDBOX_LOCKS.items():
        account = find_by_email(email)
        if account is None:
            continue
        bridge = _ensure_bridge(account.id)
        existing = set(
            db.session.scalars(select(Lock.name).where(Lock.owner_id == account.id)).all()
        )
        for name in names:
            if name in existing:
                continue
            address, key = sandbox_lock_identity(email, name)
            locks.add_lock(
                owner_id=account.id,
                bridge=bridge,
                name=name,
                ble_address=address,
                device_key_hex=key,
                model="HALO-01",
                timezone="America/Los_Angeles",
                online=True,
                lock_state="locked",
                battery_level=65,
                signal_quality=90,
                door_state="closed",
            )


def _ensure_bridge(owner_id: str) -> Bridge:
    bridge = db.session.scalar(
        select(Bridge).where(Bridge.owner_id == owner_id, Bridge.name == BRIDGE_NAME)
    )
    if bridge is None:
        # Its token is random here; the sandbox re-keys it to a token derived from SECRET_KEY.
        bridge, _ = bridges.create_bridge(owner_id, BRIDGE_NAME)
        bridge.online = True
        bridge.last_seen_at = now()
    return bridge
