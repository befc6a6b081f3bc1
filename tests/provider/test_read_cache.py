"""The per-worker read caches: a cached token or lock list is never served once a commit changed it.

On PostgreSQL (and SQLite with Redis) the caches are on and invalidated by
the wake-up channel; on SQLite alone they are off, and the same behaviour
tests pass through the database.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from provider.extensions import db
from provider.models import Lock
from provider.services import locks, oauth_tokens, read_cache, wakeups
from tests.provider.devices.conftest import make_site


def _until(condition, what: str, limit: float = 15.0) -> None:
    end = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < end, f"gave up waiting for {what}"
        time.sleep(0.005)


def _cache_live():
    """The process's cache for the test database once its listener is connected (None on SQLite)."""
    cache = read_cache.for_session(db.session())
    if cache is not None:
        transport = wakeups.transport_of(db.session())
        _until(lambda: wakeups.hub.listener_epoch(*transport) is not None, "the wake-up listener")
    return cache


# --- The cache itself ---------------------------------------------------------------------------


class _Epoch:
    def __init__(self) -> None:
        self.value: int | None = 1

    def __call__(self) -> int | None:
        return self.value


def test_a_read_that_overlaps_an_invalidation_is_not_stored():
    cache = read_cache.ReadCache(_Epoch())
    ticket = cache.ticket()
    cache.invalidate(read_cache.lock_channel("l1"))  # a commit lands while the reader reads
    assert not cache.put("k", "stale", ticket, [read_cache.lock_channel("l1")])
    assert cache.get("k") is None


def test_an_entry_is_dropped_by_any_of_its_channels_and_by_all():
    cache = read_cache.ReadCache(_Epoch())
    cache.put("a", 1, cache.ticket(), ["cache:lock:1", "cache:account:x"])
    cache.put("b", 2, cache.ticket(), ["cache:lock:2"])
    cache.invalidate("cache:account:x")
    assert cache.get("a") is None and cache.get("b") == 2
    cache.invalidate(read_cache.ALL)
    assert cache.get("b") is None and len(cache) == 0


def test_entries_stored_before_a_listener_reconnect_are_not_served():
    epoch = _Epoch()
    cache = read_cache.ReadCache(epoch)
    cache.put("a", 1, cache.ticket(), [])
    epoch.value = 2  # reconnected: notifications may have been missed meanwhile
    assert cache.get("a") is None


def test_nothing_is_cached_while_no_listener_is_connected():
    epoch = _Epoch()
    epoch.value = None
    cache = read_cache.ReadCache(epoch)
    assert cache.ticket() is None
    assert not cache.put("a", 1, cache.ticket(), [])


def test_entries_expire_after_max_age():
    now = [0.0]
    cache = read_cache.ReadCache(_Epoch(), max_age=5, clock=lambda: now[0])
    cache.put("a", 1, cache.ticket(), [])
    now[0] = 6
    assert cache.get("a") is None


def test_the_oldest_entry_goes_first_when_full():
    cache = read_cache.ReadCache(_Epoch(), max_entries=2)
    for key in "abc":
        cache.put(key, key, cache.ticket(), [f"cache:lock:{key}"])
    assert cache.get("a") is None and cache.get("c") == "c"


