"""Bridges (gateways): registration, token authentication, presence."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update

from provider.clock import now as clock_now
from provider.errors import not_found
from provider.extensions import db
from provider.models import Bridge, Lock
from provider.services.events import record_event

TOKEN_PREFIX = "brg_"
# Presence writes are coalesced: a bridge polling every few seconds costs one UPDATE per interval.
TOUCH_INTERVAL = timedelta(seconds=5)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_bridge(owner_id: str, name: str = "Bridge") -> tuple[Bridge, str]:
    """Registers a bridge; returns it with its bearer token (shown once, stored hashed)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return create_bridge_with_token(owner_id, name, token), token


def create_bridge_with_token(owner_id: str, name: str, token: str) -> Bridge:
    """Registers a bridge with a token chosen by the caller (the sandbox's fixed demo token)."""
    bridge = Bridge(owner_id=owner_id, name=name, token_hash=hash_token(token))
    db.session.add(bridge)
    db.session.flush()
    return bridge


def list_bridges(owner_id: str | None = None) -> list[Bridge]:
    query = select(Bridge).order_by(Bridge.name, Bridge.id)
    if owner_id is not None:
        query = query.where(Bridge.owner_id == owner_id)
    return list(db.session.scalars(query))


def revoke_token(bridge: Bridge) -> None:
    """The bridge's token stops working at once (a lost or stolen gateway); its locks stay registered.

    The stored digest is replaced by one of a random value nobody holds. A new
    token is issued with rotate_token().
    """
    bridge.token_hash = hash_token(secrets.token_urlsafe(32) + ":revoked")


def owned_bridges(owner_id: str) -> list[Bridge]:
    return list(db.session.scalars(select(Bridge).where(Bridge.owner_id == owner_id).order_by(Bridge.id)))


def owned_bridge(owner_id: str, bridge_id: str) -> Bridge:
    """The owner's bridge; another owner's is as good as missing."""
    bridge = db.session.get(Bridge, bridge_id) if len(bridge_id) <= 36 else None
    if bridge is None or bridge.owner_id != owner_id:
        raise not_found("Bridge")
    return bridge


def authenticate(token: str) -> Bridge | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    return db.session.scalar(select(Bridge).where(Bridge.token_hash == hash_token(token)))


def touch(bridge: Bridge, at: datetime | None = None) -> None:
    """Every bridge call is a heartbeat: refresh last_seen_at, come back online if it was off."""
    at = at or clock_now()
    if not bridge.online:
        # Conditional: of concurrent first calls after an outage, one reports bridge.online.
        came_back = db.session.execute(
            update(Bridge)
            .where(Bridge.id == bridge.id, Bridge.online.is_(False))
            .values(online=True, last_seen_at=at)
            .execution_options(synchronize_session=False)
        ).rowcount
        bridge.online, bridge.last_seen_at = True, at
        if came_back:
            record_event("bridge.online", device=bridge, data={"bridge_id": bridge.id})
        return
    if bridge.last_seen_at is None or at - bridge.last_seen_at >= TOUCH_INTERVAL:
        bridge.last_seen_at = at


def mark_offline(bridge: Bridge) -> None:
    """The bridge went silent: it and every lock behind it are offline, each with its event."""
    if bridge.online:
        bridge.online = False
        record_event("bridge.offline", device=bridge, data={"bridge_id": bridge.id})
    locks = db.session.scalars(
        select(Lock).where(Lock.bridge_id == bridge.id, Lock.online.is_(True))
    ).all()
    for lock in locks:
        set_lock_online(lock, False)


def set_lock_online(lock: Lock, online: bool) -> None:
    if lock.online == online:
        return
    lock.online = online
    record_event(
        "device.online" if online else "device.offline",
        device=lock,
        data={"lock_id": lock.id, "bridge_id": lock.bridge_id},
    )


def silent_bridges(timeout_seconds: float, at: datetime | None = None) -> list[Bridge]:
    cutoff = (at or clock_now()) - timedelta(seconds=timeout_seconds)
    return list(
        db.session.scalars(
            select(Bridge).where(Bridge.online.is_(True), Bridge.last_seen_at < cutoff)
        ).all()
    )


def sweep_silent_bridges(timeout_seconds: float, at: datetime | None = None) -> int:
    """Marks every bridge silent for longer than the timeout offline. Returns how many."""
    at = at or clock_now()
    count = 0
    for bridge in silent_bridges(timeout_seconds, at):
        # Re-check under the row lock: a heartbeat may have landed since the SELECT.
        cutoff = at - timedelta(seconds=timeout_seconds)
        claimed = db.session.execute(
            update(Bridge)
            .where(Bridge.id == bridge.id, Bridge.online.is_(True), Bridge.last_seen_at < cutoff)
            .values(online=False)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not claimed:
            continue
        mark_offline(bridge)
        count += 1
    return count


def presence_online(bridge: Bridge, session: int) -> bool:
    """The bridge's MQTT connection `session` is up (its retained presence says so).

    False for a message about a session already known or older (a late
    retained copy, the same message seen by a second gateway): nothing
    changes then, and only the gateway that got True takes the bridge's leases back.
    """
    claimed = db.session.execute(
        update(Bridge)
        .where(Bridge.id == bridge.id,
               (Bridge.presence_session.is_(None)) | (Bridge.presence_session < session))
        .values(presence_session=session)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        return False
    bridge.presence_session = session
    touch(bridge)
    return True


def presence_offline(bridge: Bridge, session: int) -> bool:
    """The broker published the will of connection `session`: offline at once, unless a newer one is up."""
    claimed = db.session.execute(
        update(Bridge)
        .where(Bridge.id == bridge.id, Bridge.presence_session == session, Bridge.online.is_(True))
        .values(online=False)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        return False
    bridge.online = True  # what the row said before the UPDATE: mark_offline reports that transition
    mark_offline(bridge)
    return True


def rotate_token(bridge: Bridge) -> str:
    """A new bearer token for the bridge (the old one stops working at commit); returns it, shown once."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    bridge.token_hash = hash_token(token)
    return token
