"""Per-worker caches of the two reads Seam makes most: a bearer token's check and an owner's lock list.

A cached read is only as good as its invalidation, so an entry is used only
while it cannot be stale by more than the notification delay:

* Every commit that changes what an entry was built from sends `cache:...`
  wake-ups with the commit (`wakeups.notify`: pg_notify is transactional,
  Redis publishes after the commit), found by watching the ORM flushes and
  bulk statements, so no write path has to remember to invalidate.
* Entries are served only while this process hears every other process's
  commits: the wake-up listener (PostgreSQL LISTEN or Redis) is connected and
  has not reconnected since the entry was stored (a reconnect may have missed
  notifications). Without a cross-process transport (SQLite without
  REDIS_URL) nothing is cached.
* A read that overlaps any invalidation never stores its result (the
  generation check), so a slow reader cannot put back what was just dropped.
* Every entry also expires after `max_age`, the last line of defence.

Channels: `cache:token:<sha256>` (one token), `cache:lock:<id>` (lists that
show that lock), `cache:account:<id>` (that account's list and tokens),
`cache:all`.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session

from provider.services import wakeups

PREFIX = "cache:"
ALL = PREFIX + "all"
# A bound even if every notification were lost: well under a token's hour.
DEFAULT_MAX_AGE_SECONDS = 30.0
DEFAULT_MAX_ENTRIES = 10_000
# What a worker may spend on cached reads, by the callers' own estimates of an entry's
# size: web workers stay within their memory budget however many owners Seam polls.
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
# Execution option for statements that take a row lock and change nothing.
NEUTRAL = "read_cache_neutral"


def token_channel(token_digest: str) -> str:
    return f"{PREFIX}token:{token_digest}"


def lock_channel(lock_id: str) -> str:
    return f"{PREFIX}lock:{lock_id}"


def account_channel(account_id: str) -> str:
    return f"{PREFIX}account:{account_id}"


@dataclass(frozen=True)
class Ticket:
    """What a reader saw before reading the database; a store with a stale ticket is refused."""

    generation: int
    epoch: int


@dataclass
class _Entry:
    value: Any
    epoch: int
    stored_at: float
    channels: frozenset[str]
    weight: int


class ReadCache:
    """key -> value, dropped by channel; thread-safe; one per process and database transport."""

    def __init__(
        self,
        epoch: Callable[[], int | None],
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_age: float = DEFAULT_MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._epoch = epoch
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._bytes = 0
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._by_channel: dict[str, set[Hashable]] = {}
        self._generation = 0
        self.hits = 0
        self.misses = 0

    def ticket(self) -> Ticket | None:
        """Take before reading the database; None: caching is off (no live cross-process transport)."""
        epoch = self._epoch()
        if epoch is None:
            return None
        with self._lock:
            return Ticket(self._generation, epoch)

    def get(self, key: Hashable) -> Any | None:
        epoch = self._epoch()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            if epoch != entry.epoch or self._clock() - entry.stored_at > self._max_age:
                self._drop(key)
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry.value

    def put(self, key: Hashable, value: Any, ticket: Ticket | None, channels: Iterable[str],
            weight: int = 512) -> bool:
        """Stores unless anything was invalidated (or the transport reconnected) since `ticket`."""
        if ticket is None:
            return False
        with self._lock:
            if ticket.generation != self._generation or self._epoch() != ticket.epoch:
                return False
            self._drop(key)
            entry = _Entry(value, ticket.epoch, self._clock(), frozenset(channels), weight)
            self._entries[key] = entry
            self._bytes += weight
            for channel in entry.channels:
                self._by_channel.setdefault(channel, set()).add(key)
            while len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
                self._drop(next(iter(self._entries)))
            return True

    def invalidate(self, channel: str) -> None:
        with self._lock:
            self._generation += 1
            if channel == ALL:
                self._entries.clear()
                self._by_channel.clear()
                self._bytes = 0
                return
            for key in list(self._by_channel.get(channel, ())):
                self._drop(key)

    def clear(self) -> None:
        self.invalidate(ALL)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _drop(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self._bytes -= entry.weight
        for channel in entry.channels:
            keys = self._by_channel.get(channel)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_channel[channel]


# --- Which commits invalidate what ----------------------------------------------------------

# Tables whose rows a cached read is built from, and what a change to one row invalidates.
_ROW_CHANNELS: dict[str, Callable[[Any, bool], list[str]]] = {}
# Tables where any change (or a bulk statement) drops everything: rare writes, wide effects.
_WIDE_TABLES: set[str] = set()


def watch_rows(table: str, channels: Callable[[Any, bool], list[str]]) -> None:
    """`channels(obj, created_or_deleted)` names what a flushed change of one row invalidates."""
    _ROW_CHANNELS[table] = channels


def watch_wide(*tables: str) -> None:
    _WIDE_TABLES.update(tables)


def _table_of(obj: Any) -> str | None:
    return getattr(type(obj), "__tablename__", None)


def _changed(obj: Any) -> bool:
    state = inspect(obj)
    return any(attr.history.has_changes() for attr in state.attrs)


@event.listens_for(Session, "before_flush")
def _collect_before_flush(session: Session, flush_context: Any, instances: Any) -> None:
    # Changes are read before the flush clears their history.
    channels: set[str] = session.info.setdefault("read_cache.channels", set())
    for obj in session.new:
        _add(channels, obj, True)
    for obj in session.deleted:
        _add(channels, obj, True)
    for obj in session.dirty:
        if _changed(obj):
            _add(channels, obj, False)


def _add(channels: set[str], obj: Any, created_or_deleted: bool) -> None:
    table = _table_of(obj)
    if table in _WIDE_TABLES:
        channels.add(ALL)
    elif table in _ROW_CHANNELS:
        channels.update(_ROW_CHANNELS[table](obj, created_or_deleted))


@event.listens_for(Session, "after_flush")
def _notify_after_flush(session: Session, flush_context: Any) -> None:
    for channel in sorted(session.info.pop("read_cache.channels", None) or ()):
        _send(session, channel)


@event.listens_for(Session, "do_orm_execute")
def _bulk_statement(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete) or state.execution_options.get(NEUTRAL):
        return
    table = getattr(getattr(state.statement, "table", None), "name", None)
    if table in _WIDE_TABLES or table in _ROW_CHANNELS:
        _send(state.session, ALL)


def _send(session: Session, channel: str) -> None:
    # Other processes hear it through the wake-ups; this one drops its entries at the commit
    # itself, so the request that revoked a token never meets it again in its own worker.
    wakeups.notify(channel)
    session.info.setdefault("read_cache.sent", set()).add(channel)


@event.listens_for(Session, "after_commit")
def _invalidate_here(session: Session) -> None:
    for channel in session.info.pop("read_cache.sent", None) or ():
        for cache in list(_caches.values()):
            cache.invalidate(channel)


@event.listens_for(Session, "after_soft_rollback")
def _forget_on_rollback(session: Session, previous_transaction: Any) -> None:
    if not session.in_transaction():
        session.info.pop("read_cache.sent", None)
        session.info.pop("read_cache.channels", None)


# --- One cache per database transport in this process ----------------------------------------

_caches: dict[tuple[str, str], ReadCache] = {}
_caches_lock = threading.Lock()
# Engines of apps configured with PROVIDER_READ_CACHE off.
_disabled: weakref.WeakSet[Any] = weakref.WeakSet()


def init_app(app: Any) -> None:
    if not app.config.get("PROVIDER_READ_CACHE", True):
        from provider.extensions import db

        with app.app_context():
            _disabled.add(db.engine)


def for_session(session: Session) -> ReadCache | None:
    """This process's cache for the session's database, or None when invalidation cannot reach us."""
    if session.get_bind() in _disabled:
        return None
    transport = wakeups.transport_of(session)
    if transport is None:
        return None
    with _caches_lock:
        cache = _caches.get(transport)
        if cache is None:
            cache = ReadCache(lambda: wakeups.hub.listener_epoch(*transport))
            _caches[transport] = cache
            wakeups.hub.subscribe(PREFIX, _invalidator(transport))
    wakeups.hub.ensure_listener(*transport)
    return cache


def _invalidator(transport: tuple[str, str]) -> Callable[[str], None]:
    def invalidate(channel: str) -> None:
        cache = _caches.get(transport)
        if cache is not None:
            cache.invalidate(channel)

    return invalidate


def reset() -> None:
    """Forgets every cache of this process (tests)."""
    with _caches_lock:
        for cache in _caches.values():
            cache.clear()


# --- What the cached reads are built from ----------------------------------------------------


def _lock_channels(lock: Any, created_or_deleted: bool) -> list[str]:
    channels = [lock_channel(lock.id)] if lock.id else []
    owner = inspect(lock).attrs.owner_id.history
    if created_or_deleted or owner.has_changes():
        owners = {lock.owner_id, *owner.deleted, *owner.added}
        channels += [account_channel(o) for o in owners if o]
    return channels


watch_rows("locks", _lock_channels)
# A share adds the lock to (or removes it from) one more account's list.
watch_rows("lock_shares", lambda share, _: [account_channel(share.account_id), lock_channel(share.lock_id)])
watch_rows("oauth_tokens", lambda token, _: [token_channel(token.access_token_hash)])
# Accounts and clients change rarely and reach every token of theirs: drop everything.
watch_wide("accounts", "oauth_clients")
