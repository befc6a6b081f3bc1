"""GET /locks, GET /locks/<id>, and the lock actions (legacy /unlock|/lock and current /actions)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app, jsonify, request

from provider.api import bp, limiter
from provider.errors import ApiError
from provider.extensions import db
from provider.oauth.server import current_account, current_account_id, require_oauth
from provider.schemas import load_json
from provider.schemas.actions import action_schema
from provider.schemas.locks import dump_lock, lock_list_query_schema, lock_schema, locks_schema
from provider.services import actions, locks


@contextmanager
def legacy_failures(error_code: str | None = None) -> Iterator[None]:
    """Older guide: a refusal is HTTP 500 in the error shape (404 and 429 stay what they are)."""
    try:
        yield
    except ApiError as err:
        if err.status in (404, 429):
            raise
        db.session.rollback()
        raise ApiError(500, error_code or err.error_code, err.message) from err


@bp.get("/locks")
@require_oauth("locks.read")
def list_locks():
    query = lock_list_query_schema.load(request.args)
    if not query:  # the whole list, as Seam polls it
        return jsonify({"locks": locks.lock_documents(current_account_id(), dump_lock)})
    rows, next_cursor = locks.list_locks(
        current_account_id(), limit=query.get("limit"), cursor=query.get("cursor")
    )
    body = {"locks": locks_schema.dump(rows)}
    if "limit" in query:
        body["next_cursor"] = next_cursor
    return jsonify(body)


@bp.get("/locks/<lock_id>")
@require_oauth("locks.read")
def get_lock(lock_id: str):
    return jsonify(lock_schema.dump(locks.lock_for(current_account().id, lock_id, "view")))


@bp.post("/locks/<lock_id>/actions")
@require_oauth("locks.write")
def create_action(lock_id: str):
    owner_id = current_account().id
    locks.lock_for(owner_id, lock_id, "operate")  # a foreign lock is a 404 whatever the body says
    body = load_json(action_schema)
    action = actions.request_action(
        owner_id, lock_id, body["action"], custom_id=body.get("custom_id"),
        limiter=limiter(),
    )
    response = jsonify(action_schema.dump(action))
    db.session.commit()
    return response


@bp.get("/locks/<lock_id>/actions/<action_id>")
@require_oauth("locks.read")
def get_lock_action(lock_id: str, action_id: str):
    owner_id = current_account().id
    locks.lock_for(owner_id, lock_id, "view")
    return jsonify(action_schema.dump(actions.get_action(owner_id, action_id, lock_id)))


@bp.get("/actions/<action_id>")
@require_oauth("locks.read")
def get_action(action_id: str):
    return jsonify(action_schema.dump(actions.get_action(current_account().id, action_id)))


def _legacy(lock_id: str, action: str):
    """Older guide: answer once the lock has acted; any failure is HTTP 500 in the error shape."""
    with legacy_failures():
        row = actions.request_action(current_account().id, lock_id, action, limiter=limiter())
    row = actions.wait_for_outcome(row.id, float(current_app.config["ACTION_WAIT_SECONDS"]))
    if row.status == "success":
        return jsonify(ok=True)
    if row.status == "pending":
        raise ApiError(500, "ACTION_TIMEOUT", "The lock did not answer in time.")
    raise ApiError(500, row.error_code or "ACTION_FAILED", row.error_message or "The lock could not act.")


@bp.post("/locks/<lock_id>/unlock")
@require_oauth("locks.write")
def legacy_unlock(lock_id: str):
    return _legacy(lock_id, "unlock")


@bp.post("/locks/<lock_id>/lock")
@require_oauth("locks.write")
def legacy_lock(lock_id: str):
    return _legacy(lock_id, "lock")
