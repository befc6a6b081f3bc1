from __future__ import annotations

from functools import wraps
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request

from provider import metrics
from provider.clock import now as clock_now
from provider.errors import ApiError
from provider.extensions import db
from provider.models import Bridge
from provider.schemas import load_json, reject_nul
from provider.schemas.bridge import (
    code_sync_schema,
    commands_query_schema,
    events_schema,
    heartbeat_schema,
    result_schema,
)
from provider.schemas.devices import key_confirmed_schema, scan_schema
from provider.schemas.fields import isoformat_z
from provider.services import (
    access_codes,
    bridge_assignment,
    bridges,
    commands,
    key_rotation,
    lock_reports,
    locks,
    offline_codes,
)

#: WSGI environ key set only by provider.bridge_api.server (never from a request header):
#: a dict the poll view fills with what the server needs to wait in its place.
DEFERRED_POLL = "provider.deferred_poll"

bp = Blueprint("bridge_api", __name__, url_prefix="/bridge/v1")
bp.url_value_preprocessor(reject_nul)


def _unauthorized() -> ApiError:
    return ApiError(
        401,
        "UNAUTHORIZED",
        "A valid bridge token is required.",
        headers={"WWW-Authenticate": 'Bearer realm="bridge"'},
    )


def require_bridge(view: Any) -> Any:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        bridge = bridges.authenticate(token.strip()) if scheme.lower() == "bearer" else None
        if bridge is None:
            raise _unauthorized()
        bridges.touch(bridge)
        g.bridge = bridge
        return view(*args, **kwargs)

    return wrapper


def _bridge() -> Bridge:
    return g.bridge  # type: ignore[no-any-return]


@bp.get("/locks")
@require_bridge
def list_locks():
    bridge = _bridge()
    served = [
        {
            **key_rotation.bridge_keys(lock),
            "lock_id": lock.id,
            "name": lock.name,
            "model": lock.model,
            "ble_address": lock.ble_address,
            "device_key": locks.device_key(lock),
            "timezone": lock.timezone,
            "code_capacity": lock.code_capacity,
            "last_event_seq": lock.last_event_seq,
        }
        for lock in locks.locks_of_bridge(bridge.id)
    ]
    db.session.commit()
    return jsonify(bridge_id=bridge.id, locks=served)


@bp.get("/commands")
@require_bridge
def poll_commands():
    query = commands_query_schema.load(request.args)
    bridge_id = _bridge().id
    db.session.commit()  # the heartbeat, before the wait
    wait = min(query["wait"], float(current_app.config["BRIDGE_POLL_MAX_SECONDS"]))
    deferred = request.environ.get(DEFERRED_POLL)
    if deferred is not None:
        # Served by the asyncio bridge server: look once here; it waits for the
        # wake-up itself, holding a socket instead of this thread.
        deferred.update(bridge_id=bridge_id, wait=wait)
        wait = 0
    with metrics.long_poll():
        found = commands.wait_for_commands(
            bridge_id, wait_seconds=wait, limit=query["limit"], resume=query["resume"]
        )
    if deferred is not None:
        deferred["found"] = len(found)
    return jsonify(commands=found)


@bp.post("/commands/<command_id>/result")
@require_bridge
def report_result(command_id: str):
    body = load_json(result_schema)
    duplicate = commands.report_result(
        _bridge(),
        command_id,
        succeeded=body["status"] == "succeeded",
        error_code=body["error_code"],
        message=body["message"],
    )
    db.session.commit()
    return jsonify(ok=True, duplicate=duplicate)


@bp.post("/events")
@require_bridge
def report_events():
    body = load_json(events_schema)
    accepted, duplicates = lock_reports.accept_events(_bridge(), body["events"])
    db.session.commit()
    return jsonify(accepted=accepted, duplicates=duplicates)


@bp.post("/heartbeat")
@require_bridge
def heartbeat():
    body = load_json(heartbeat_schema)
    lock_reports.heartbeat(_bridge(), body["locks"])
    db.session.commit()
    return jsonify(ok=True, server_time=isoformat_z(clock_now()))


@bp.get("/locks/<lock_id>/access_codes")
@require_bridge
def desired_codes(lock_id: str):
    lock = locks.served_lock(_bridge().id, lock_id)
    table, remove = access_codes.desired_table(lock), access_codes.removal_table(lock)
    offline = offline_codes.offline_payload(lock)
    db.session.commit()
    return jsonify(access_codes=table, remove=remove, **offline)


@bp.post("/locks/<lock_id>/code_sync")
@require_bridge
def code_sync(lock_id: str):
    body = load_json(code_sync_schema)
    lock = locks.served_lock(_bridge().id, lock_id)
    access_codes.reconcile(
        lock, body["present"], unknown_slots=body["unknown_slots"], removed_slots=body["removed_slots"],
        unmanaged=body["unmanaged"],
    )
    offline_codes.apply_sync(lock, body["offline"], body["revoked"])
    db.session.commit()
    return jsonify(ok=True)


@bp.post("/scan")
@require_bridge
def report_scan():
    """What the bridge hears (BLE address, RSSI): the cloud assigns claimed locks from these."""
    body = load_json(scan_schema)
    count = bridge_assignment.record_scan(_bridge(), body["results"])
    db.session.commit()
    return jsonify(ok=True, recorded=count)


@bp.post("/locks/<lock_id>/key_confirmed")
@require_bridge
def key_confirmed(lock_id: str):
    """The lock answered a handshake with the pending key of this rotation: it switched."""
    body = load_json(key_confirmed_schema)
    lock = locks.served_lock(_bridge().id, lock_id)
    switched = key_rotation.complete(lock, body["rotation_id"])
    db.session.commit()
    return jsonify(ok=True, switched=switched)
