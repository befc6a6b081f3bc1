"""Wake-ups for waiting requests: a nudge that something changed, never the data itself.

A long-poll (a bridge waiting for commands, a legacy /unlock waiting for its
action) re-reads the database when it is woken, and at the latest after its
poll interval: the database stays the only truth, a lost wake-up costs one
interval at most.

One hub per process: channel -> waiters. `notify(channel)` marks the channel in
the current transaction; the waiters hear it once the transaction commits
(after a rollback, never):

* PostgreSQL: ``pg_notify`` inside the transaction (PostgreSQL delivers it at
  commit, to every process); one LISTEN connection and thread per process and
  database fans it out, reconnecting after an error.
* Another database with REDIS_URL set: a Redis PUBLISH after the commit; one
  subscriber thread per process.
* Otherwise (SQLite alone): only waiters of the same process hear it; other
  processes fall back to their bounded poll.

One mechanism at a time: with a connected transport the committing process
hears its own notifications through it too; without one (not yet connected,
reconnecting, Redis down) it wakes its own waiters directly after the commit.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.orm import Session

from provider.extensions import db

_LOGGER = logging.getLogger(__name__)

PG_CHANNEL = "provider_wakeups"
REDIS_CHANNEL = "provider:wakeups"
_PENDING = "wakeups.pending"
# Pause between reconnection attempts of a listener (doubles up to the maximum).
RECONNECT_MIN_SECONDS = 0.1
RECONNECT_MAX_SECONDS = 5.0
# How often a listener thread looks at its stop flag while no notification arrives.
LISTEN_TICK_SECONDS = 1.0


class Waiter:
    """One waiting request's registration; a wake-up that arrives before `wait()` is kept."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self._event = threading.Event()

    def wake(self) -> None:
        self._event.set()

    def wait(self, timeout: float) -> bool:
        """True when woken (possibly before this call), False after `timeout`; re-arms itself."""
        woken = self._event.wait(max(0.0, timeout))
        self._event.clear()
        return woken


