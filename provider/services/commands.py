"""The durable command queue between the cloud and the bridges.

Every operation that must reach a lock is a Command row, added in the same
transaction as the state change it carries out. A bridge long-polls for its
commands; a handed-out command is leased and handed out again (same id,
attempt + 1) if no result arrives before the lease ends, until it expires and
fails with ACTION_TIMEOUT. Results are idempotent: the first one decides.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update

import bridge_contract as contract
from provider import request_ids
from provider.clock import isoformat_z
from provider.clock import now as clock_now
from provider.errors import ApiError, not_found
from provider.extensions import db
from provider.models import Bridge, Command, Lock
from provider.models.base import new_id
from provider.models.device import OPEN_COMMAND_STATUSES
from provider.services import crypto, wakeups

_LOGGER = logging.getLogger(__name__)

# A handed-out command comes back after this long without a result (a BLE session plus retries fits).
LEASE_SECONDS = 60
# How long a lock/unlock may wait for its bridge: after that the action is stale, fail it.
ACTION_TTL_SECONDS = 120
# Code changes wait for an offline lock to come back (Seam: "applied when the lock is back").
CODE_TTL_SECONDS = 7 * 24 * 3600
SET_TIME_TTL_SECONDS = 600
# Long-poll: a waiting request is woken (provider.services.wakeups) when its rows change, and
# looks again at least this often anyway (the safety net, and the only way across processes on SQLite alone).
POLL_INTERVAL_SECONDS = 0.1


#: What a producer does when one of its commands ends: (command, its lock or None, succeeded).
CompletionHandler = Callable[[Command, Lock | None, bool], None]
_ON_FINISHED: dict[str, CompletionHandler] = {}
# Wire parameters kept encrypted in the queue, decrypted only as the command leaves for the bridge.
_SEALED = "sealed"


def on_finished(*command_types: str) -> Callable[[CompletionHandler], CompletionHandler]:
    """Registers the producer's handler for the end (result or expiry) of its command types."""

    def register(handler: CompletionHandler) -> CompletionHandler:
        for command_type in command_types:
            if command_type not in contract.COMMAND_TYPES:
                raise ValueError(f"{command_type!r} is not a bridge command type")
            _ON_FINISHED[command_type] = handler
        return handler

    return register


def bridge_channel(bridge_id: str) -> str:
    return f"bridge:{bridge_id}"


def enqueue(
    lock: Lock,
    command_type: str,
    params: dict[str, Any],
    *,
    idempotency_key: str,
    ttl_seconds: float,
    sealed: Mapping[str, tuple[str, str]] | None = None,
    action_id: str | None = None,
    access_code_id: str | None = None,
    command_id: str | None = None,
) -> Command:
    """Queues a command for the lock's bridge; heard by the bridge once the caller commits.

    `command_id` lets a caller that points at the command (a code's command_id)
    write that pointer with its own row instead of in an UPDATE afterwards.

    `params` are the wire parameters as the bridge receives them; `sealed` maps
    further wire parameters to (encryption purpose, ciphertext): they stay
    encrypted in the queue and are decrypted only as the command leaves.
    """
    if command_type not in _ON_FINISHED:
        raise LookupError(f"no completion handler registered for {command_type!r} commands")
    if lock.bridge_id is None:
        raise ApiError(409, contract.DEVICE_OFFLINE, "The lock is not attached to a bridge.")
    at = clock_now()
    stored = dict(params)
    if sealed:
        stored[_SEALED] = {name: [purpose, ciphertext] for name, (purpose, ciphertext) in sealed.items()}
    command = Command(
        id=command_id or new_id(),
        bridge_id=lock.bridge_id,
        lock_id=lock.id,
        type=command_type,
        params=stored,
        idempotency_key=idempotency_key,
        status="queued",
        attempt=0,
        expires_at=at + timedelta(seconds=ttl_seconds),
        action_id=action_id,
        access_code_id=access_code_id,
        created_at=at,
        request_id=request_ids.current(),
    )
    db.session.add(command)
    wakeups.notify(bridge_channel(lock.bridge_id))  # heard once the caller commits
    _LOGGER.info("lock %s: command %s (%s) queued for bridge %s", lock.id, command.id, command_type,
                 lock.bridge_id, extra={"command_id": command.id})
    return command


