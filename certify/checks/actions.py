"""Lock actions (contract §3): legacy unlock, the actions endpoint, custom_id idempotency.

The kit ends on the lock state it found: the current-guide action it sends is the
state the lock was in (lock for a locked lock), and a cleanup step puts it back if
anything is left different.
"""

from __future__ import annotations

from typing import Any

import requests

from certify.checks.common import error_code, expect_object, fail, unwrap
from certify.context import Context
from certify.http import bearer, json_body
from certify.registry import CURRENT, LEGACY, CheckFailed, CheckSkipped, check

ACCEPTED_STATUSES = frozenset({200, 201, 202})
FINAL_STATUSES = frozenset({"success", "failed"})


def _action_path(lock_id: str) -> str:
    return f"/locks/{lock_id}/actions"


def post_action(ctx: Context, action: str, custom_id: str | None) -> requests.Response:
    lock_id = ctx.lock_id()
    body: dict[str, Any] = {"action": action}
    if custom_id:
        body["custom_id"] = custom_id
    return ctx.http.post(_action_path(lock_id), json=body, headers=bearer(ctx.api_token()))


def _completed_event(ctx: Context, action_id: str) -> dict[str, Any] | None:
    """The action's final state from its lock.action_completed webhook (bounded wait)."""
    if ctx.listener is None or "webhook_id" not in ctx.values:
        return None
    lock_id = ctx.lock_id()

    def event(deliveries: list[Any]) -> dict[str, Any] | None:
        for delivery in deliveries:
            payload = delivery.payload
            if not isinstance(payload, dict) or payload.get("event_type") != "lock.action_completed":
                continue
            data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
            if payload.get("device_id") == lock_id and data.get("action_id", action_id) == action_id:
                return {"action_id": action_id, "status": data.get("status", payload.get("status")),
                        "error_code": data.get("error_code")}
        return None

    return event(ctx.listener.wait_for(lambda ds: event(ds) is not None, ctx.settings.action_timeout))


def wait_final(ctx: Context, action_id: str) -> tuple[dict[str, Any] | None, requests.Response | None]:
    """Polls GET /locks/<id>/actions/<action_id> until the action is final (bounded). The contract
    itself only promises a lock.action_completed webhook: a provider without that GET is followed
    through its webhook when the kit listens."""
    path = f"{_action_path(ctx.lock_id())}/{action_id}"
    last: dict[str, Any] = {}

    def probe() -> bool:
        response = ctx.http.get(path, headers=bearer(ctx.api_token()))
        last["response"] = response
        body = json_body(response)
        if response.status_code != 200 or not isinstance(body, dict):
            return True  # nothing to wait for: the caller reports it
        last["body"] = unwrap(body, "action")
        return last["body"].get("status") in FINAL_STATUSES

    ctx.poll(probe, ctx.settings.action_timeout)
    response = last.get("response")
    if "body" not in last and response is not None and response.status_code in (404, 405):
        return _completed_event(ctx, action_id), response
    return last.get("body"), response


def _restore_lock_state(ctx: Context) -> str:
    original = ctx.values.get("original_lock_state")
    lock_id = ctx.lock_id()
    if original not in ("locked", "unlocked"):
        return f"lock {lock_id}: its state was {original!r} before the run, so it was left as it is"
    response = ctx.http.get(f"/locks/{lock_id}", headers=bearer(ctx.api_token()))
    current = unwrap(json_body(response) or {}, "lock").get("lock_state") if response.ok else None
    if current == original:
        return f"lock {lock_id}: left {original}, as found"
    verb = "lock" if original == "locked" else "unlock"
    posted = post_action(ctx, verb, ctx.nonce("certify-restore-"))
    if posted.status_code in (404, 405):
        # A provider with only the older guide's endpoints.
        legacy = ctx.http.post(f"/locks/{lock_id}/{verb}", headers=bearer(ctx.api_token()),
                               timeout=max(ctx.settings.http_timeout, ctx.settings.action_timeout + 15))
        if legacy.status_code == 200:
            return f"lock {lock_id}: restored to {original} (POST /locks/<id>/{verb})"
        return f"lock {lock_id}: COULD NOT restore it to {original} (HTTP {legacy.status_code}); it is {current}"
    body = json_body(posted) if posted.status_code in ACCEPTED_STATUSES else None
    if not isinstance(body, dict) or not body.get("action_id"):
        return f"lock {lock_id}: COULD NOT restore it to {original} (HTTP {posted.status_code}); it is {current}"
    final, _ = wait_final(ctx, body["action_id"])
    status = (final or {}).get("status")
    if status == "success":
        return f"lock {lock_id}: restored to {original}"
    return f"lock {lock_id}: restoring it to {original} ended {status!r}; please check the lock"