def test_sqlite_without_redis_caches_nothing(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the SQLite-alone rule")
    assert read_cache.for_session(db.session()) is None


# --- Tokens -----------------------------------------------------------------------------------


def test_a_revoked_token_is_refused_on_the_next_request(app, client, account, make_token):
    cache = _cache_live()
    token = make_token(account)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/locks", headers=headers).status_code == 200
    assert client.get("/locks", headers=headers).status_code == 200  # from the cache, if any
    if cache is not None:
        assert cache.get(("token", oauth_tokens.digest(token))) is not None
    oauth_tokens.revoke_access_token(oauth_tokens.find_by_access_token(token))
    db.session.commit()
    assert client.get("/locks", headers=headers).status_code == 401


def test_a_replayed_code_revokes_the_cached_token_of_its_grant(app, client, account, oauth_client):
    _cache_live()
    issued = oauth_tokens.issue_token(oauth_client, account, "locks.read")
    db.session.commit()
    headers = {"Authorization": f"Bearer {issued['access_token']}"}
    assert client.get("/locks", headers=headers).status_code == 200
    row = oauth_tokens.find_by_access_token(issued["access_token"])
    oauth_tokens.revoke_grant(row.grant_id)  # what a second exchange of the code does
    db.session.commit()
    assert client.get("/locks", headers=headers).status_code == 401


# --- Lock lists -------------------------------------------------------------------------------


def test_a_lock_change_shows_in_the_next_list(app, client, account, auth_headers):
    _cache_live()
    site = make_site(app, account)
    db.session.commit()
    before = client.get("/locks", headers=auth_headers).get_json()["locks"]
    assert {lock["battery_level"] for lock in before} == {65}
    lock = db.session.get(Lock, site.lock_ids[0])
    lock.battery_level = 12
    db.session.commit()
    after = {lock["lock_id"]: lock for lock in client.get("/locks", headers=auth_headers).get_json()["locks"]}
    assert after[site.lock_ids[0]]["battery_level"] == 12


def test_a_new_lock_shows_in_the_next_list(app, client, account, auth_headers):
    _cache_live()
    site = make_site(app, account, count=1)
    db.session.commit()
    assert len(client.get("/locks", headers=auth_headers).get_json()["locks"]) == 1
    locks.add_lock(owner_id=account.id, bridge=site.bridge, name="Shed", ble_address="C0:FF:EE:00:01:00",
                   code_capacity=5, online=True, lock_state="locked", battery_level=80)
    db.session.commit()
    assert len(client.get("/locks", headers=auth_headers).get_json()["locks"]) == 2


def test_another_owners_list_is_never_served(app, client, account, other_account, make_token):
    _cache_live()
    make_site(app, account)
    db.session.commit()
    mine = {"Authorization": f"Bearer {make_token(account)}"}
    theirs = {"Authorization": f"Bearer {make_token(other_account)}"}
    assert len(client.get("/locks", headers=mine).get_json()["locks"]) == 2
    assert client.get("/locks", headers=theirs).get_json()["locks"] == []


def test_the_compiled_dump_equals_the_schema(app, account):
    from provider.schemas.locks import dump_lock, lock_schema

    site = make_site(app, account)
    site.locks[0].latitude, site.locks[0].longitude = 52.5, 13.4
    db.session.commit()
    for lock in site.locks:
        assert dump_lock(lock) == lock_schema.dump(lock)


# --- Across processes -------------------------------------------------------------------------

_OTHER_WORKER = textwrap.dedent("""
    import sys
    from provider import create_app
    from provider.extensions import db
    from provider.models import Lock
    from provider.services import oauth_tokens
    app = create_app({"SQLALCHEMY_DATABASE_URI": sys.argv[1], "SECRET_KEY": "x" * 32})
    with app.app_context():
        lock = db.session.get(Lock, sys.argv[2])
        lock.battery_level = 3
        oauth_tokens.revoke_access_token(oauth_tokens.find_by_access_token(sys.argv[3]))
        db.session.commit()
""")


def test_a_commit_in_another_process_drops_this_workers_entries(app, client, account, make_token):
    cache = _cache_live()
    if cache is None:
        pytest.skip("caching needs a cross-process transport (PostgreSQL, or Redis)")
    site = make_site(app, account)
    token = make_token(account)
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/locks", headers=headers).status_code == 200
    assert cache.get(("locks", account.id)) is not None
    url = db.engine.url.render_as_string(hide_password=False)
    subprocess.run([sys.executable, "-c", _OTHER_WORKER, url, site.lock_ids[0], token], check=True)
    _until(lambda: cache.get(("locks", account.id)) is None, "the other process's invalidation")
    assert cache.get(("token", oauth_tokens.digest(token))) is None
    assert client.get("/locks", headers=headers).status_code == 401


def test_the_cache_keeps_within_its_memory_budget():
    cache = read_cache.ReadCache(_Epoch(), max_bytes=10_000)
    for n in range(10):
        cache.put(n, n, cache.ticket(), [], weight=3_000)
    assert len(cache) == 3 and cache.get(9) == 9 and cache.get(0) is None
