"""Cost against table size: 100,000 locks and 1,000,000 access codes on PostgreSQL.

A dedicated database is created, migrated with the real migrations and seeded
in two phases with bulk SQL (INSERT … SELECT over generate_series, cloning rows
that the provider's own services made, so every column holds what the
services would write, device keys and PINs encrypted):

- phase 1: one owner with 10,000 locks, 10 codes each (10,000 locks, 100,000 codes);
- phase 2: 9,000 more owners with 10 locks each (100,000 locks, 1,000,000 codes).

After each phase the same requests are timed over HTTP against `provider serve`
(wrk, one connection: latency, not throughput): one lock's codes, and pages of
the 10,000-lock owner at several page sizes. If cost grows with the page and
not the table, phase 2 matches phase 1 and only the page size moves the figures.
The SQL each request runs is captured and EXPLAIN ANALYZEd into the report.

    python -m bench.scale [--quick]
"""

from __future__ import annotations

import re
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
    wrk,
)
from bench.fixtures import clone_rows

NAME = "scale (PostgreSQL)"
BIG_OWNER = "big-owner@scale.example"
CODES_PER_LOCK = 10
BIG_OWNER_LOCKS = 10_000
OTHER_OWNERS = 9_000
LOCKS_PER_OTHER_OWNER = 10
PAGE_SIZES = (10, 100, 1000)
MAIN_PAGE = 100


# ---------------------------------------------------------------- seeding

def seed_templates(app: Any) -> dict[str, Any]:
    """Rows made by the services, to be cloned: the big owner, one lock with its codes."""
    from bench.fixtures import add_locks, issue_token
    from provider.extensions import db
    from provider.models.device import Lock
    from provider.services import access_codes, rate_limits
    from provider.services.accounts import ensure_account

    with app.app_context():
        lock_id = add_locks(BIG_OWNER, 1, code_capacity=250)[0]
        owner = ensure_account(BIG_OWNER, "bench-password")
        limiter = rate_limits.DatabaseRateLimiter()
        for index in range(CODES_PER_LOCK):
            access_codes.create_code(owner.id, lock_id, code=f"{5000 + index:04d}",
                                     name=f"Guest {index}", limiter=limiter)
        token = issue_token(BIG_OWNER)
        db.session.commit()
        owner_id, bridge_id = owner.id, db.session.get(Lock, lock_id).bridge_id
        db.engine.dispose()
    return {"owner_id": owner_id, "lock_id": lock_id, "bridge_id": bridge_id, "token": token}


def _uuid() -> str:
    return "gen_random_uuid()::text"


def seed_phase1(conn: Any, tpl: dict[str, Any], locks: int) -> None:
    """The big owner's other locks, then 10 codes on each (cloned from the template lock's)."""
    clone_rows(conn, "locks", "id = %(lock)s", {
        "id": _uuid(),
        "name": "'Door ' || g",
        "ble_address": "'D0:' || upper(lpad(to_hex(g), 14, '0'))",
    }, f"generate_series(1, {locks - 1}) AS g", {"lock": tpl["lock_id"]})
    _clone_codes(conn, tpl, "l.owner_id = %(owner)s AND l.id <> %(lock)s")


def seed_phase2(conn: Any, tpl: dict[str, Any], owners: int, locks_each: int) -> None:
    """Other owners, a bridge each, their locks and 10 codes per lock."""
    conn.execute("CREATE TEMP TABLE new_owners (n int PRIMARY KEY, id text, bridge_id text)")
    conn.execute(f"INSERT INTO new_owners SELECT g, gen_random_uuid()::text, gen_random_uuid()::text "
                 f"FROM generate_series(1, {owners}) AS g")
    clone_rows(conn, "accounts", "id = %(owner)s", {
        "id": "o.id", "email": "'owner' || o.n || '@scale.example'",
    }, "new_owners AS o", {"owner": tpl["owner_id"]})
    clone_rows(conn, "bridges", "id = %(bridge)s", {
        "id": "o.bridge_id", "owner_id": "o.id", "token_hash": "md5(o.bridge_id) || md5(o.id)",
    }, "new_owners AS o", {"bridge": tpl["bridge_id"]})
    clone_rows(conn, "locks", "id = %(lock)s", {
        "id": _uuid(), "owner_id": "o.id", "bridge_id": "o.bridge_id",
        "name": "'Door ' || g",
        "ble_address": "'E0:' || upper(lpad(to_hex(o.n * 100 + g), 14, '0'))",
    }, f"new_owners AS o CROSS JOIN generate_series(1, {locks_each}) AS g", {"lock": tpl["lock_id"]})
    _clone_codes(conn, tpl, "l.owner_id IN (SELECT id FROM new_owners)")