def _guard_lock_state(ctx: Context) -> None:
    ctx.cancel_cleanup("lock_state")
    ctx.on_cleanup("lock_state", lambda: _restore_lock_state(ctx))


@check("actions.legacy_unlock", profiles=(LEGACY,))
def legacy_unlock(ctx: Context) -> str | None:
    """POST /locks/<id>/unlock answers {"ok": true} once the lock has unlocked (HTTP 500 error_id/error_message if not)."""
    lock_id = ctx.lock_id()
    _guard_lock_state(ctx)
    response = ctx.http.post(
        f"/locks/{lock_id}/unlock",
        headers=bearer(ctx.api_token()),
        timeout=max(ctx.settings.http_timeout, ctx.settings.action_timeout + 15),
    )
    body = json_body(response)
    if response.status_code == 200 and isinstance(body, dict) and body.get("ok") is True:
        return None
    if response.status_code == 500 and isinstance(body, dict) and isinstance(body.get("error_id"), str) \
            and isinstance(body.get("error_message"), str):
        raise fail(f"the lock did not unlock: {body['error_id']}: {body['error_message']} (the error shape is "
                   "right; certification needs a lock that is online and works)", response)
    raise fail(f'expected HTTP 200 {{"ok": true}} (or HTTP 500 with error_id/error_message), got HTTP '
               f"{response.status_code}", response)


@check("actions.pending_then_final", profiles=(CURRENT,))
def pending_then_final(ctx: Context) -> str | None:
    """POST /locks/<id>/actions answers pending at once; GET .../actions/<action_id> reaches success."""
    lock_id = ctx.lock_id()
    _guard_lock_state(ctx)
    action = "unlock" if ctx.values.get("original_lock_state") == "unlocked" else "lock"
    custom_id = ctx.nonce("certify-")
    response = post_action(ctx, action, custom_id)
    if response.status_code not in ACCEPTED_STATUSES:
        code = error_code(json_body(response))
        raise fail(f"POST {_action_path(lock_id)} answered HTTP {response.status_code}"
                   + (f" ({code})" if code else ""), response)
    body = unwrap(expect_object(response, "POST .../actions"), "action")
    problems = []
    if not isinstance(body.get("action_id"), str) or not body.get("action_id"):
        problems.append("no action_id")
    if body.get("status") != "pending":
        problems.append(f"status is {body.get('status')!r}, expected 'pending' at once")
    if body.get("action") != action:
        problems.append(f"action is {body.get('action')!r}, expected {action!r}")
    if body.get("custom_id") != custom_id:
        problems.append("custom_id not echoed")
    if body.get("lock_id", lock_id) != lock_id:
        problems.append(f"lock_id is {body.get('lock_id')!r}")
    if problems:
        raise fail("action acknowledgement: " + "; ".join(problems), response)
    action_id = body["action_id"]
    ctx.values["action"] = {"action_id": action_id, "custom_id": custom_id, "action": action}
    final, last = wait_final(ctx, action_id)
    if final is None:
        status = last.status_code if last is not None else "no answer"
        if status in (404, 405) and ctx.listener is None:
            raise CheckSkipped(f"GET {_action_path(lock_id)}/<action_id> is not served (HTTP {status}): run with "
                               "--webhook-listen to follow the action through lock.action_completed")
        raise fail(f"GET {_action_path(lock_id)}/{action_id} answered HTTP {status}"
                   + (" and no lock.action_completed arrived" if status in (404, 405) else ""), last)
    status = final.get("status")
    if status == "pending":
        raise fail(f"the action was still pending after {ctx.settings.action_timeout:.0f} s "
                   "(raise --action-timeout if the lock is slow)", last)
    # A final action, success or not, is announced with lock.action_completed.
    ctx.values.setdefault("expected_events", []).append(
        ("lock.action_completed", {"action_id": action_id}, f"lock.action_completed for action {action_id}")
    )
    if status != "success":
        raise fail(f"the action ended {status!r}" + (f" with {error_code(final)}" if error_code(final) else "")
                   + "; certification needs a lock that is online and works", last)
    return f"{action} reached success"


@check("actions.custom_id_idempotent", profiles=(CURRENT,))
def custom_id_idempotent(ctx: Context) -> str | None:
    """The same custom_id for the same lock returns the same action, not a second one."""
    first = ctx.need("action", "no action to repeat: actions.pending_then_final could not create one")
    response = post_action(ctx, first["action"], first["custom_id"])
    if response.status_code not in ACCEPTED_STATUSES:
        raise fail(f"repeating the action with the same custom_id answered HTTP {response.status_code}", response)
    body = unwrap(expect_object(response, "POST .../actions (repeat)"), "action")
    if body.get("action_id") != first["action_id"]:
        raise CheckFailed(
            f"the same custom_id created a second action ({body.get('action_id')!r}, first was "
            f"{first['action_id']!r}): Seam's retries would act on the lock twice",
        )
    return None
