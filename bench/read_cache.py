"""How stale the per-worker read caches can be: a revoked token, a changed lock, across workers.

`provider serve` (gunicorn, several workers) on PostgreSQL; eight client
threads keep asking GET /locks so that every worker holds the token and the
lock list in its cache. Then this process commits a change (a lock's battery,
then the token's revocation) and notes the time of the commit; the clients go
on. Staleness = the latest start of a request that began after the commit and
still got the old answer (0 when none did). Targets: 50 ms for both.

    python -m bench.read_cache [--quick]
"""

from __future__ import annotations

import threading
import time
from typing import Any

import requests

from bench.common import (
    base_env,
    main_for,
    postgres_available,
    postgres_database,
    provider_serve_argv,
    row,
    served,
    skipped,
)

NAME = "read_cache"
CLIENTS = 8


class _Hammer:
    """Client threads asking GET /locks; each answer noted as (request start, status, battery)."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.answers: list[tuple[float, int, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(CLIENTS)]

    def __enter__(self) -> _Hammer:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _run(self) -> None:
        session = requests.Session()
        headers = {"Authorization": f"Bearer {self.token}"}
        while not self._stop.is_set():
            started = time.time()
            response = session.get(self.url + "/locks", headers=headers, timeout=10)
            battery = response.json()["locks"][0]["battery_level"] if response.status_code == 200 else None
            with self._lock:
                self.answers.append((started, response.status_code, battery))

    def stale_after(self, committed: float, is_stale: Any) -> tuple[float, int]:
        """(staleness in ms, stale answers) among requests that started after `committed`."""
        with self._lock:
            late = [a for a in self.answers if a[0] > committed and is_stale(a)]
        return (max(a[0] for a in late) - committed) * 1000 if late else 0.0, len(late)


def run(quick: bool = False) -> list[dict]:
    reason = postgres_available()
    if reason:
        return skipped(NAME, reason)
    from bench.fixtures import ApiFixture, bench_app
    from provider.extensions import db
    from provider.models import Lock
    from provider.services import oauth_tokens

    warm = 1.0 if quick else 3.0
    rows = []
    with postgres_database("bench_cache") as database_url:
        fixture = ApiFixture.create(database_url, locks=10, post_locks=1)
        env = base_env(DATABASE_URL=database_url, **fixture.server_env)
        app = bench_app(database_url, fixture.server_env["SECRET_KEY"])
        with served("provider", provider_serve_argv(), env) as (_, url), _Hammer(url, fixture.token) as hammer:
            time.sleep(warm)  # every worker has served (and cached) the list
            with app.app_context():
                lock = db.session.get(Lock, sorted(fixture.lock_ids)[0])
                lock.battery_level = 7
                db.session.commit()
                changed = time.time()
                time.sleep(warm)
                token = oauth_tokens.find_by_access_token(fixture.token)
                oauth_tokens.revoke_access_token(token)
                db.session.commit()
                revoked = time.time()
                db.session.remove()
            time.sleep(warm)
        lock_ms, lock_n = hammer.stale_after(changed, lambda a: a[1] == 200 and a[2] != 7)
        token_ms, token_n = hammer.stale_after(revoked, lambda a: a[1] == 200)
        total = len(hammer.answers)
        rows.append(row(NAME, "lock change: last stale answer after the commit", round(lock_ms, 2), "ms",
                        "<= 50", note=f"{lock_n} stale of {total} answers; {CLIENTS} clients"))
        rows.append(row(NAME, "token revocation: last 200 after the commit", round(token_ms, 2), "ms",
                        "<= 50", note=f"{token_n} late 200s"))
        with app.app_context():
            db.engine.dispose()
    return rows


if __name__ == "__main__":
    main_for(run)
