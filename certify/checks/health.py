"""Health (contract §6)."""

from __future__ import annotations

from certify.checks.common import expect_object, expect_status, fail
from certify.context import Context
from certify.registry import check


@check("health.ok")
def health_ok(ctx: Context) -> str | None:
    """GET /health answers {"ok": true} without authentication."""
    response = ctx.http.get("/health")
    expect_status(response, {200}, "GET /health")
    if expect_object(response, "GET /health").get("ok") is not True:
        raise fail('GET /health did not answer {"ok": true}', response)
    return None
