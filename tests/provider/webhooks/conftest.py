from __future__ import annotations

import itertools

import pytest

from provider.dispatcher import Dispatcher, Settings
from provider.extensions import db
from provider.services import webhooks
from provider.services.events import record_event
from tests.openapi import assert_event_matches_spec
from tests.provider.webhooks.receiver import Receiver

# Generous timeout: a loaded CI machine must not turn a fault-free test into a retry.
FAST = Settings(timeout=10.0, lease=5.0, concurrency=4, idle_sleep=0.01, prune_every=1e9)


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()
    # Every delivery any test received is what openapi.yaml's webhooks: say it is.
    for got in r.received:
        assert_event_matches_spec(got.body)


_AT = "2026-12-01T12:00:00Z"


def sample_data(event_type: str, device_id: str | None) -> dict:
    """Data of the shape the cloud records for each type, about a stand-in device."""
    lock = {"lock_id": device_id or "lock-0"}
    code = {"access_code_id": "ac-1", "name": "Guest", "status": "success"}
    window = {"starts_at": None, "ends_at": None}
    return {
        "device.added": {**lock, "device_type": "smart_lock"},
        "device.removed": lock,
        "device.online": {**lock, "bridge_id": "bridge-1"},
        "device.offline": {**lock, "bridge_id": "bridge-1"},
        "battery.low": {**lock, "battery_level": 15},
        "device.low_battery": {**lock, "battery_level": 15},
        "battery.replaced": {**lock, "battery_level": 100, "previous_level": 10},
        "bridge.offline": {"bridge_id": device_id or "bridge-0"},
        "bridge.online": {"bridge_id": device_id or "bridge-0"},
        "device.time_wrong": {**lock, "device_time": _AT, "drift_seconds": 600.0},
        "lock.action_completed": {**lock, "action_id": "act-1", "custom_id": None, "action": "unlock",
                                  "action_type": "unlock", "status": "success", "performed_via": "remote_api"},
        "access_code.created": {**lock, **code, **window, "code": "4829",
                                "access_code": {"access_code_id": "ac-1", "lock_id": lock["lock_id"], "name": "Guest",
                                                "code": "4829", **window, "status": "active"}},
        "access_code.deleted": {**lock, **code},
        "access_code.used": {**lock, "access_code_id": "ac-1", "name": "Guest"},
        "access_code.incorrect_attempt": {**lock, "pin": "0000"},
        "device.tampered": {**lock, "tamper_kind": "case_opened"},
        "lock.access_denied": {**lock, "reason": "keypad_lockout"},
        "device.door_opened": {**lock, "door_state": "open", "door_open": True},
        "device.door_closed": {**lock, "door_state": "closed", "door_open": False},
    }.get(event_type, {})


@pytest.fixture
def dispatcher(app):
    d = Dispatcher(app, settings=FAST, sweep=lambda: None)
    yield d
    d.close()


@pytest.fixture
def make_webhook(app):
    def _make(url: str, events=None):
        hook, secret = webhooks.create_webhook(url, events)
        db.session.commit()
        return hook, secret

    return _make




@pytest.fixture
def emit(app):
    """Records and commits one event; device_id given -> the next per-device sequence."""
    seqs: dict[str, itertools.count] = {}

    def _emit(event_type="lock.action_completed", device_id=None, user_id="user-1", data=None):
        event = record_event(event_type, user_id=user_id, data=sample_data(event_type, device_id) if data is None else data)
        if device_id is not None:
            # Stand-in for a Lock row: record_event(device=lock) sets these the same way.
            event.device_id = device_id
            event.device_seq = next(seqs.setdefault(device_id, itertools.count(1)))
        db.session.commit()
        return event

    return _emit
