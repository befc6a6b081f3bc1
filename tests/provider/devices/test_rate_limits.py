from __future__ import annotations

from datetime import UTC, datetime

import pytest
import redis

from provider.clock import clock
from provider.services import rate_limits

REDIS_URL = "redis://127.0.0.1:6379/15"


def _redis_available() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(params=["database", "redis"])
def two_workers(request, app, make_app):
    """Two app instances (as two gunicorn workers would be) sharing one limiter storage."""
    clock.freeze(datetime(2030, 1, 1, 12, 0, 5, tzinfo=UTC))  # well inside one window
    if request.param == "redis":
        if not _redis_available():
            pytest.skip("Redis not reachable at 127.0.0.1:6379")
        return make_app(REDIS_URL=REDIS_URL), make_app(REDIS_URL=REDIS_URL)
    return app, make_app()


def test_unlock_limit_spans_workers(two_workers, site, auth_headers):
    first, second = (worker.test_client() for worker in two_workers)
    lock_id = site.lock_ids[0]
    for n in range(15):
        client = first if n % 2 else second
        response = client.post(f"/locks/{lock_id}/actions", headers=auth_headers, json={"action": "unlock"})
        assert response.status_code == 200, response.get_json()
    refused = first.post(f"/locks/{lock_id}/actions", headers=auth_headers, json={"action": "unlock"})
    assert refused.status_code == 429
    assert refused.get_json()["error_code"] == "RATE_LIMITED"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # Per device and per operation: the other lock and locking are unaffected.
    assert second.post(f"/locks/{site.lock_ids[1]}/actions", headers=auth_headers, json={"action": "unlock"}).status_code == 200
    assert second.post(f"/locks/{lock_id}/actions", headers=auth_headers, json={"action": "lock"}).status_code == 200
    clock.advance(60)
    assert first.post(f"/locks/{lock_id}/actions", headers=auth_headers, json={"action": "unlock"}).status_code == 200


def test_code_limits(two_workers, site, auth_headers):
    first, second = (worker.test_client() for worker in two_workers)
    lock_id = site.lock_ids[0]
    for n in range(5):  # capacity 5
        assert first.post(f"/locks/{lock_id}/access_codes", headers=auth_headers, json={"code": f"100{n}"}).status_code == 200
    codes = [c["access_code_id"] for c in first.get(f"/locks/{lock_id}/access_codes", headers=auth_headers).get_json()["access_codes"]]
    for n in range(5):
        response = second.patch(f"/access_codes/{codes[n]}", headers=auth_headers, json={"code": f"200{n}"})
        assert response.status_code == 200
    for n in range(5):
        response = second.patch(f"/access_codes/{codes[n]}", headers=auth_headers, json={"code": f"300{n}"})
        assert response.status_code == 200
    refused = first.patch(f"/access_codes/{codes[0]}", headers=auth_headers, json={"code": "4000"})
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    # 5 creates so far: 5 more are allowed, then refused (validated before counting).
    assert rate_limits.LIMITS["create_code"] == 10


def test_legacy_rate_limit_is_429_not_500(app, site, auth_headers, frozen_clock):
    limiter = rate_limits.DatabaseRateLimiter()
    for _ in range(15):
        rate_limits.enforce(limiter, site.lock_ids[0], "unlock")
    response = app.test_client().post(f"/locks/{site.lock_ids[0]}/unlock", headers=auth_headers)
    assert response.status_code == 429
