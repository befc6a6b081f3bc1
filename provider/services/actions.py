"""Remote lock/unlock: actions, their commands, and how results end them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

import bridge_contract as contract
from provider.clock import now as clock_now
from provider.errors import ApiError, device_offline, not_found
from provider.extensions import db
from provider.models import Action, Bridge, Command, Lock
from provider.services import commands, rate_limits, wakeups
from provider.services.events import record_event
from provider.services.locks import accessible_row, bridge_can_reach, lock_for

ACTIONS = tuple(contract.BOLT_COMMANDS)


def action_channel(action_id: str) -> str:
    return f"action:{action_id}"


def _existing(lock_id: str, custom_id: str) -> Action | None:
    return db.session.scalar(
        select(Action).where(Action.lock_id == lock_id, Action.custom_id == custom_id)
    )


def request_action(
    owner_id: str,
    lock_id: str,
    action: str,
    *,
    custom_id: str | None = None,
    limiter: rate_limits.RateLimiter,
    performed_via: str = contract.PERFORMED_VIA_REMOTE,
) -> Action:
    """Queues a lock/unlock for the lock's bridge; the same custom_id returns the same action.

    Refused at once when the outcome is already known: DEVICE_OFFLINE, BOLT_OBSTRUCTED.
    """
    if action not in ACTIONS:
        raise ApiError(400, "INVALID_REQUEST", f"Unknown action {action!r}.")
    lock = lock_for(owner_id, lock_id, "operate")
    if custom_id is not None:
        existing = _existing(lock.id, custom_id)
        if existing is not None:
            return existing
    rate_limits.enforce(limiter, lock.id, action)
    bridge = db.session.get(Bridge, lock.bridge_id) if lock.bridge_id else None
    if not bridge_can_reach(lock, bridge):
        raise device_offline()
    if action == contract.LOCK and lock.obstructed:
        raise ApiError(409, contract.BOLT_OBSTRUCTED, "The bolt is obstructed; clear it before locking.")
    row = Action(lock_id=lock.id, owner_id=lock.owner_id, action=action, custom_id=custom_id,
                 status="pending", performed_via=performed_via, created_at=clock_now())
    db.session.add(row)
    try:
        db.session.flush()
    except IntegrityError:
        # A concurrent request with the same custom_id won; answer with its action.
        db.session.rollback()
        existing = _existing(lock_id, custom_id) if custom_id is not None else None
        if existing is None:
            raise
        return existing
    commands.enqueue(
        lock,
        action,
        {"action_id": row.id},
        idempotency_key=f"action:{row.id}",
        ttl_seconds=commands.ACTION_TTL_SECONDS,
        action_id=row.id,
    )
    return row


def get_action(owner_id: str, action_id: str, lock_id: str | None = None) -> Action:
    action = accessible_row(Action, action_id, owner_id, "view")
    if action is None or (lock_id and action.lock_id != lock_id):
        raise not_found("Action")
    return action


def action_completed_data(
    lock: Lock,
    action: str,
    status: str,
    performed_via: str,
    error_code: str | None = None,
    message: str | None = None,
    *,
    action_id: str | None = None,
    custom_id: str | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """A `lock.action_completed` event's data, for a remote action and for a bolt movement
    the lock reports by itself (no action_id, no custom_id; `source` says what moved it).

    `action_type` is the name this field had before Seam's guide called it `action`."""
    data: dict[str, Any] = {
        "lock_id": lock.id,
        "action_id": action_id,
        "custom_id": custom_id,
        "action": action,
        "action_type": action,
        "status": status,
        "performed_via": performed_via,
    }
    if source is not None:
        data["source"] = source
    if error_code is not None:
        data["error_code"] = error_code
        data["message"] = message or contract.ERROR_MESSAGES.get(error_code, "The lock could not act.")
    return data


def _complete(action: Action, lock: Lock | None, error_code: str | None, message: str | None) -> None:
    action.status = "success" if error_code is None else "failed"
    action.error_code = error_code
    action.error_message = message
    action.completed_at = clock_now()
    wakeups.notify(action_channel(action.id))  # the legacy /unlock waiting for it, once committed
    if lock is None:
        return
    if error_code is None:
        lock.lock_state = "locked" if action.action == "lock" else "unlocked"
        lock.obstructed = False
    elif error_code in (contract.BOLT_OBSTRUCTED, "BOLT_NOT_FULLY_EXTENDED"):
        lock.obstructed = True
    elif error_code == contract.LOCK_JAMMED:
        lock.lock_state = "unknown"
    data = action_completed_data(
        lock, action.action, action.status, action.performed_via, error_code, message,
        action_id=action.id, custom_id=action.custom_id,
    )
    record_event("lock.action_completed", device=lock, data=data)


@commands.on_finished(contract.LOCK, contract.UNLOCK)
def _command_finished(command: Command, lock: Lock | None, succeeded: bool) -> None:
    action = db.session.get(Action, command.action_id) if command.action_id else None
    if action is None or action.status != "pending":
        return
    if succeeded:
        _complete(action, lock, None, None)
    else:
        _complete(action, lock, command.error_code, command.error_message)


def wait_for_outcome(
    action_id: str,
    command_timeout: float,
    *,
    poll_interval: float = commands.POLL_INTERVAL_SECONDS,
    sleep: Callable[[float], None] | None = None,
) -> Action:
    """Legacy /unlock: waits (bounded) for the action to end.

    On timeout a command that no bridge has picked up is withdrawn and the
    action fails with ACTION_TIMEOUT; one already handed out keeps running.
    """
    db.session.commit()

    def look() -> tuple[Action | None] | None:
        db.session.expire_all()
        found = db.session.get(Action, action_id)
        ended = found is None or found.status != "pending"
        db.session.commit()  # ends the read transaction so the next look sees new commits
        return (found,) if ended else None

    ended = wakeups.wait_loop(
        action_channel(action_id), look, seconds=command_timeout, poll_interval=poll_interval, sleep=sleep
    )
    action = ended[0] if ended else db.session.get(Action, action_id)
    if action is None or action.status != "pending":
        return action  # type: ignore[return-value]
    command = db.session.scalar(select(Command).where(Command.action_id == action_id))
    if command is not None and commands.cancel_if_queued(command.id):
        lock = db.session.get(Lock, action.lock_id)
        _complete(action, lock, contract.ACTION_TIMEOUT, "The lock did not answer in time.")
    db.session.commit()
    return action