def _clone_codes(conn: Any, tpl: dict[str, Any], lock_filter: str) -> None:
    clone_rows(conn, "access_codes", "lock_id = %(lock)s", {
        "id": _uuid(), "lock_id": "l.id", "owner_id": "l.owner_id", "status": "'active'",
    }, f"(SELECT id, owner_id FROM locks l WHERE {lock_filter}) AS l",
        {"lock": tpl["lock_id"], "owner": tpl["owner_id"]})


def table_counts(conn: Any) -> dict[str, int]:
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("accounts", "locks", "access_codes")}


# ---------------------------------------------------------------- measuring

def next_cursor(body: dict[str, Any]) -> str | None:
    for key in ("next_cursor", "cursor"):
        if body.get(key):
            return str(body[key])
    pagination = body.get("pagination") or {}
    return pagination.get("next_cursor") or None


def page_paths(base_url: str, token: str, limit: int, pages: int) -> list[str]:
    """Paths of the first `pages` pages at `limit` (walking the cursors)."""
    paths, cursor = [f"/locks?limit={limit}"], None
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(pages - 1):
        response = requests.get(base_url + paths[-1], headers=headers, timeout=30)
        response.raise_for_status()
        cursor = next_cursor(response.json())
        if not cursor:
            break
        paths.append(f"/locks?limit={limit}&cursor={cursor}")
    return paths


def measure(base_url: str, tpl: dict[str, Any], phase: str, seconds: float) -> tuple[list[dict], dict]:
    auth = {"Authorization": f"Bearer {tpl['token']}"}
    rows, figures = [], {}
    codes = wrk(base_url + f"/locks/{tpl['lock_id']}/access_codes", duration=seconds,
                connections=1, headers=auth)
    figures["codes"] = codes
    rows += [
        row(NAME, f"{phase}: list one lock's {CODES_PER_LOCK} codes p50", round(codes.p50_ms, 2), "ms",
            note=f"{codes.requests} requests, {codes.non_2xx} non-2xx"),
        row(NAME, f"{phase}: list one lock's {CODES_PER_LOCK} codes p99", round(codes.p99_ms, 2), "ms", "<= 20"),
    ]
    for limit in PAGE_SIZES:
        pages = min(20, BIG_OWNER_LOCKS // limit)
        paths = page_paths(base_url, tpl["token"], limit, pages)
        result = wrk(base_url + paths[0], duration=seconds, connections=1, headers=auth, paths=paths)
        figures[f"page{limit}"] = result
        target = "<= 30" if limit == MAIN_PAGE else None
        rows += [
            row(NAME, f"{phase}: 10,000-lock owner, page of {limit} p50", round(result.p50_ms, 2), "ms",
                note=f"{len(paths)} different pages cycled; {result.requests} requests, {result.non_2xx} non-2xx"),
            row(NAME, f"{phase}: 10,000-lock owner, page of {limit} p99", round(result.p99_ms, 2), "ms", target),
        ]
    return rows, figures


def explain_requests(app: Any, tpl: dict[str, Any], paths: list[tuple[str, str]]) -> list[dict]:
    """Runs each request in-process, captures its SQL and EXPLAIN ANALYZEs every SELECT."""
    from sqlalchemy import event

    from provider.extensions import db

    rows = []
    with app.app_context():
        engine = db.engine
        for label, path in paths:
            captured: list[tuple[str, Any]] = []

            def capture(conn, cursor, statement, parameters, context, executemany, _c=captured):  # type: ignore[no-untyped-def]
                _c.append((statement, parameters))

            event.listen(engine, "before_cursor_execute", capture)
            try:
                client = app.test_client()
                status = client.get(path, headers={"Authorization": f"Bearer {tpl['token']}"}).status_code
            finally:
                event.remove(engine, "before_cursor_execute", capture)
            plans = [f"GET {path} -> {status}; {len(captured)} SQL statements"]
            with engine.connect() as conn:
                raw = conn.connection.driver_connection
                for statement, parameters in captured:
                    if not statement.lstrip().upper().startswith("SELECT"):
                        plans.append(f"\n-- {statement.strip()[:200]}\n(not a SELECT: not explained)")
                        continue
                    plan = raw.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, parameters).fetchall()
                    plans.append("\n-- " + re.sub(r"\s+", " ", statement.strip()) + "\n"
                                 + "\n".join(p[0] for p in plan))
                raw.rollback()
            # The token digest is not the token, but no need to publish it either.
            text_out = re.sub(r"'[0-9a-f]{64}'", "'<sha256 of the bearer token>'", "\n".join(plans))
            rows.append(row(NAME, f"EXPLAIN ANALYZE: {label}", len(captured), "SQL statements",
                            detail=text_out))
        db.engine.dispose()
    return rows