def supersede_queued(access_code_id: str) -> None:
    """Queued (not yet handed out) commands for a code are replaced by a newer one."""
    db.session.execute(
        update(Command)
        .where(Command.access_code_id == access_code_id, Command.status == "queued")
        .values(status="superseded", completed_at=clock_now())
        .execution_options(synchronize_session=False)
    )


def cancel_if_queued(command_id: str) -> bool:
    """Withdraws a command no bridge has picked up yet; False once it has been handed out."""
    result = db.session.execute(
        update(Command)
        .where(Command.id == command_id, Command.status == "queued")
        .values(status="cancelled", completed_at=clock_now())
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)


def _due(at: datetime, *, resume: bool = False) -> Any:
    """What a poll hands out: queued commands, and leased ones whose lease ran out, before expiry."""
    leased_and_due = Command.status == "leased"
    if not resume:
        leased_and_due = and_(leased_and_due, Command.lease_until <= at)
    return and_(or_(Command.status == "queued", leased_and_due), Command.expires_at > at)


def bridges_with_due_commands(at: datetime | None = None) -> set[str]:
    """Bridges that a poll would hand something to now: one query for a whole server's waiters.

    The asyncio bridge server runs it every tick instead of one look per
    waiting bridge: it sees what no notification announces (a lease running
    out, a command committed by a process whose wake-ups do not reach it).
    """
    at = at or clock_now()
    return set(db.session.scalars(select(Command.bridge_id).where(_due(at)).distinct()).all())


