"""Access codes (contract §4): round trip, Kwikset rules, cleanup of everything the kit made.

Which refusals are accepted is explicit (RULES): the HTTP statuses the contract leaves
open are all accepted, and an error code is required. Where the contract names the
code (PIN_CONFLICT) only that code passes; elsewhere the reference provider's code is
noted when the provider chose another one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from certify.checks.common import error_code, expect_object, expect_status, fail, unwrap
from certify.context import Context
from certify.http import bearer, json_body
from certify.registry import CURRENT, LEGACY, CheckFailed, CheckSkipped, check

CREATED_STATUSES = frozenset({200, 201, 202})
# The contract: "immediate acknowledgement with status pending"; a provider that already
# stored the code may say active.
ACK_CODE_STATUSES = frozenset({"pending", "active"})
# After DELETE a code is gone from the list, or listed on its way out.
REMOVAL_STATUSES = frozenset({"removing", "removed", "deleting", "deleted", "pending"})
# 400 is what the reference provider answers; 409 and 422 are accepted too, since the contract
# does not fix the status. 401/403/404/405/429 are not: they mean the rule was never evaluated.
VALIDATION_STATUSES = frozenset({400, 409, 422})


@dataclass(frozen=True)
class Rule:
    statuses: frozenset[int]
    reference_codes: frozenset[str]  # what our reference provider answers (CONTRACTS.md)
    contract_codes: frozenset[str] | None = None  # when the contract names the code: only these pass


RULES = {
    "short_pin": Rule(VALIDATION_STATUSES, frozenset({"INVALID_CODE_LENGTH"})),
    "long_pin": Rule(VALIDATION_STATUSES, frozenset({"INVALID_CODE_LENGTH"})),
    "non_digit_pin": Rule(VALIDATION_STATUSES, frozenset({"INVALID_CODE_FORMAT"})),
    "missing_end": Rule(VALIDATION_STATUSES, frozenset({"TIME_BOUND_REQUIRES_BOTH"})),
    "start_in_past": Rule(VALIDATION_STATUSES, frozenset({"STARTS_AT_IN_PAST"})),
    "end_before_start": Rule(VALIDATION_STATUSES, frozenset({"ENDS_AT_BEFORE_STARTS_AT"})),
    "pin_conflict": Rule(VALIDATION_STATUSES, frozenset({"PIN_CONFLICT"}), frozenset({"PIN_CONFLICT"})),
}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _codes_path(ctx: Context) -> str:
    return f"/locks/{ctx.lock_id()}/access_codes"


def _auth(ctx: Context) -> dict[str, str]:
    return bearer(ctx.api_token())


def _list_codes(ctx: Context) -> tuple[list[dict[str, Any]], requests.Response]:
    response = ctx.http.get(_codes_path(ctx), headers=_auth(ctx))
    expect_status(response, {200}, f"GET {_codes_path(ctx)}")
    codes = expect_object(response, "GET .../access_codes").get("access_codes")
    if not isinstance(codes, list) or not all(isinstance(code, dict) for code in codes):
        raise fail('"access_codes" is not a list of objects', response)
    return codes, response


def _fresh_pin(ctx: Context) -> str:
    """A 6-digit PIN no code on the lock (that the kit knows of) uses."""
    taken = ctx.values.setdefault("pins_in_use", set())
    rng = random.SystemRandom()
    while True:
        pin = f"{rng.randrange(10**6):06d}"
        if pin not in taken and len(set(pin)) > 2:
            taken.add(pin)
            return pin


def _name(ctx: Context) -> str:
    return "Certify " + ctx.nonce()[:5]  # 13 characters: inside Kwikset's 2-14


def _delete(ctx: Context, code_id: str) -> requests.Response:
    return ctx.http.request("DELETE", f"/access_codes/{code_id}", headers=_auth(ctx))


def _track(ctx: Context, code_id: str) -> None:
    """Remembers a code the kit created, and that it must be deleted at the end."""
    created = ctx.values.setdefault("created_codes", [])
    if code_id not in created:
        created.append(code_id)

    def undo() -> str:
        response = _delete(ctx, code_id)
        if response.status_code in (200, 202, 204, 404):
            return f"access code {code_id}: deleted (HTTP {response.status_code})"
        return f"access code {code_id}: DELETE answered HTTP {response.status_code}; please remove it"

    ctx.on_cleanup(f"access_code:{code_id}", undo)


def _create(ctx: Context, body: dict[str, Any]) -> tuple[requests.Response, str | None]:
    response = ctx.http.post(_codes_path(ctx), json=body, headers=_auth(ctx))
    payload = json_body(response)
    code_id = None
    if response.status_code in CREATED_STATUSES and isinstance(payload, dict):
        code_id = unwrap(payload, "access_code").get("access_code_id")
        if isinstance(code_id, str) and code_id:
            _track(ctx, code_id)
    return response, code_id if isinstance(code_id, str) else None


def _unmanaged(codes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in codes if c.get("is_managed") is False]


@check("access_codes.unmanaged_listed", profiles=(CURRENT,))
def unmanaged_listed(ctx: Context) -> str | None:
    """Codes on the lock that were not created through the API are listed, is_managed false, each with an id."""
    codes, listed = _list_codes(ctx)
    pin = ctx.settings.unmanaged_pin
    found = _unmanaged(codes)
    if pin is not None:
        mine = [c for c in codes if str(c.get("code")) == pin]
        if not mine:
            raise fail("the code programmed at the lock (--unmanaged-pin) is not in GET /locks/<id>/access_codes: "
                       "a code the cloud did not create must be listed, never hidden or removed", listed)
        if mine[0].get("is_managed") is not False:
            raise fail("the code programmed at the lock is listed without \"is_managed\": false", listed)
        found = mine
    elif not found:
        raise CheckSkipped("no unmanaged code on the lock: program one at the lock (its keypad, the vendor's "
                           "app) and pass --unmanaged-pin to check that it is listed and kept")
    problems = [f"{c.get('access_code_id')!r}: no {field}" for c in found
                for field in ("access_code_id", "status") if not c.get(field)]
    if problems:
        raise fail("unmanaged codes: " + "; ".join(problems[:6]), listed)
    ctx.values["unmanaged_codes"] = {c["access_code_id"] for c in found}
    return f"{len(found)} unmanaged code(s) listed"


@check("access_codes.create", profiles=(CURRENT,))
def create(ctx: Context) -> str | None:
    """POST /locks/<id>/access_codes answers at once with access_code_id, name, code and status pending."""
    existing, _ = _list_codes(ctx)
    ctx.values.setdefault("pins_in_use", set()).update(str(c.get("code")) for c in existing)
    pin, name = _fresh_pin(ctx), _name(ctx)
    response, code_id = _create(ctx, {"name": name, "code": pin})
    if response.status_code not in CREATED_STATUSES:
        raise fail(f"creating an ongoing code answered HTTP {response.status_code}"
                   + (f" ({error_code(json_body(response))})" if error_code(json_body(response)) else ""),
                   response)
    body = unwrap(expect_object(response, "POST .../access_codes"), "access_code")
    problems = []
    if not code_id:
        problems.append("no access_code_id")
    if body.get("status") not in ACK_CODE_STATUSES:
        problems.append(f"status is {body.get('status')!r}, expected 'pending'")
    if body.get("code") != pin:
        problems.append("code not echoed")
    if body.get("name") != name:
        problems.append(f"name is {body.get('name')!r}, expected {name!r}")
    for field in ("starts_at", "ends_at"):
        if body.get(field) is not None:
            problems.append(f"{field} is {body.get(field)!r} for an ongoing code, expected null")
    if problems:
        raise fail("create: " + "; ".join(problems), response)
    ctx.values["code"] = {"access_code_id": code_id, "code": pin, "name": name}
    return None


def _wait_active(ctx: Context, code_id: str) -> tuple[str | None, requests.Response | None]:
    """Polls GET /access_codes/<id> until the code is active (bounded by --action-timeout)."""
    last: dict[str, Any] = {}

    def probe() -> bool:
        response = ctx.http.get(f"/access_codes/{code_id}", headers=_auth(ctx))
        last["response"] = response
        body = json_body(response)
        last["status"] = unwrap(body, "access_code").get("status") if isinstance(body, dict) else None
        return response.status_code != 200 or last["status"] in ("active", "failed")

    ctx.poll(probe, ctx.settings.action_timeout)
    return last.get("status"), last.get("response")


def _find(codes: list[dict[str, Any]], code_id: str) -> dict[str, Any] | None:
    return next((c for c in codes if c.get("access_code_id") == code_id), None)


@check("access_codes.list_get", profiles=(CURRENT,))
def list_get(ctx: Context) -> str | None:
    """GET /locks/<id>/access_codes lists the new code with its status; GET /access_codes/<id> returns it."""
    code = ctx.need("code", "no code: access_codes.create failed")
    codes, listed = _list_codes(ctx)
    item = _find(codes, code["access_code_id"])
    if item is None:
        raise fail("the new code is not in GET /locks/<id>/access_codes", listed)
    if not isinstance(item.get("status"), str):
        raise fail("a listed code has no status", listed)
    response = ctx.http.get(f"/access_codes/{code['access_code_id']}", headers=_auth(ctx))
    expect_status(response, {200}, "GET /access_codes/<id>")
    got = unwrap(expect_object(response, "GET /access_codes/<id>"), "access_code")
    if got.get("access_code_id") != code["access_code_id"] or got.get("code") != code["code"]:
        raise fail("GET /access_codes/<id> does not return the code that was created", response)
    return f"listed with status {item['status']!r}"


@check("access_codes.becomes_active", profiles=(CURRENT,))
def becomes_active(ctx: Context) -> str | None:
    """The new code reaches status active (stored on the lock) within --action-timeout."""
    code = ctx.need("code", "no code: access_codes.create failed")
    status, response = _wait_active(ctx, code["access_code_id"])
    if status != "active":
        raise fail(f"the code is {status!r} after {ctx.settings.action_timeout:.0f} s, not active: it never "
                   "reached the lock (raise --action-timeout if the lock is slow)", response)
    ctx.values["codes_reach_lock"] = True
    ctx.values.setdefault("expected_events", []).append(
        ("access_code.created", {"access_code_id": code["access_code_id"]},
         f"access_code.created for {code['access_code_id']}")
    )
    return None


@check("access_codes.legacy_list_get", profiles=(LEGACY,))
def legacy_list_get(ctx: Context) -> str | None:
    """GET /access_codes?lock_id= lists codes with access_code_id, lock_id, owner_id, code; GET /access_codes/<id> too."""
    lock_id = ctx.lock_id()
    response = ctx.http.get("/access_codes", params={"lock_id": lock_id}, headers=_auth(ctx))
    expect_status(response, {200}, "GET /access_codes?lock_id=")
    codes = expect_object(response, "GET /access_codes?lock_id=").get("access_codes")
    if not isinstance(codes, list):
        raise fail('"access_codes" is not a list', response)
    mine = ctx.values.get("code")
    if mine and _find(codes, mine["access_code_id"]) is None:
        raise fail("the code the kit created is not in GET /access_codes?lock_id=", response)
    if not codes:
        raise CheckSkipped("the lock has no access codes to read (run with --profile all to create one)")
    problems = []
    for item in codes:
        for field in ("access_code_id", "lock_id", "owner_id", "code"):
            if not isinstance(item.get(field), str | int) or item.get(field) == "":
                problems.append(f"{item.get('access_code_id', '?')}: {field} missing")
        if item.get("lock_id") not in (None, lock_id):
            problems.append(f"{item.get('access_code_id')}: belongs to lock {item.get('lock_id')}")
    if problems:
        raise fail("legacy list: " + "; ".join(problems[:6]), response)
    target = mine["access_code_id"] if mine else codes[0]["access_code_id"]
    one = ctx.http.get(f"/access_codes/{target}", headers=_auth(ctx))
    expect_status(one, {200}, "GET /access_codes/<id>")
    if unwrap(expect_object(one, "GET /access_codes/<id>"), "access_code").get("access_code_id") != target:
        raise fail("GET /access_codes/<id> answered another code", one)
    return f"{len(codes)} code(s) listed"


@check("access_codes.patch", profiles=(CURRENT,))
def patch(ctx: Context) -> str | None:
    """PATCH /access_codes/<id> changes the PIN; the answer and GET show the new one."""
    code = ctx.need("code", "no code: access_codes.create failed")
    new_pin = _fresh_pin(ctx)
    path = f"/access_codes/{code['access_code_id']}"
    response = ctx.http.request("PATCH", path, json={"code": new_pin}, headers=_auth(ctx))
    expect_status(response, CREATED_STATUSES, f"PATCH {path}")
    body = unwrap(expect_object(response, "PATCH /access_codes/<id>"), "access_code")
    if body.get("code") != new_pin:
        raise fail("the PATCH answer does not carry the new PIN", response)
    if body.get("status") not in ACK_CODE_STATUSES:
        raise fail(f"after PATCH the status is {body.get('status')!r}, expected 'pending'", response)
    again = ctx.http.get(path, headers=_auth(ctx))
    if unwrap(json_body(again) or {}, "access_code").get("code") != new_pin:
        raise fail("GET after PATCH still shows the old PIN", again)
    code["code"] = new_pin
    if ctx.values.get("codes_reach_lock") and _wait_active(ctx, code["access_code_id"])[0] == "active":
        # Applied on the lock again: Seam hears of it.
        ctx.values["expected_events"].append(
            ("access_code.updated", {"access_code_id": code["access_code_id"]},
             f"access_code.updated for {code['access_code_id']}")
        )
        return "the new PIN reached the lock"
    return None


@check("access_codes.extend_started", profiles=(CURRENT,))
def extend_started(ctx: Context) -> str | None:
    """A code that has begun is extended: PATCH with its stored starts_at (now past) and a later ends_at succeeds."""
    ctx.lock_id()
    lead = timedelta(seconds=ctx.settings.start_lead)
    starts = datetime.now(UTC).replace(microsecond=0) + lead + timedelta(seconds=1)
    first_end = starts + timedelta(hours=1)
    response, code_id = _create(ctx, {"name": _name(ctx), "code": _fresh_pin(ctx), "starts_at": iso(starts),
                                      "ends_at": iso(first_end)})
    if code_id is None:
        raise CheckSkipped(f"the provider refused a code starting {lead.total_seconds():.0f} s ahead "
                           f"(HTTP {response.status_code} {error_code(json_body(response)) or ''}); "
                           "raise --start-lead to what it accepts")
    path = f"/access_codes/{code_id}"
    ctx.poll(lambda: datetime.now(UTC) > starts, lead.total_seconds() + 5, interval=0.2)
    later = first_end + timedelta(hours=2)
    patched = ctx.http.request("PATCH", path, json={"starts_at": iso(starts), "ends_at": iso(later)},
                               headers=_auth(ctx))
    if patched.status_code not in CREATED_STATUSES:
        code = error_code(json_body(patched))
        raise fail(f"extending a started code answered HTTP {patched.status_code}" + (f" {code}" if code else "")
                   + ": a starts_at equal to the stored one is no change (Seam re-sends it for a late "
                   "checkout); only a new start must lie in the future", patched)
    body = unwrap(json_body(patched) or {}, "access_code")
    if _parse_time(body.get("ends_at")) != later:
        raise fail(f"the PATCH answer's ends_at is {body.get('ends_at')!r}, not the later end", patched)
    again = ctx.http.get(path, headers=_auth(ctx))
    if _parse_time(unwrap(json_body(again) or {}, "access_code").get("ends_at")) != later:
        raise fail("GET after the PATCH does not show the later end", again)
    deleted = _delete(ctx, code_id)
    if deleted.status_code in (200, 202, 204):
        ctx.cancel_cleanup(f"access_code:{code_id}")
    return "extended by 2 hours after it started"


def _parse_time(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _refused(ctx: Context, rule_name: str, body: dict[str, Any], what: str) -> str | None:
    rule = RULES[rule_name]
    response, code_id = _create(ctx, body)
    if code_id is not None or response.status_code in CREATED_STATUSES:
        if code_id:
            deleted = _delete(ctx, code_id)
            if deleted.status_code in (200, 202, 204):
                ctx.cancel_cleanup(f"access_code:{code_id}")
        raise fail(f"{what} was accepted (HTTP {response.status_code}); it must be refused at once, "
                   "never accepted as pending", response)
    if response.status_code not in rule.statuses:
        raise fail(f"{what}: HTTP {response.status_code}, expected one of "
                   f"{', '.join(map(str, sorted(rule.statuses)))}", response)
    code = error_code(json_body(response))
    if not code:
        raise fail(f"{what} was refused without an error code (error_code/error_id): Seam cannot tell the "
                   "owner what is wrong", response)
    if rule.contract_codes is not None and code not in rule.contract_codes:
        raise fail(f"{what} answered {code}, the contract requires {'/'.join(sorted(rule.contract_codes))}",
                   response)
    if code not in rule.reference_codes:
        return f"refused with {code} (the reference provider answers {'/'.join(sorted(rule.reference_codes))})"
    return f"HTTP {response.status_code} {code}"


def _rule_check(ctx: Context, rule_name: str, what: str, **fields: Any) -> str | None:
    ctx.lock_id()
    body = {"name": _name(ctx), "code": _fresh_pin(ctx), **fields}
    return _refused(ctx, rule_name, body, what)


def _later(hours: float) -> str:
    return iso(datetime.now(UTC) + timedelta(hours=hours))


@check("access_codes.rule_short_pin", profiles=(CURRENT,))
def rule_short_pin(ctx: Context) -> str | None:
    """A 3-digit PIN is refused (Kwikset: 4-8 digits)."""
    return _rule_check(ctx, "short_pin", "a 3-digit PIN", code="482")


@check("access_codes.rule_long_pin", profiles=(CURRENT,))
def rule_long_pin(ctx: Context) -> str | None:
    """A 9-digit PIN is refused (Kwikset: 4-8 digits)."""
    return _rule_check(ctx, "long_pin", "a 9-digit PIN", code="482916375")


@check("access_codes.rule_non_digit_pin", profiles=(CURRENT,))
def rule_non_digit_pin(ctx: Context) -> str | None:
    """A PIN with letters is refused."""
    return _rule_check(ctx, "non_digit_pin", "a PIN with letters", code="48a9b1")


@check("access_codes.rule_missing_end", profiles=(CURRENT,))
def rule_missing_end(ctx: Context) -> str | None:
    """A time-bound code with starts_at but no ends_at is refused."""
    return _rule_check(ctx, "missing_end", "starts_at without ends_at", starts_at=_later(1))


@check("access_codes.rule_start_in_past", profiles=(CURRENT,))
def rule_start_in_past(ctx: Context) -> str | None:
    """A time-bound code starting in the past is refused."""
    return _rule_check(ctx, "start_in_past", "starts_at an hour ago", starts_at=_later(-1), ends_at=_later(24))


@check("access_codes.rule_end_before_start", profiles=(CURRENT,))
def rule_end_before_start(ctx: Context) -> str | None:
    """A time-bound code ending before it starts is refused."""
    return _rule_check(ctx, "end_before_start", "ends_at before starts_at", starts_at=_later(2), ends_at=_later(1))


@check("access_codes.rule_pin_conflict", profiles=(CURRENT,))
def rule_pin_conflict(ctx: Context) -> str | None:
    """A second code with a PIN already on the lock is refused with PIN_CONFLICT."""
    code = ctx.need("code", "no code to collide with: access_codes.create failed")
    return _refused(ctx, "pin_conflict", {"name": _name(ctx), "code": code["code"]}, "a PIN already on the lock")


@check("access_codes.delete", profiles=(CURRENT,))
def delete(ctx: Context) -> str | None:
    """DELETE /access_codes/<id> answers {"ok": true} or {access_code_id, status: pending}; the code leaves the list."""
    code = ctx.need("code", "no code: access_codes.create failed")
    code_id = code["access_code_id"]
    response = _delete(ctx, code_id)
    expect_status(response, {200, 202}, f"DELETE /access_codes/{code_id}")
    body = unwrap(expect_object(response, "DELETE /access_codes/<id>"), "access_code")
    legacy_ok = body.get("ok") is True
    current_ok = body.get("access_code_id") == code_id and body.get("status") in REMOVAL_STATUSES
    if not (legacy_ok or current_ok):
        raise fail('DELETE answered neither {"ok": true} nor {"access_code_id", "status": "pending"}', response)
    ctx.cancel_cleanup(f"access_code:{code_id}")
    codes, listed = _list_codes(ctx)
    item = _find(codes, code_id)
    if item is not None and item.get("status") not in REMOVAL_STATUSES:
        raise fail(f"after DELETE the code is still listed with status {item.get('status')!r}", listed)
    ctx.values.setdefault("expected_events", []).append(
        ("access_code.deleted", {"access_code_id": code_id}, f"access_code.deleted for {code_id}")
    )
    return None


@check("access_codes.unmanaged_survive", profiles=(CURRENT,))
def unmanaged_survive(ctx: Context) -> str | None:
    """The unmanaged codes listed at the start are still listed, same ids, after the kit's own codes came and went."""
    before: set[str] = ctx.need("unmanaged_codes", "no unmanaged code was listed at the start")
    codes, listed = _list_codes(ctx)
    now = {c.get("access_code_id"): c for c in codes}
    gone = sorted(code_id for code_id in before if code_id not in now)
    if gone:
        raise fail(f"{len(gone)} unmanaged code(s) listed at the start are gone ({', '.join(gone)}): the cloud "
                   "must never remove a code it did not create unless asked to", listed)
    changed = sorted(code_id for code_id in before if now[code_id].get("is_managed") is not False)
    if changed:
        raise fail(f"unmanaged code(s) {', '.join(changed)} are no longer listed as is_managed false", listed)
    return f"{len(before)} unmanaged code(s) kept"


@check("access_codes.cleanup")
def cleanup(ctx: Context) -> str | None:
    """Every code this run created is deleted (or on its way out) when the kit is done."""
    created: list[str] = ctx.values.get("created_codes", [])
    if not created:
        raise CheckSkipped("this run created no access codes")
    notes = ctx.run_cleanups(only="access_code:")
    codes, listed = _list_codes(ctx)
    left = [c for c in codes if c.get("access_code_id") in created and c.get("status") not in REMOVAL_STATUSES]
    if left:
        raise CheckFailed(
            "codes created by this run are still live: " + ", ".join(c["access_code_id"] for c in left),
            None,
        )
    ctx.cleanup_notes.append(f"access codes: {len(created)} created by this run, none left live "
                             f"({', '.join(created)})")
    extra = f"; {'; '.join(notes)}" if notes else ""
    return f"{len(created)} code(s) created by this run, none left live{extra}"
