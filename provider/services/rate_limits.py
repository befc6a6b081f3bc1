"""Per-device rate limits matching Seam's guardrails, shared by every worker process.

Fixed one-minute windows counted in Redis (INCR + EXPIRE) when REDIS_URL is
set, otherwise in the database (an upsert that returns the new count, atomic
on SQLite and PostgreSQL). Either way every gunicorn worker sees one counter.
A fixed window can let up to twice the limit through across a window boundary;
that is the usual trade for one round trip per check.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy.dialects import postgresql, sqlite

from provider.clock import now as clock_now
from provider.errors import ApiError
from provider.extensions import db
from provider.models import RateLimitCounter

WINDOW_SECONDS = 60
# Seam's guardrails for one device, per minute.
LIMITS = {
    "create_code": 10,
    "update_code": 10,
    "delete_code": 20,
    "lock": 15,
    "unlock": 15,
}


class RateLimiter(Protocol):
    def hit(self, key: str, window_index: int) -> int:
        """Counts one call in the window and returns the window's count so far."""


class DatabaseRateLimiter:
    def hit(self, key: str, window_index: int) -> int:
        dialect = db.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(RateLimitCounter).values(key=key, window_index=window_index, count=1)
        stmt = stmt.on_conflict_do_update(
            index_elements=["key", "window_index"],
            set_={"count": RateLimitCounter.count + 1},
        ).returning(RateLimitCounter.count)
        return int(db.session.execute(stmt).scalar_one())


class RedisRateLimiter:
    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def hit(self, key: str, window_index: int) -> int:
        name = f"provider:rl:{key}:{window_index}"
        pipe = self._redis.pipeline()
        pipe.incr(name)
        pipe.expire(name, WINDOW_SECONDS * 2)
        count, _ = pipe.execute()
        return int(count)


def limiter_for(redis_url: str | None) -> RateLimiter:
    return RedisRateLimiter(redis_url) if redis_url else DatabaseRateLimiter()


def enforce(limiter: RateLimiter, device_id: str, operation: str, at: datetime | None = None) -> None:
    """Raises RATE_LIMITED (429, Retry-After) once `operation` exceeds its per-minute limit."""
    limit = LIMITS[operation]
    timestamp = (at or clock_now()).timestamp()
    window_index = int(timestamp // WINDOW_SECONDS)
    if limiter.hit(f"{device_id}:{operation}", window_index) > limit:
        retry_after = (window_index + 1) * WINDOW_SECONDS - timestamp
        raise ApiError(
            429,
            "RATE_LIMITED",
            f"Too many {operation.replace('_', ' ')} requests for this device; at most {limit} a minute.",
            retry_after=retry_after,
        )


def prune(before: datetime) -> int:
    """Drops database counters of windows that ended before `before`."""
    window_index = int(before.timestamp() // WINDOW_SECONDS)
    result = db.session.execute(
        RateLimitCounter.__table__.delete().where(RateLimitCounter.window_index < window_index)
    )
    return int(result.rowcount or 0)
