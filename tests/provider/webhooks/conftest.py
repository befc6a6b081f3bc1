from __future__ import annotations

import itertools

import pytest

from provider.dispatcher import Dispatcher, Settings
from provider.extensions import db
from provider.services import webhooks
from provider.services.events import record_event
from tests.provider.webhooks.receiver import Receiver

# Generous timeout: a loaded CI machine must not turn a fault-free test into a retry.
FAST = Settings(timeout=10.0, lease=5.0, concurrency=4, idle_sleep=0.01, prune_every=1e9)


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


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
        event = record_event(event_type, user_id=user_id, data=data or {})
        if device_id is not None:
            # Stand-in for a Lock row: record_event(device=lock) sets these the same way.
            event.device_id = device_id
            event.device_seq = next(seqs.setdefault(device_id, itertools.count(1)))
        db.session.commit()
        return event

    return _emit
