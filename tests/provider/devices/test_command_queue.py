"""The command queue: what producers hand it, what it keeps, what leaves for the bridge."""

from __future__ import annotations

import ast
import json
from datetime import timedelta
from pathlib import Path

import pytest

import bridge_contract as contract
from provider.clock import now
from provider.extensions import db
from provider.models import Command, Lock
from provider.schemas.fields import isoformat_z
from provider.services import access_codes, commands, rate_limits

PIN = "482913"


def _commands(lock_id: str, command_type: str) -> list[Command]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            db.select(Command).where(Command.lock_id == lock_id, Command.type == command_type)
        )
    )


def test_a_queued_pin_is_stored_encrypted_and_leaves_in_clear(site, account):
    code = access_codes.create_code(account.id, site.lock_ids[0], code=PIN, name="Guest",
                                    limiter=rate_limits.DatabaseRateLimiter())
    db.session.commit()
    (queued,) = _commands(site.lock_ids[0], contract.PUT_CODE)
    assert PIN not in json.dumps(queued.params)
    (handed_out,) = site.helper.poll()
    assert handed_out["params"]["code"] == PIN
    assert handed_out["params"]["access_code_id"] == code.id
    assert "sealed" not in handed_out["params"]


def test_an_ended_command_keeps_no_sealed_pin(site, account):
    access_codes.create_code(account.id, site.lock_ids[0], code=PIN, name="Guest",
                             limiter=rate_limits.DatabaseRateLimiter())
    db.session.commit()
    site.helper.run()
    (done,) = _commands(site.lock_ids[0], contract.PUT_CODE)
    assert done.status == contract.SUCCEEDED
    assert "sealed" not in done.params


def test_a_command_type_nobody_handles_is_refused(site):
    lock = db.session.get(Lock, site.lock_ids[0])
    with pytest.raises(LookupError):
        commands.enqueue(lock, "reboot", {}, idempotency_key="x", ttl_seconds=60)
    with pytest.raises(ValueError):
        commands.on_finished("reboot")(lambda command, lock, succeeded: None)


def test_the_queue_imports_none_of_its_producers():
    source = Path(commands.__file__).read_text()
    imported = {
        alias.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and node.module == "provider.services"
        for alias in node.names
    }
    assert not imported & {"access_codes", "actions", "clock_correction", "lock_reports"}


def test_a_wrong_clock_queues_one_set_time_in_the_locks_timezone(site):
    lock_id = site.lock_ids[0]
    drifted = isoformat_z(now() + timedelta(minutes=10))
    site.helper.heartbeat({"lock_id": lock_id, "device_time": drifted})
    site.helper.heartbeat({"lock_id": lock_id, "device_time": drifted})
    (handed_out,) = site.helper.poll()
    assert handed_out["type"] == contract.SET_TIME
    assert handed_out["params"] == {"timezone": db.session.get(Lock, lock_id).timezone}
    assert len(_commands(lock_id, contract.SET_TIME)) == 1


def test_a_clock_set_by_the_bridge_is_no_longer_wrong(site):
    lock_id = site.lock_ids[0]
    site.helper.heartbeat({"lock_id": lock_id, "device_time": isoformat_z(now() - timedelta(hours=2))})
    assert db.session.get(Lock, lock_id).time_wrong
    site.helper.run()
    db.session.expire_all()
    assert not db.session.get(Lock, lock_id).time_wrong


def test_code_sync_keeps_what_the_bridge_found_unknown_and_removed(site):
    lock_id = site.lock_ids[0]
    site.helper.code_sync(lock_id, [], unknown_slots=[4, 2], removed_slots=[2])
    db.session.expire_all()
    lock = db.session.get(Lock, lock_id)
    assert lock.unknown_code_slots == [2, 4]
    assert lock.removed_code_slots == [2]
    assert lock.code_sync_at is not None
