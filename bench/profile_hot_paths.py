"""CPU per request of the hot paths, part by part, in-process (Flask test client, PostgreSQL).

CPU time (time.process_time) is steadier than wall time on a shared machine;
each figure is the mean over `--requests` calls after a warm-up. The parts
are measured alone, so they need not add up to the whole.

    python -m bench.profile_hot_paths [--requests 1000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from bench.common import postgres_available, postgres_database


def _cpu_ms(fn: Callable[[], Any], n: int) -> float:
    for _ in range(max(20, n // 10)):
        fn()
    started = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - started) / n * 1000


def profile(database_url: str, n: int) -> list[tuple[str, float]]:
    from flask import Flask, jsonify

    from bench.fixtures import ApiFixture, bench_app
    from provider.extensions import db
    from provider.schemas.locks import dump_lock, lock_schema, locks_schema
    from provider.services import locks, oauth_tokens, read_cache
    from provider.services.wakeups import hub, transport_of

    fixture = ApiFixture.create(database_url, locks=10, post_locks=1)
    secret = fixture.server_env["SECRET_KEY"]
    app = bench_app(database_url, secret)
    cold_app = bench_app(database_url, secret)
    cold_app.config["PROVIDER_READ_CACHE"] = False
    read_cache.init_app(cold_app)
    headers = {"Authorization": f"Bearer {fixture.token}"}
    parts: list[tuple[str, float]] = []
    with app.app_context():
        transport = transport_of(db.session())
        read_cache.for_session(db.session())
        deadline = time.monotonic() + 10
        while hub.listener_epoch(*transport) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        client = app.test_client()
        parts.append(("whole GET /locks, caches on", _cpu_ms(lambda: client.get("/locks", headers=headers), n)))
        owner = oauth_tokens.find_bearer(fixture.token).account_id  # type: ignore[union-attr]
        rows = list(locks.list_locks(owner)[0])
    with cold_app.app_context():
        cold = cold_app.test_client()
        parts.append(("whole GET /locks, caches off", _cpu_ms(lambda: cold.get("/locks", headers=headers), n)))

        def bearer() -> None:
            oauth_tokens.find_bearer(fixture.token)
            db.session.rollback()

        def listing() -> None:
            locks.lock_documents(owner, dump_lock)
            db.session.rollback()

        def orm_listing() -> None:
            locks_schema.dump(locks.list_locks(owner)[0])
            db.session.rollback()

        parts.append(("bearer check, cold (Core select of 6 columns)", _cpu_ms(bearer, n)))
        parts.append(("lock list, cold (Core select + compiled dump)", _cpu_ms(listing, n)))
        parts.append(("lock list the old way (ORM + marshmallow)", _cpu_ms(orm_listing, n)))
        parts.append(("marshmallow dump of 10 locks", _cpu_ms(lambda: [lock_schema.dump(r) for r in rows], n)))
        parts.append(("compiled dump of 10 locks", _cpu_ms(lambda: [dump_lock(r) for r in rows], n)))
    body = {"locks": [lock_schema.dump(r) for r in rows]}
    bare = Flask("bare")
    bare.get("/locks")(lambda: jsonify(body))
    bare_client = bare.test_client()
    parts.append(("bare Flask jsonify of the same body", _cpu_ms(lambda: bare_client.get("/locks"), n)))
    for each in (app, cold_app):
        with each.app_context():
            db.engine.dispose()
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    reason = postgres_available()
    if reason:
        raise SystemExit(f"needs PostgreSQL: {reason}")
    with postgres_database("bench_profile") as url:
        parts = profile(url, args.requests)
    print("| part | CPU ms per request |\n| --- | ---: |")
    for name, ms in parts:
        print(f"| {name} | {ms:.3f} |")


if __name__ == "__main__":
    main()
