"""Clock correction: the cloud owns a lock's time and timezone, and sets them when they drift.

A heartbeat that shows the lock's clock wrong (services/lock_reports) queues
`set_time` with the lock's timezone; the bridge sets the lock's clock from its
own (NTP-synchronised) clock as the command runs, so the time is right when it
lands rather than when it was queued.  One open correction per lock at a time.
"""

from __future__ import annotations

from sqlalchemy import select

import bridge_contract as contract
from provider.extensions import db
from provider.models import Command, Lock
from provider.models.base import new_id
from provider.models.device import OPEN_COMMAND_STATUSES
from provider.services import commands


def correct_clock(lock: Lock) -> Command | None:
    """Queues set_time for the lock unless one is already open; None without a bridge."""
    if lock.bridge_id is None:
        return None
    open_one = db.session.scalar(
        select(Command.id).where(
            Command.lock_id == lock.id,
            Command.type == contract.SET_TIME,
            Command.status.in_(OPEN_COMMAND_STATUSES),
        )
    )
    if open_one is not None:
        return None
    return commands.enqueue(
        lock,
        contract.SET_TIME,
        {"timezone": lock.timezone},
        idempotency_key=f"set_time:{lock.id}:{new_id()}",
        ttl_seconds=commands.SET_TIME_TTL_SECONDS,
    )


@commands.on_finished(contract.SET_TIME)
def _clock_set(command: Command, lock: Lock | None, succeeded: bool) -> None:
    if succeeded and lock is not None:
        lock.time_wrong = False