class Hub:
    """channel -> waiters of this process, plus the listener threads that feed it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, set[Any]] = {}
        self._listeners: dict[tuple[str, str], _Listener] = {}
        self._subscribers: list[tuple[str, Callable[[str], None]]] = []
        self._pid = os.getpid()

    def notify_local(self, channel: str) -> None:
        with self._lock:
            waiters = list(self._waiters.get(channel, ()))
            subscribers = [cb for prefix, cb in self._subscribers if channel.startswith(prefix)]
        for waiter in waiters:
            waiter.wake()
        for callback in subscribers:
            callback(channel)

    def subscribe(self, prefix: str, callback: Callable[[str], None]) -> None:
        """Calls `callback(channel)` for every notification whose channel starts with `prefix`."""
        with self._lock:
            self._subscribers.append((prefix, callback))

    def wake_all(self) -> None:
        """After a listener (re)connects: what it missed meanwhile is unknown, everyone looks again."""
        with self._lock:
            waiters = [w for group in self._waiters.values() for w in group]
        for waiter in waiters:
            waiter.wake()

    @contextmanager
    def listening(self, channel: str, waiter: Any = None) -> Iterator[Any]:
        """Registers a waiter for the block; register BEFORE reading the database, so no wake-up falls between.

        `waiter`: any object with `wake()` (called from whichever thread hears
        the notification); by default a thread-blocking `Waiter`.
        """
        waiter = waiter if waiter is not None else Waiter(channel)
        self.add(channel, waiter)
        try:
            yield waiter
        finally:
            self.discard(channel, waiter)

    def add(self, channel: str, waiter: Any) -> None:
        """Registers `waiter` (anything with `wake()`) until `discard`; `listening` does both for a block."""
        with self._lock:
            self._waiters.setdefault(channel, set()).add(waiter)

    def discard(self, channel: str, waiter: Any) -> None:
        with self._lock:
            group = self._waiters.get(channel)
            if group is not None:
                group.discard(waiter)
                if not group:
                    del self._waiters[channel]

    def waiter_count(self, channel: str) -> int:
        with self._lock:
            return len(self._waiters.get(channel, ()))

    def ensure_listener(self, kind: str, url: str) -> _Listener:
        """Starts (once per process) the listener thread of a PostgreSQL database or a Redis server."""
        with self._lock:
            if self._pid != os.getpid():  # forked (gunicorn): the parent's threads did not come along
                self._pid = os.getpid()
                self._listeners.clear()
            listener = self._listeners.get((kind, url))
            if listener is None:
                factory = _PostgresListener if kind == "postgresql" else _RedisListener
                listener = factory(self, url)
                self._listeners[(kind, url)] = listener
                listener.start()
            return listener

    def listener_connected(self, kind: str, url: str) -> bool:
        return self.listener_epoch(kind, url) is not None

    def listener_epoch(self, kind: str, url: str) -> int | None:
        """Which connection of the listener is up (None: none is): nothing was missed within one epoch."""
        with self._lock:
            listener = self._listeners.get((kind, url)) if self._pid == os.getpid() else None
        if listener is None or not listener.connected.is_set():
            return None
        return listener.connections


class _Listener:
    """A daemon thread that holds one connection, hands notifications to the hub, and reconnects."""

    name = "listener"

    def __init__(self, hub: Hub, url: str) -> None:
        self.hub = hub
        self.url = url
        self.connected = threading.Event()
        self.connections = 0  # successful (re)connections, for tests and logs
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"wakeups-{self.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=LISTEN_TICK_SECONDS + 2)

    def _run(self) -> None:
        pause = RECONNECT_MIN_SECONDS
        failures = 0
        while not self._stop.is_set():
            try:
                self._listen()
            except Exception as err:  # any failure: drop the connection, reconnect
                failures += 1
                log = _LOGGER.warning if failures == 1 else _LOGGER.debug
                log("wake-up %s lost its connection (%s); reconnecting", self.name, type(err).__name__)
            else:
                failures = 0
            self.connected.clear()
            if self._stop.wait(pause):
                return
            pause = RECONNECT_MIN_SECONDS if failures <= 1 else min(pause * 2, RECONNECT_MAX_SECONDS)

    def _listening(self) -> None:
        """Called by _listen once subscribed: from here on nothing is missed."""
        self.connections += 1
        self.connected.set()
        self.hub.wake_all()

    def _listen(self) -> None:
        raise NotImplementedError


class _PostgresListener(_Listener):
    name = "postgresql"

    def _listen(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"LISTEN {PG_CHANNEL}")
            self._listening()
            while not self._stop.is_set():
                for note in conn.notifies(timeout=LISTEN_TICK_SECONDS):
                    self.hub.notify_local(note.payload)
                # notifies() ends quietly on timeout; a dead connection raises. Check it between ticks.
                if conn.closed or conn.broken:
                    raise ConnectionError("listener connection closed")


class _RedisListener(_Listener):
    name = "redis"

    def _listen(self) -> None:
        import redis

        client = redis.Redis.from_url(self.url, socket_connect_timeout=5, health_check_interval=10)
        pubsub = client.pubsub()
        try:
            pubsub.subscribe(REDIS_CHANNEL)
            while not self._stop.is_set():  # subscribed once the server confirms it
                confirmation = pubsub.get_message(timeout=LISTEN_TICK_SECONDS)
                if confirmation and confirmation.get("type") == "subscribe":
                    break
            self._listening()
            while not self._stop.is_set():
                message = pubsub.get_message(timeout=LISTEN_TICK_SECONDS)
                if message and message.get("type") == "message":
                    data = message["data"]
                    self.hub.notify_local(data.decode() if isinstance(data, bytes) else str(data))
        finally:
            pubsub.close()
            client.close()


hub = Hub()
# The app's engine -> its REDIS_URL, registered by init_app (apps of one process, e.g. in tests, differ).
_redis_for_engine: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
_publishers: dict[str, Any] = {}
_publishers_lock = threading.Lock()


def init_app(app: Any) -> None:
    """Records which Redis (REDIS_URL) carries this app's wake-ups when its database is not PostgreSQL."""
    redis_url = app.config.get("REDIS_URL")
    if redis_url:
        with app.app_context():
            _redis_for_engine[db.engine] = redis_url


