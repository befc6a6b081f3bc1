"""Access codes: the older guide's /access_codes routes and the current guide's lock-scoped ones."""

from __future__ import annotations

from flask import jsonify, request

from provider.api import bp, limiter
from provider.api.locks import legacy_failures
from provider.extensions import db
from provider.oauth.server import current_account_id, require_oauth
from provider.schemas import load_json
from provider.schemas.access_codes import (
    access_code_list_query_schema,
    access_code_schema,
    access_codes_schema,
    lock_code_list_query_schema,
)
from provider.services import access_codes, locks


def _listing(lock_id: str, is_managed: bool | None):
    codes = access_codes.list_codes(current_account_id(), lock_id, is_managed=is_managed)
    return jsonify(access_codes=access_codes_schema.dump(codes))


@bp.get("/access_codes")
@require_oauth("locks.read")
def legacy_list_codes():
    query = access_code_list_query_schema.load(request.args)
    return _listing(query["lock_id"], query.get("is_managed"))


@bp.get("/locks/<lock_id>/access_codes")
@require_oauth("locks.read")
def list_codes(lock_id: str):
    query = lock_code_list_query_schema.load(request.args)
    return _listing(lock_id, query.get("is_managed"))


@bp.post("/access_codes/<access_code_id>/convert_to_managed")
@require_oauth("locks.write")
def convert_code(access_code_id: str):
    """An unmanaged code (found on the lock) becomes one the API manages; it stays on the lock."""
    code = access_codes.convert_to_managed(current_account_id(), access_code_id)
    response = jsonify(access_code_schema.dump(code))
    db.session.commit()
    return response


@bp.post("/locks/<lock_id>/access_codes")
@require_oauth("locks.write")
def create_code(lock_id: str):
    owner_id = current_account_id()
    locks.lock_for(owner_id, lock_id, "manage_codes")  # a foreign lock is a 404 whatever the body says
    body = load_json(access_code_schema)
    code = access_codes.create_code(owner_id, lock_id, limiter=limiter(), **body)
    response = jsonify(access_code_schema.dump(code))
    db.session.commit()
    return response


@bp.get("/access_codes/<access_code_id>")
@require_oauth("locks.read")
def get_code(access_code_id: str):
    return jsonify(access_code_schema.dump(access_codes.get_code(current_account_id(), access_code_id)))


@bp.patch("/access_codes/<access_code_id>")
@require_oauth("locks.write")
def update_code(access_code_id: str):
    owner_id = current_account_id()
    changes = load_json(access_code_schema, partial=True)
    code = access_codes.update_code(owner_id, access_code_id, limiter=limiter(), **changes)
    response = jsonify(access_code_schema.dump(code))
    db.session.commit()
    return response


@bp.delete("/access_codes/<access_code_id>")
@require_oauth("locks.write")
def delete_code(access_code_id: str):
    """Both guides: {"ok": true} (older) and {"access_code_id", "status": "pending"} (current)."""
    with legacy_failures("ACCESS_CODE_REMOVAL_FAILED"):
        code = access_codes.delete_code(current_account_id(), access_code_id, limiter=limiter())
    body = {"ok": True, "access_code_id": code.id, "status": "pending", "lock_id": code.lock_id}
    if code.is_offline:
        # Not a failure: the answer says the lock hears of it only at its next connection.
        body.update(is_offline_access_code=True, revocation_queued=code.status == "removing",
                    message=code.delete_message)
    db.session.commit()
    return jsonify(body)
