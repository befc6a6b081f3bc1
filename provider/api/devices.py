"""The vendor app's device calls: claim a lock with its box code, share it, hand it over, give it back."""

from __future__ import annotations

from flask import current_app, jsonify

from provider.api import bp
from provider.extensions import db
from provider.oauth.server import current_account, require_oauth
from provider.schemas import load_json
from provider.schemas.devices import (
    assign_bridge_schema,
    bridge_create_schema,
    claim_schema,
    share_create_schema,
    share_schema,
    transfer_schema,
)
from provider.schemas.fields import isoformat_z
from provider.schemas.locks import lock_schema
from provider.services import bridge_assignment, bridges, broker_accounts, claims, locks, sharing


@bp.post("/devices/claim")
@require_oauth("devices.manage")
def claim_device():
    body = load_json(claim_schema)
    lock = claims.claim(
        current_account().id, body["claim_code"], name=body.get("name"),
        timezone=body.get("timezone", "UTC"), bridge_id=body.get("bridge_id"),
    )
    response = jsonify(lock_schema.dump(lock))
    db.session.commit()
    return response, 201


@bp.post("/locks/<lock_id>/transfer")
@require_oauth("devices.manage")
def transfer_lock(lock_id: str):
    lock = locks.get_owned_lock(current_account().id, lock_id)
    body = load_json(transfer_schema)
    claims.transfer(lock, body["to_email"])
    db.session.commit()
    return jsonify(lock_id=lock_id, transferred_to=body["to_email"].strip().lower())


@bp.post("/locks/<lock_id>/unclaim")
@require_oauth("devices.manage")
def unclaim_lock(lock_id: str):
    lock = locks.get_owned_lock(current_account().id, lock_id)
    code = claims.release(lock)
    db.session.commit()
    return jsonify(lock_id=lock_id, claim_code=code)


def _share_body(row, email: str) -> dict:
    return {**share_schema.dump(row), "email": email}


@bp.get("/locks/<lock_id>/shares")
@require_oauth("devices.manage")
def list_shares(lock_id: str):
    lock = locks.lock_for(current_account().id, lock_id, "share")
    return jsonify(shares=[_share_body(row, email) for row, email in sharing.list_shares(lock)])


@bp.post("/locks/<lock_id>/shares")
@require_oauth("devices.manage")
def create_share(lock_id: str):
    account = current_account()
    lock = locks.lock_for(account.id, lock_id, "share")
    body = load_json(share_create_schema)
    row, created = sharing.share(lock, granted_by=account.id, email=body["email"], role=body["role"])
    response = jsonify(_share_body(row, body["email"].strip().lower()))
    db.session.commit()
    return response, 201 if created else 200


@bp.delete("/locks/<lock_id>/shares/<share_id>")
@require_oauth("devices.manage")
def delete_share(lock_id: str, share_id: str):
    lock, row = sharing.share_to_remove(current_account().id, lock_id, share_id)
    sharing.revoke(lock, row)
    db.session.commit()
    return jsonify(ok=True)


@bp.put("/locks/<lock_id>/bridge")
@require_oauth("devices.manage")
def assign_bridge(lock_id: str):
    lock = locks.lock_for(current_account().id, lock_id, "own")
    body = load_json(assign_bridge_schema)
    bridge = bridge_assignment.assign(lock, body["bridge_id"])
    db.session.commit()
    return jsonify(lock_id=lock.id, bridge_id=bridge.id)


@bp.get("/bridges")
@require_oauth("devices.manage")
def list_bridges():
    rows = bridges.owned_bridges(current_account().id)
    return jsonify(bridges=[_bridge_body(row) for row in rows])


@bp.post("/bridges")
@require_oauth("devices.manage")
def create_bridge():
    body = load_json(bridge_create_schema)
    bridge, token = bridges.create_bridge(current_account().id, body["name"].strip() or "Bridge")
    response = jsonify({**_bridge_body(bridge), "token": token})
    db.session.commit()
    broker_accounts.provision_after_commit(current_app.config, bridge.id, token)
    return response, 201


@bp.delete("/bridges/<bridge_id>")
@require_oauth("devices.manage")
def delete_bridge(bridge_id: str):
    bridge = bridges.owned_bridge(current_account().id, bridge_id)
    served = bridge_assignment.remove_bridge(bridge)
    db.session.commit()
    broker_accounts.revoke_after_commit(current_app.config, bridge_id)
    return jsonify(bridge_id=bridge_id, locks_detached=served)


def _bridge_body(bridge) -> dict:
    return {"bridge_id": bridge.id, "name": bridge.name, "online": bool(bridge.online),
            "last_seen_at": isoformat_z(bridge.last_seen_at) if bridge.last_seen_at else None}
