"""Long-poll wake-ups: a waiter hears a committed change long before its poll interval ends.

Wake reasons are observed (Waiter.wait returns True when woken, False on its
timeout), never measured: the poll intervals here are long enough that a
missed wake-up shows up as False.
"""

from __future__ import annotations

import os
import threading
import time

import pytest
from sqlalchemy import text

from provider.extensions import db
from provider.models import Action
from provider.services import actions, commands, rate_limits, wakeups
from tests.provider.devices.conftest import make_site

LONG = 10.0  # a poll interval no passing test waits out
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _until(condition, what: str, limit: float = 15.0) -> None:
    """Waits (bounded) for a condition another thread brings about."""
    end = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < end, f"gave up waiting for {what}"
        time.sleep(0.01)


class WakeLog(list):
    """Every ended Waiter.wait of the test as (channel, woken); `waiting`: channels being waited on now."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting: list[str] = []


@pytest.fixture
def wake_log(monkeypatch):
    log = WakeLog()
    original = wakeups.Waiter.wait

    def recording(self, timeout):
        log.waiting.append(self.channel)
        woken = original(self, timeout)
        log.waiting.remove(self.channel)
        log.append((self.channel, woken))
        return woken

    monkeypatch.setattr(wakeups.Waiter, "wait", recording)
    return log


def _transport_ready() -> None:
    """With a cross-process transport, waits until its listener is connected: then it is the only path."""
    transport = wakeups._transport(db.session())
    if transport is not None:
        wakeups.hub.ensure_listener(*transport)
        _until(lambda: wakeups.hub.listener_connected(*transport), f"the {transport[0]} listener")


def test_hub_keeps_an_early_wake_up_and_forgets_the_waiter_after_its_block():
    hub = wakeups.Hub()
    with hub.listening("a") as first, hub.listening("a") as second, hub.listening("b") as other:
        hub.notify_local("a")  # before anyone waits: kept
        assert first.wait(LONG) and second.wait(LONG)
        assert not other.wait(0) and not first.wait(0)  # other channel untouched; re-armed after a wake
        assert hub.waiter_count("a") == 2
    assert hub.waiter_count("a") == 0 and hub.waiter_count("b") == 0


def test_notify_is_heard_at_commit_never_after_a_rollback(app):
    _transport_ready()
    with wakeups.listening("test:commit") as waiter:
        wakeups.notify("test:commit")
        assert not waiter.wait(0)  # not before the commit
        db.session.rollback()
        db.session.execute(text("SELECT 1"))
        db.session.commit()  # a later, unrelated commit does not resurrect it
        assert not waiter.wait(0.2)
        wakeups.notify("test:commit")
        db.session.commit()
        assert waiter.wait(LONG)


def _command_poller(app, bridge_id: str, got: dict) -> threading.Thread:
    def poll() -> None:
        with app.app_context():
            got["commands"] = commands.wait_for_commands(
                bridge_id, wait_seconds=LONG, limit=5, poll_interval=LONG
            )

    return threading.Thread(target=poll)


def _long_poll_is_woken_by_a_queued_command(app, account, wake_log) -> None:
    site = make_site(app, account, count=1)
    channel = commands.bridge_channel(site.bridge.id)
    got: dict = {}
    thread = _command_poller(app, site.bridge.id, got)
    thread.start()
    _until(lambda: wake_log.waiting == [channel], "the poller to wait (after its first, empty look)")
    actions.request_action(account.id, site.lock_ids[0], "unlock", limiter=rate_limits.DatabaseRateLimiter())
    db.session.commit()
    thread.join(LONG + 5)
    assert [c["type"] for c in got["commands"]] == ["unlock"]
    assert wake_log == [(channel, True)]  # one wait, ended by the notification, not the interval


def test_bridge_long_poll_is_woken_by_a_queued_command(app, account, wake_log):
    """SQLite: the committing thread wakes the poller in-process; PostgreSQL: through LISTEN/NOTIFY only."""
    _transport_ready()
    _long_poll_is_woken_by_a_queued_command(app, account, wake_log)


def test_bridge_long_poll_is_woken_through_redis(app, account, wake_log, monkeypatch):
    if db.engine.dialect.name == "postgresql":
        pytest.skip("a PostgreSQL deployment uses LISTEN/NOTIFY, not Redis")
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as err:
        pytest.skip(f"Redis not reachable at {REDIS_URL} ({type(err).__name__}); set TEST_REDIS_URL")
    monkeypatch.setitem(wakeups._redis_for_engine, db.engine, REDIS_URL)  # as init_app does for REDIS_URL
    assert wakeups._transport(db.session()) == ("redis", REDIS_URL)
    _transport_ready()  # connected: the commit publishes and skips the in-process shortcut
    _long_poll_is_woken_by_a_queued_command(app, account, wake_log)


def test_legacy_wait_is_woken_by_the_result(app, account, wake_log):
    _transport_ready()
    site = make_site(app, account, count=1)
    action = actions.request_action(account.id, site.lock_ids[0], "unlock",
                                    limiter=rate_limits.DatabaseRateLimiter())
    action_id = action.id
    db.session.commit()
    got: dict = {}

    def wait() -> None:
        with app.app_context():
            got["status"] = actions.wait_for_outcome(action_id, LONG, poll_interval=LONG).status

    thread = threading.Thread(target=wait)
    thread.start()
    channel = actions.action_channel(action_id)
    _until(lambda: wake_log.waiting == [channel], "the /unlock to wait")
    (command,) = site.helper.poll()
    site.helper.result(command["command_id"])
    thread.join(LONG + 5)
    assert got["status"] == "success"
    assert wake_log == [(channel, True)]
    assert db.session.get(Action, action_id).status == "success"


def test_injected_sleep_replaces_the_wake_ups_and_is_bounded_by_the_interval(app, account):
    site = make_site(app, account, count=1)
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        actions.request_action(account.id, site.lock_ids[0], "lock", limiter=rate_limits.DatabaseRateLimiter())
        db.session.commit()

    found = commands.wait_for_commands(site.bridge.id, wait_seconds=LONG, limit=5, poll_interval=0.25, sleep=sleep)
    assert [c["type"] for c in found] == ["lock"] and pauses == [0.25]


def test_postgres_listener_reconnects_after_its_connection_is_killed(app, wake_log):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    _transport_ready()
    listener = wakeups.hub.ensure_listener(*wakeups._transport(db.session()))
    before = listener.connections
    killed = db.session.execute(text(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE datname = current_database() AND query = :listen AND pid <> pg_backend_pid()"
    ), {"listen": f"LISTEN {wakeups.PG_CHANNEL}"}).scalar()
    db.session.commit()
    assert killed == 1
    _until(lambda: listener.connections > before and listener.connected.is_set(), "the listener to reconnect")
    with wakeups.listening("test:after-reconnect") as waiter:
        wakeups.notify("test:after-reconnect")
        db.session.commit()  # listener connected: delivered through it, not in-process
        assert waiter.wait(LONG)
    assert wake_log[-1] == ("test:after-reconnect", True)
