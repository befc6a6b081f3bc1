"""Data the API benchmarks run against, made with the provider's own services.

Everything goes through the same functions the CLI and the sandbox use
(accounts, bridges, locks, OAuth tokens, access codes), on a database migrated
with the real migrations, so the benchmark sees the rows production would hold.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from flask_migrate import upgrade
from sqlalchemy import select

from provider import MIGRATIONS_DIR, create_app
from provider.extensions import db
from provider.models import Account
from provider.models.device import Lock
from provider.services import access_codes, bridges, oauth_clients, oauth_tokens, rate_limits
from provider.services import locks as locks_service
from provider.services.accounts import ensure_account

SCOPE = "locks.read locks.write"


def _columns(conn: Any, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return [r[0] for r in rows]


def clone_rows(conn: Any, table: str, template_where: str, overrides: dict[str, str], source: str,
               params: dict[str, Any] | None = None) -> int:
    """INSERT INTO table SELECT <template's columns, some overridden> FROM <source>, <template>.

    `source` names the row generator (e.g. ``generate_series(1, 100) AS g``); the
    template rows are aliased ``t``. Columns not overridden are copied from the
    template, so new columns added by later migrations are filled too.
    """
    cols = _columns(conn, table)
    unknown = set(overrides) - set(cols)
    if unknown:
        raise RuntimeError(f"{table} has no columns {sorted(unknown)}")
    columns_sql = ", ".join(overrides.get(c, f"t.{c}") for c in cols)
    sql = (f"INSERT INTO {table} ({', '.join(cols)}) SELECT {columns_sql} "
           f"FROM {source} CROSS JOIN (SELECT * FROM {table} WHERE {template_where}) AS t")
    return conn.execute(sql, params or {}).rowcount


def bench_app(database_url: str, secret_key: str):  # type: ignore[no-untyped-def]
    """The provider app on `database_url`, migrated."""
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": database_url.replace("postgresql://", "postgresql+psycopg://"),
        "SECRET_KEY": secret_key,
    })
    with app.app_context():
        upgrade(directory=MIGRATIONS_DIR)
    return app


def issue_token(email: str) -> str:
    """An access token for `email` from the bench's own OAuth client (inside an app context)."""
    client = oauth_clients.ensure_client(
        "bench", "bench-secret", "Benchmarks", ["http://localhost/callback"], SCOPE
    )
    account = ensure_account(email, "bench-password")
    return str(oauth_tokens.issue_token(client, account, SCOPE, expires_in=86400)["access_token"])


def add_locks(owner_email: str, count: int, *, code_capacity: int = 30) -> list[str]:
    account = ensure_account(owner_email, "bench-password")
    bridge, _ = bridges.create_bridge(account.id, f"bench bridge of {owner_email}")
    ids = []
    for index in range(count):
        lock = locks_service.add_lock(
            owner_id=account.id, bridge=bridge, name=f"Door {index}",
            ble_address=f"C0:00:00:00:{index >> 8 & 0xFF:02X}:{index & 0xFF:02X}",
            code_capacity=code_capacity, online=True, battery_level=90, lock_state="locked",
        )
        ids.append(lock.id)
    return ids


@dataclass
class ApiFixture:
    token: str
    lock_ids: list[str]
    codes_per_lock: int
    post_token: str
    post_lock_ids: list[str]
    server_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, database_url: str, *, locks: int = 10, codes_per_lock: int = 10,
               post_locks: int = 2000) -> ApiFixture:
        """Owner A: `locks` locks with `codes_per_lock` codes each (the GET figures).
        Owner B: `post_locks` locks that POSTs cycle through, so Seam's per-lock
        limit (10 creates a minute) is not what the benchmark measures."""
        secret_key = secrets.token_urlsafe(32)
        app = bench_app(database_url, secret_key)
        limiter = rate_limits.DatabaseRateLimiter()
        with app.app_context():
            lock_ids = add_locks("owner-a@bench.example", locks)
            account = ensure_account("owner-a@bench.example", "bench-password")
            for lock_id in lock_ids:
                for index in range(codes_per_lock):
                    access_codes.create_code(account.id, lock_id, code=f"{4000 + index:04d}",
                                             name=f"Guest {index}", limiter=limiter)
            template = add_locks("owner-b@bench.example", 1, code_capacity=250)[0]
            token = issue_token("owner-a@bench.example")
            post_token = issue_token("owner-b@bench.example")
            db.session.commit()
            if post_locks > 1:
                # More locks for owner B, cloned in bulk from the one the service made.
                with db.engine.begin() as conn:
                    clone_rows(conn.connection.driver_connection, "locks", "id = %(lock)s", {
                        "id": "gen_random_uuid()::text", "name": "'Door ' || g",
                        "ble_address": "'B0:' || upper(lpad(to_hex(g), 14, '0'))",
                    }, f"generate_series(1, {post_locks - 1}) AS g", {"lock": template})
            post_lock_ids = list(db.session.scalars(
                select(Lock.id).join(Account, Account.id == Lock.owner_id)
                .where(Account.email == "owner-b@bench.example")).all())
            db.engine.dispose()
        return cls(token, lock_ids, codes_per_lock, post_token, post_lock_ids,
                   {"SECRET_KEY": secret_key})


@dataclass
class AgentFixture:
    """One owner, one bridge (its token known), `locks` locks behind it, an API token."""

    token: str
    bridge_token: str
    lock_ids: list[str]
    server_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, database_url: str, *, locks: int = 50) -> AgentFixture:
        secret_key = secrets.token_urlsafe(32)
        app = bench_app(database_url, secret_key)
        with app.app_context():
            email = "agent-owner@bench.example"
            account = ensure_account(email, "bench-password")
            bridge_token = bridges.TOKEN_PREFIX + secrets.token_urlsafe(32)
            bridge = bridges.create_bridge_with_token(account.id, "bench gateway", bridge_token)
            lock_ids = [
                locks_service.add_lock(
                    owner_id=account.id, bridge=bridge, name=f"Virtual {index}",
                    ble_address=f"F0:00:00:00:{index >> 8 & 0xFF:02X}:{index & 0xFF:02X}",
                ).id
                for index in range(locks)
            ]
            token = issue_token(email)
            db.session.commit()
            db.engine.dispose()
        return cls(token, bridge_token, lock_ids, {"SECRET_KEY": secret_key})

    def drive(self, base_url: str, seconds: float) -> int:
        """Unlock/lock actions round-robin over the locks for `seconds`; returns how many completed."""
        import time

        import requests

        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.token}"
        deadline = time.monotonic() + seconds
        completed, index = 0, 0
        pending: list[str] = []
        while time.monotonic() < deadline:
            lock_id = self.lock_ids[index % len(self.lock_ids)]
            action = "unlock" if (index // len(self.lock_ids)) % 2 == 0 else "lock"
            index += 1
            response = session.post(f"{base_url}/locks/{lock_id}/actions", json={"action": action}, timeout=10)
            if response.status_code < 300:
                pending.append(response.json()["action_id"])
            still = []
            for action_id in pending:
                status = session.get(f"{base_url}/actions/{action_id}", timeout=10).json().get("status")
                if status == "pending":
                    still.append(action_id)
                else:
                    completed += 1
            pending = still
            time.sleep(0.2)
        return completed