def run(quick: bool = False) -> list[dict]:
    reason = postgres_available()
    if reason:
        return skipped(NAME, reason)
    try:
        import psycopg

        from bench.fixtures import bench_app
    except ImportError as err:
        return skipped(NAME, f"provider side not measurable yet: {err}")

    scale = 0.1 if quick else 1.0
    big_locks = int(BIG_OWNER_LOCKS * scale)
    owners = int(OTHER_OWNERS * scale)
    seconds = 3 if quick else 8
    import secrets

    secret_key = secrets.token_urlsafe(32)
    rows: list[dict] = []
    with postgres_database("bench_scale") as url:
        app = bench_app(url, secret_key)
        tpl = seed_templates(app)
        env = base_env(DATABASE_URL=url, SECRET_KEY=secret_key)
        with psycopg.connect(url, autocommit=True) as conn:
            start = time.monotonic()
            seed_phase1(conn, tpl, big_locks)
            conn.execute("ANALYZE")
            seeded1 = time.monotonic() - start
            counts1 = table_counts(conn)
        rows.append(row(NAME, "phase 1 seeded", f"{counts1['locks']:,} locks, {counts1['access_codes']:,} codes",
                        note=f"bulk SQL in {seeded1:.1f} s"))
        with served("provider", provider_serve_argv(), env) as (_, base_url):
            got, phase1 = measure(base_url, tpl, "phase 1", seconds)
            rows += got
        with psycopg.connect(url, autocommit=True) as conn:
            start = time.monotonic()
            seed_phase2(conn, tpl, owners, LOCKS_PER_OTHER_OWNER)
            conn.execute("ANALYZE")
            seeded2 = time.monotonic() - start
            counts2 = table_counts(conn)
            size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
        rows.append(row(NAME, "phase 2 seeded", f"{counts2['locks']:,} locks, {counts2['access_codes']:,} codes",
                        note=f"bulk SQL in {seeded2:.1f} s; database {size}"))
        with served("provider", provider_serve_argv(), env) as (_, base_url):
            got, phase2 = measure(base_url, tpl, "phase 2", seconds)
            rows += got
            cursor_path = page_paths(base_url, tpl["token"], MAIN_PAGE, 50)[-1]
        for key, label in [("codes", "list codes"), (f"page{MAIN_PAGE}", f"page of {MAIN_PAGE}")]:
            rows.append(row(NAME, f"{label}: p50 phase 2 / phase 1 (10x the rows)",
                            round(phase2[key].p50_ms / phase1[key].p50_ms, 2), "x",
                            note="about 1 when cost does not grow with the table"))
        small, large = phase2["page10"], phase2["page1000"]
        rows.append(row(NAME, "page of 1000 / page of 10 (p50, phase 2)", round(large.p50_ms / small.p50_ms, 1), "x",
                        note="grows with the page"))
        rows += explain_requests(app, tpl, [
            ("list one lock's codes", f"/locks/{tpl['lock_id']}/access_codes"),
            (f"first page of {MAIN_PAGE} of the 10,000-lock owner", f"/locks?limit={MAIN_PAGE}"),
            (f"a later page of {MAIN_PAGE} (cursor)", cursor_path),
        ])
    return rows


if __name__ == "__main__":
    main_for(run)