def _transport(session: Any) -> tuple[str, str] | None:
    """("postgresql", libpq url) | ("redis", url) | None (this process only), for the session's database."""
    engine = session.get_bind()
    if engine.url.get_backend_name() == "postgresql":
        return "postgresql", engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    redis_url = _redis_for_engine.get(engine)
    return ("redis", redis_url) if redis_url else None


def notify(channel: str) -> None:
    """Wakes the waiters of `channel` once the current transaction commits (never after a rollback)."""
    session = db.session()
    if not session.in_transaction():
        session.begin()  # so that a rollback (which ignores a session with no transaction) drops it too
    pending = session.info.setdefault(_PENDING, set())
    if channel in pending:
        return
    pending.add(channel)
    if session.get_bind().dialect.name == "postgresql":
        # Transactional: PostgreSQL delivers it at commit, to every listening process (ours included).
        session.execute(text("SELECT pg_notify(:name, :payload)"), {"name": PG_CHANNEL, "payload": channel})


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    transport = _transport_of_bind(session)
    delivered = False  # by a transport that also reaches this process's waiters
    if transport is not None:
        kind, url = transport
        if kind == "redis":
            delivered = _publish(url, pending) and hub.listener_connected(kind, url)
        else:  # pg_notify went out with the commit
            delivered = hub.listener_connected(kind, url)
    if not delivered:
        for channel in pending:
            hub.notify_local(channel)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous_transaction: Any) -> None:
    # Any rollback() call (even with no transaction begun yet), except a savepoint's.
    if not session.in_transaction():
        session.info.pop(_PENDING, None)


def transport_of(session: Session) -> tuple[str, str] | None:
    """The cross-process transport of the session's database, or None (this process only)."""
    return _transport_of_bind(session)


def _transport_of_bind(session: Session) -> tuple[str, str] | None:
    try:
        return _transport(session)
    except Exception:  # a session without a bind has nobody to tell
        return None


def _publish(redis_url: str, channels: set[str]) -> bool:
    try:
        with _publishers_lock:
            client = _publishers.get(redis_url)
            if client is None:
                import redis

                client = redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)
                _publishers[redis_url] = client
        for channel in channels:
            client.publish(REDIS_CHANNEL, channel)
        return True
    except Exception as err:  # a lost wake-up costs one poll interval, never the change
        _LOGGER.warning("wake-up publish to Redis failed (%s); other processes fall back to polling",
                        type(err).__name__)
        return False


def start_listener() -> bool:
    """Starts this process's listener for the app's database (or Redis); False: no cross-process wake-ups.

    Needs an app context. `listening` does it on first use; a server that
    registers waiters straight on the hub (the asyncio bridge server) calls it once.
    """
    transport = _transport_of_bind(db.session())
    if transport is not None:
        hub.ensure_listener(*transport)
    return transport is not None


def hears_other_processes() -> bool:
    """True while this process's listener is connected, so commits of other processes wake
    its waiters (needs an app context); False: a waiter must also poll."""
    transport = _transport_of_bind(db.session())
    return transport is not None and hub.listener_connected(*transport)


def listening(channel: str) -> Any:
    """`with wakeups.listening(ch) as waiter:` read the database, then `waiter.wait(timeout)`; see wait_loop."""
    start_listener()
    return hub.listening(channel)


def wait_loop(
    channel: str,
    check: Callable[[], Any],
    *,
    seconds: float,
    poll_interval: float,
    sleep: Callable[[float], None] | None = None,
) -> Any:
    """Calls `check()` until it returns something truthy or `seconds` have passed; returns the last result.

    Between looks it waits for a wake-up of `channel`, at most `poll_interval`
    (the safety net: correctness never depends on the wake-up). A given
    `sleep` replaces the wake-ups (tests that drive the time).
    """
    deadline = time.monotonic() + seconds
    with listening(channel) as waiter:
        while True:
            result = check()
            remaining = deadline - time.monotonic()
            if result or remaining <= 0:
                return result
            pause = min(poll_interval, remaining)
            if sleep is not None:
                sleep(pause)
            else:
                waiter.wait(pause)
