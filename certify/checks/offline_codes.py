"""Offline access codes (contract §8): skipped for a lock that does not claim them.

A lock that reports `can_program_offline_access_codes: true` must take a code with
`is_offline_access_code: true` at once (no `code` in the request: the PIN is the
provider's), refuse to change one, and answer its deletion (which may only take effect
at the lock's next connection). The kit deletes every code it made.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from certify.checks.access_codes import (
    CREATED_STATUSES,
    REMOVAL_STATUSES,
    VALIDATION_STATUSES,
    _create,
    iso,
)
from certify.checks.common import error_code, expect_object, expect_status, fail, unwrap
from certify.context import Context
from certify.http import bearer, json_body
from certify.registry import CURRENT, CheckSkipped, check

#: Final at once: Seam's `set`, or a provider that says active.
SET_STATUSES = frozenset({"set", "active"})


def _auth(ctx: Context) -> dict[str, str]:
    return bearer(ctx.api_token())


def _next_hour(hours: int) -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=hours)


def _offline_lock(ctx: Context) -> str:
    if not ctx.values.get("offline_capable"):
        raise CheckSkipped("the lock does not claim can_program_offline_access_codes")
    return ctx.lock_id()


@check("offline_codes.capability", profiles=(CURRENT,))
def capability(ctx: Context) -> str | None:
    """The lock says whether it takes offline codes (can_program_offline_access_codes); the rest is skipped if not."""
    lock_id = ctx.lock_id()
    response = ctx.http.get(f"/locks/{lock_id}", headers=_auth(ctx))
    expect_status(response, {200}, "GET /locks/<id>")
    lock = unwrap(expect_object(response, "GET /locks/<id>"), "lock")
    flag = lock.get("can_program_offline_access_codes")
    if flag is not True:
        raise CheckSkipped("the lock does not claim offline access codes"
                           + ("" if flag is False else " (no can_program_offline_access_codes)"))
    ctx.values["offline_capable"] = True
    return None


def _check_set(ctx: Context, response: Any, what: str) -> dict[str, Any]:
    if response.status_code not in CREATED_STATUSES:
        code = error_code(json_body(response))
        raise fail(f"{what} answered HTTP {response.status_code}" + (f" ({code})" if code else ""), response)
    body = unwrap(expect_object(response, what), "access_code")
    pin = body.get("code")
    problems = []
    if body.get("status") not in SET_STATUSES:
        problems.append(f"status is {body.get('status')!r}: an offline code is set at once, nothing waits for the lock")
    if not isinstance(pin, str) or not pin.isdigit():
        problems.append("no PIN (code) in the answer: the guest needs it now")
    if not body.get("starts_at") or not body.get("ends_at"):
        problems.append("the answer lacks starts_at/ends_at (as rounded by the provider)")
    if problems:
        raise fail(f"{what}: " + "; ".join(problems), response)
    return body


@check("offline_codes.create", profiles=(CURRENT,))
def create(ctx: Context) -> str | None:
    """An hourly-bound offline code is answered at once, set, with the provider's PIN and its window."""
    _offline_lock(ctx)
    start = _next_hour(1) + timedelta(minutes=10)
    response, code_id = _create(ctx, {"name": "Certify offline", "is_offline_access_code": True,
                                      "starts_at": iso(start), "ends_at": iso(start + timedelta(hours=3))})
    body = _check_set(ctx, response, "POST .../access_codes (offline)")
    ctx.values["offline_code"] = {"access_code_id": code_id, "code": body["code"]}
    ctx.values.setdefault("expected_events", []).append(
        ("access_code.created", {"access_code_id": code_id}, f"access_code.created for offline code {code_id}"))
    starts = datetime.fromisoformat(str(body["starts_at"]).replace("Z", "+00:00"))
    return f"PIN of {len(body['code'])} digits, window from {iso(starts)}" + (
        " (rounded)" if starts != start else "")


@check("offline_codes.one_time", profiles=(CURRENT,))
def one_time(ctx: Context) -> str | None:
    """A one-time-use offline code (is_one_time_use) is set at once and valid about 24 hours."""
    _offline_lock(ctx)
    response, code_id = _create(ctx, {"name": "Certify once", "is_offline_access_code": True,
                                      "is_one_time_use": True, "starts_at": iso(_next_hour(2))})
    body = _check_set(ctx, response, "POST .../access_codes (one-time)")
    starts = datetime.fromisoformat(str(body["starts_at"]).replace("Z", "+00:00"))
    ends = datetime.fromisoformat(str(body["ends_at"]).replace("Z", "+00:00"))
    if not timedelta(hours=23) <= ends - starts <= timedelta(hours=25):
        raise fail(f"a one-time code lasts {ends - starts}, expected about 24 hours", response)
    if code_id:
        ctx.http.request("DELETE", f"/access_codes/{code_id}", headers=_auth(ctx))
    return None


@check("offline_codes.patch_refused", profiles=(CURRENT,))
def patch_refused(ctx: Context) -> str | None:
    """PATCH of an offline code is refused at once with an error code (its PIN is its window's)."""
    code = ctx.need("offline_code", "no offline code: offline_codes.create failed or was skipped")
    path = f"/access_codes/{code['access_code_id']}"
    response = ctx.http.request("PATCH", path, json={"ends_at": iso(_next_hour(30))}, headers=_auth(ctx))
    if response.status_code not in VALIDATION_STATUSES:
        raise fail(f"PATCH of an offline code answered HTTP {response.status_code}; it cannot be changed", response)
    if not error_code(json_body(response)):
        raise fail("PATCH of an offline code was refused without an error code", response)
    return f"HTTP {response.status_code} {error_code(json_body(response))}"


@check("offline_codes.delete", profiles=(CURRENT,))
def delete(ctx: Context) -> str | None:
    """DELETE of an offline code is answered (its revocation may wait for the lock's next connection)."""
    code = ctx.need("offline_code", "no offline code: offline_codes.create failed or was skipped")
    code_id = code["access_code_id"]
    response = ctx.http.request("DELETE", f"/access_codes/{code_id}", headers=_auth(ctx))
    expect_status(response, {200, 202}, f"DELETE /access_codes/{code_id}")
    body = unwrap(expect_object(response, "DELETE /access_codes/<id>"), "access_code")
    if body.get("ok") is not True and body.get("status") not in REMOVAL_STATUSES:
        raise fail('DELETE answered neither {"ok": true} nor a removal status', response)
    ctx.cancel_cleanup(f"access_code:{code_id}")
    message = body.get("message")
    return f"revocation queued: {message}" if body.get("revocation_queued") else None
