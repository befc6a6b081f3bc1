"""Which bridge serves a lock: what bridges hear (scan results with RSSI), and the one assignment.

A lock has at most one bridge (one column, locks.bridge_id). The cloud picks
the owner's bridge that heard the lock loudest within SIGHTING_MAX_AGE, or the
one the owner or the operator names. Moving a lock hands its queued commands
to the new bridge; a command already leased stays with the bridge holding it
(its result is accepted from that bridge only, as before).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update

from provider.clock import now
from provider.errors import ApiError, not_found
from provider.extensions import db
from provider.models import Bridge, BridgeSighting, Command, Lock
from provider.services import wakeups
from provider.services.commands import bridge_channel
from provider.services.events import record_event

SIGHTING_MAX_AGE = timedelta(minutes=15)
MAX_SCAN_RESULTS = 200


def record_scan(bridge: Bridge, results: list[dict[str, Any]]) -> int:
    """Replaces the bridge's sightings with this scan (addresses upper-cased); returns how many."""
    at = now()
    loudest: dict[str, int] = {}
    for result in results:
        address = str(result["ble_address"]).upper()
        loudest[address] = max(int(result["rssi"]), loudest.get(address, -1000))
    db.session.execute(delete(BridgeSighting).where(BridgeSighting.bridge_id == bridge.id))
    db.session.add_all(
        BridgeSighting(bridge_id=bridge.id, ble_address=address, rssi=rssi, seen_at=at)
        for address, rssi in loudest.items()
    )
    return len(loudest)


def hearing(lock: Lock) -> list[tuple[Bridge, int]]:
    """The owner's bridges that heard the lock recently, loudest first."""
    cutoff = now() - SIGHTING_MAX_AGE
    rows = db.session.execute(
        select(Bridge, BridgeSighting.rssi)
        .join(BridgeSighting, BridgeSighting.bridge_id == Bridge.id)
        .where(BridgeSighting.ble_address == lock.ble_address, BridgeSighting.seen_at >= cutoff,
               Bridge.owner_id == lock.owner_id)
        .order_by(BridgeSighting.rssi.desc(), Bridge.id)
    ).all()
    return [(bridge, rssi) for bridge, rssi in rows]


def assign(lock: Lock, bridge_id: str | None = None) -> Bridge:
    """Serves the lock from `bridge_id` (one of the owner's bridges), or from the loudest hearer."""
    if bridge_id is not None:
        bridge = db.session.get(Bridge, bridge_id) if len(bridge_id) <= 36 else None
        if bridge is None or bridge.owner_id != lock.owner_id:
            raise not_found("Bridge")
    else:
        heard = hearing(lock)
        if not heard:
            raise ApiError(409, "NO_BRIDGE_HEARS_LOCK",
                              "None of the owner's bridges has heard this lock recently; name one.")
        bridge = heard[0][0]
    if lock.bridge_id == bridge.id:
        return bridge
    old = lock.bridge_id
    lock.bridge_id = bridge.id
    db.session.execute(
        update(Command)
        .where(Command.lock_id == lock.id, Command.status == "queued")
        .values(bridge_id=bridge.id)
        .execution_options(synchronize_session=False)
    )
    if lock.online and not bridge.online:
        lock.online = False
        record_event("device.offline", device=lock, data={"lock_id": lock.id, "bridge_id": bridge.id})
    if old is not None:
        wakeups.notify(bridge_channel(old))  # its agent re-reads its lock list
    wakeups.notify(bridge_channel(bridge.id))
    return bridge


def detach(lock: Lock, *, announce: bool = True) -> None:
    """No bridge serves the lock any more (its bridge was removed or belongs to someone else).

    `announce` False: no device.offline (a transfer: the new owner hears device.added instead).
    """
    if lock.bridge_id is None:
        return
    wakeups.notify(bridge_channel(lock.bridge_id))
    lock.bridge_id = None
    if not announce:
        lock.online = False
    elif lock.online:
        lock.online = False
        record_event("device.offline", device=lock, data={"lock_id": lock.id, "bridge_id": None})


def remove_bridge(bridge: Bridge) -> int:
    """The owner gives the bridge up: its locks lose their bridge, the bridge and its token are gone.

    Returns how many locks it served. Its commands go with it (their outcome
    can no longer be reported); the locks' codes come back through the next
    bridge's reconciliation.
    """
    served = list(db.session.scalars(select(Lock).where(Lock.bridge_id == bridge.id)))
    for lock in served:
        detach(lock)
    db.session.flush()
    db.session.execute(delete(Command).where(Command.bridge_id == bridge.id))
    db.session.execute(delete(BridgeSighting).where(BridgeSighting.bridge_id == bridge.id))
    db.session.delete(bridge)
    return len(served)
