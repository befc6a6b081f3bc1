from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest

from provider.extensions import db
from provider.models import Bridge, Event, Lock
from provider.services import bridges, locks
from tests.provider.bridge_helper import BridgeHelper


@dataclass
class Site:
    bridge: Bridge
    token: str
    locks: list[Lock]
    helper: BridgeHelper

    @property
    def lock_ids(self) -> list[str]:
        return [lock.id for lock in self.locks]


_SITES = itertools.count(1)


def make_site(app: Any, account: Any, count: int = 2, online: bool = True) -> Site:
    bridge, token = bridges.create_bridge(account.id, "Hall bridge")
    site_no = next(_SITES) % 256  # one BLE address per lock: duplicates are refused
    rows = [
        locks.add_lock(
            owner_id=account.id,
            bridge=bridge,
            name=f"Door {n}",
            ble_address=f"C0:FF:EE:00:{site_no:02X}:{n:02X}",
            code_capacity=5,
            online=online,
            lock_state="locked",
            battery_level=65,
        )
        for n in range(count)
    ]
    bridge.online = online
    db.session.commit()
    helper = BridgeHelper(app.test_client(), token)
    if online:
        helper.all_online([lock.id for lock in rows])
    return Site(bridge, token, rows, helper)


@pytest.fixture
def site(app, account):
    return make_site(app, account)


@pytest.fixture
def other_site(app, other_account):
    return make_site(app, other_account, count=1)


@pytest.fixture
def events():
    """Event types written so far (optionally for one device), in order."""

    def _events(device_id: str | None = None) -> list[Event]:
        db.session.expire_all()
        query = db.select(Event).order_by(Event.seq)
        if device_id:
            query = query.where(Event.device_id == device_id)
        return list(db.session.scalars(query))

    return _events