def claim(
    bridge_id: str, limit: int, at: datetime | None = None, *, resume: bool = False
) -> list[Command]:
    """Leases up to `limit` due commands of the bridge, oldest first.

    `resume`: the bridge's agent has just started, so whatever it held under a
    lease died with its predecessor: hand those out again now instead of after
    the lease (the agent's journal keeps an executed one from running twice).
    """
    at = at or clock_now()
    query = (
        select(Command)
        .where(Command.bridge_id == bridge_id, _due(at, resume=resume))
        .order_by(Command.created_at, Command.id)
        .limit(limit)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    candidates = db.session.scalars(query).all()
    claimed = []
    lease_until = at + timedelta(seconds=LEASE_SECONDS)
    for command in candidates:
        # Conditional UPDATE: on SQLite (no row locks) two pollers cannot both win the same row.
        won = db.session.execute(
            update(Command)
            .where(
                Command.id == command.id,
                Command.status == command.status,
                Command.attempt == command.attempt,
            )
            .values(status="leased", attempt=command.attempt + 1, lease_until=lease_until)
            .execution_options(synchronize_session=False)
        ).rowcount
        if won:
            db.session.refresh(command)
            claimed.append(command)
    return claimed


def wait_for_commands(
    bridge_id: str,
    *,
    wait_seconds: float,
    limit: int,
    resume: bool = False,
    poll_interval: float = POLL_INTERVAL_SECONDS,
    sleep: Callable[[float], None] | None = None,
) -> list[dict[str, Any]]:
    """Long-poll: returns as soon as commands are due, or an empty list after `wait_seconds`.

    Woken by enqueue's notification; a lease running out wakes nobody and is
    seen by the next look (at most `poll_interval` later). `sleep` replaces
    the wake-ups (tests). `resume` (a restarted agent's first poll): see claim().

    One poll per bridge at a time: a newer poll of the same bridge ends this one
    (with an empty list), so parallel polls with one token hold one server
    thread, not one each.
    """
    take_back_leases = resume  # on the first look only
    # A single look (wait 0, as the asyncio bridge server asks, which waits on a socket
    # instead of a thread) holds nothing, so it neither takes a poll number nor ends another.
    generation = _begin_poll(bridge_id) if wait_seconds > 0 else None

    def look() -> Any:
        nonlocal take_back_leases
        if generation is not None:
            newest = db.session.scalar(select(Bridge.poll_generation).where(Bridge.id == bridge_id))
            if newest != generation:
                db.session.commit()
                return _SUPERSEDED
        claimed = claim(bridge_id, limit, resume=take_back_leases)
        take_back_leases = False
        wire = [to_wire(command) for command in claimed]
        db.session.commit()
        return wire

    found = wakeups.wait_loop(
        bridge_channel(bridge_id), look, seconds=wait_seconds, poll_interval=poll_interval, sleep=sleep
    )
    return [] if found is _SUPERSEDED else found


_SUPERSEDED = object()  # truthy: ends the wait


def _begin_poll(bridge_id: str) -> int:
    """Takes the bridge's next poll number; the poll that held the previous one sees it at its
    next look (within the poll interval: no wake-up, which would also wake this poll itself)."""
    db.session.execute(
        update(Bridge)
        .where(Bridge.id == bridge_id)
        .values(poll_generation=Bridge.poll_generation + 1)
        .execution_options(synchronize_session=False)
    )
    generation = int(db.session.scalar(select(Bridge.poll_generation).where(Bridge.id == bridge_id)) or 0)
    db.session.commit()
    return generation


def iso_z(value: datetime | None) -> str | None:
    return None if value is None else isoformat_z(value)


def to_wire(command: Command) -> dict[str, Any]:
    params = dict(command.params)
    for name, (purpose, ciphertext) in params.pop(_SEALED, {}).items():
        params[name] = crypto.decrypt(ciphertext, purpose=purpose)
    return {
        "command_id": command.id,
        "lock_id": command.lock_id,
        "type": command.type,
        "params": params,
        "attempt": command.attempt,
        "expires_at": iso_z(command.expires_at),
        "created_at": iso_z(command.created_at),
        # The API call that queued it: the bridge logs it and sends it back with the result.
        "request_id": command.request_id,
    }


def _finish(command: Command, succeeded: bool, error_code: str | None, message: str | None) -> None:
    command.status = contract.SUCCEEDED if succeeded else contract.FAILED
    command.error_code = None if succeeded else (error_code or contract.DEFAULT_ERROR_CODE)
    command.error_message = (message or None) and message[:255]
    command.completed_at = clock_now()
    if _SEALED in command.params:  # an ended command no longer needs its secrets
        command.params = {name: value for name, value in command.params.items() if name != _SEALED}
    _ON_FINISHED[command.type](command, db.session.get(Lock, command.lock_id), succeeded)


def _claim_open(command_id: str) -> bool:
    """Takes an open command out of the queue; only one reporter (result or expiry) wins."""
    # A conditional UPDATE, so that it holds on SQLite too, which has no row locks.
    won = db.session.execute(
        update(Command)
        .where(Command.id == command_id, Command.status.in_(OPEN_COMMAND_STATUSES))
        .values(status="reporting")
        .execution_options(synchronize_session=False)
    ).rowcount
    return bool(won)


def report_result(
    bridge: Bridge, command_id: str, *, succeeded: bool, error_code: str | None, message: str | None
) -> bool:
    """Applies a bridge's result; returns True when it is a duplicate (nothing changes)."""
    query = select(Command).where(Command.id == command_id, Command.bridge_id == bridge.id)
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    command = db.session.scalar(query) if len(command_id) <= contract.ID_MAX_CHARS else None
    if command is None:
        raise not_found("Command")
    if command.status not in OPEN_COMMAND_STATUSES:
        return True
    if not _claim_open(command.id):
        return True
    _finish(command, succeeded, error_code, message)
    _LOGGER.info("lock %s: command %s (%s) %s%s, asked by request %s", command.lock_id, command.id, command.type,
                 "succeeded" if succeeded else "failed", f" ({error_code})" if error_code else "",
                 command.request_id or "-", extra={"command_id": command.id, "origin_request_id": command.request_id})
    return False


def expire(at: datetime | None = None) -> int:
    """Fails every command that was not completed before its expiry with ACTION_TIMEOUT."""
    at = at or clock_now()
    expired = db.session.scalars(
        select(Command).where(Command.status.in_(OPEN_COMMAND_STATUSES), Command.expires_at <= at)
    ).all()
    count = 0
    for command in expired:
        if _claim_open(command.id):
            _finish(command, False, contract.ACTION_TIMEOUT, "The lock did not answer before the command expired.")
            count += 1
    return count
