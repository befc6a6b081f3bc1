from __future__ import annotations

from datetime import timedelta

import pytest

from provider.cli import locks as locks_cli
from provider.extensions import db
from provider.models import Command, KeyRotation, Lock
from provider.services import factory, key_rotation, locks, sweeper
from tests.provider.devices.factory_helpers import bearer, device_row, labelled, vendor_token


def _rotate(app, lock_id):
    result = app.test_cli_runner().invoke(locks_cli.locks, args=["rotate-key", "--lock", lock_id])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    return key_rotation.pending(lock_id)


def _served(site, lock_id):
    return next(item for item in site.helper.locks()["locks"] if item["lock_id"] == lock_id)


def test_an_operator_rotation_hands_the_new_key_to_the_bridge_only_as_the_command_leaves(app, site):
    lock_id = site.lock_ids[0]
    old = locks.device_key(site.locks[0])
    rotation = _rotate(app, lock_id)
    new = key_rotation.new_key_hex(rotation)
    assert rotation.reason == "operator" and rotation.rotation_no == 1 and new != old
    stored = db.session.scalars(db.select(Command).where(Command.type == "rotate_key")).one()
    assert stored.params["rotation_id"] == 1 and "new_key" not in stored.params and new not in str(stored.params)
    served = _served(site, lock_id)
    assert (served["device_key"], served["pending_device_key"], served["pending_rotation_id"]) == (old, new, 1)
    [command] = site.helper.poll()
    assert command["type"] == "rotate_key" and command["params"] == {"rotation_id": 1, "new_key": new}


def test_the_cloud_switches_keys_when_the_bridge_reports_success(app, site):
    lock_id = site.lock_ids[0]
    new = key_rotation.new_key_hex(_rotate(app, lock_id))
    [command] = site.helper.poll()
    site.helper.result(command["command_id"])
    db.session.expire_all()
    assert locks.device_key(db.session.get(Lock, lock_id)) == new
    assert key_rotation.pending(lock_id) is None
    served = _served(site, lock_id)
    assert served["device_key"] == new and served["pending_device_key"] is None
    [row] = key_rotation.history(lock_id)
    assert row.status == "completed" and row.completed_at is not None


def test_a_failed_attempt_keeps_both_keys_and_the_sweeper_sends_it_again(app, site):
    lock_id = site.lock_ids[0]
    old = locks.device_key(site.locks[0])
    new = key_rotation.new_key_hex(_rotate(app, lock_id))
    [command] = site.helper.poll()
    site.helper.result(command["command_id"], status="failed", error_code="DEVICE_OFFLINE")
    db.session.expire_all()
    assert locks.device_key(db.session.get(Lock, lock_id)) == old
    assert key_rotation.pending(lock_id).last_error.startswith("DEVICE_OFFLINE")
    assert sweeper.sweep(heartbeat_timeout_seconds=90)["key_rotations_resumed"] == 1
    [again] = site.helper.poll()
    assert again["params"] == {"rotation_id": 1, "new_key": new} and again["command_id"] != command["command_id"]
    assert sweeper.sweep(heartbeat_timeout_seconds=90)["key_rotations_resumed"] == 0  # one command at a time


def test_a_lock_that_answers_with_the_new_key_completes_the_rotation(app, site, other_site):
    """The lock switched but the result never reached the cloud (link lost, bridge killed, cloud down)."""
    lock_id = site.lock_ids[0]
    new = key_rotation.new_key_hex(_rotate(app, lock_id))
    site.helper.poll()  # leased, then the bridge dies before reporting
    other_site.helper._call("POST", f"/locks/{lock_id}/key_confirmed", expect=404, json={"rotation_id": 1})
    assert site.helper._call("POST", f"/locks/{lock_id}/key_confirmed", json={"rotation_id": 1}) == {
        "ok": True, "switched": True}
    assert site.helper._call("POST", f"/locks/{lock_id}/key_confirmed", json={"rotation_id": 1}) == {
        "ok": True, "switched": False}
    db.session.expire_all()
    assert locks.device_key(db.session.get(Lock, lock_id)) == new


def test_asking_twice_gives_the_one_pending_rotation(app, site):
    first = _rotate(app, site.lock_ids[0])
    second = _rotate(app, site.lock_ids[0])
    assert first.id == second.id
    assert db.session.scalar(db.select(db.func.count()).select_from(KeyRotation)) == 1


def test_claim_and_transfer_each_schedule_a_rotation(app, client, account, other_account, site):
    rows = [device_row(0)]
    codes = labelled(rows)
    lock = client.post("/devices/claim", headers=bearer(vendor_token(account)),
                       json={"claim_code": codes["HALO-000000"], "bridge_id": site.bridge.id}).get_json()
    first = key_rotation.pending(lock["lock_id"])
    assert first.reason == "transfer"
    site.helper.result(site.helper.poll()[0]["command_id"])
    client.post(f"/locks/{lock['lock_id']}/transfer", headers=bearer(vendor_token(account)),
                json={"to_email": other_account.email})
    second = key_rotation.pending(lock["lock_id"])
    assert second.reason == "transfer" and second.rotation_no == 2
    # No bridge of the new owner yet: nothing is queued until it gets one.
    assert not db.session.scalars(db.select(Command).where(Command.lock_id == lock["lock_id"],
                                                           Command.status == "queued")).all()


def test_unclaim_keeps_the_key_the_lock_holds_and_a_pending_rotation_for_the_next_owner(app, client, account,
                                                                                          other_account, site):
    codes = labelled([device_row(0)])
    owner = bearer(vendor_token(account))
    lock_id = client.post("/devices/claim", headers=owner,
                          json={"claim_code": codes["HALO-000000"], "bridge_id": site.bridge.id}).get_json()["lock_id"]
    site.helper.result(site.helper.poll()[0]["command_id"])  # rotation 1 done
    db.session.expire_all()
    rotated = locks.device_key(db.session.get(Lock, lock_id))
    pending = key_rotation.new_key_hex(_rotate(app, lock_id))  # rotation 2 in flight
    code = client.post(f"/locks/{lock_id}/unclaim", headers=owner).get_json()["claim_code"]
    device = factory.find_device("HALO-000000")
    assert factory.device_key(device) == rotated
    again = client.post("/devices/claim", headers=bearer(vendor_token(other_account)),
                        json={"claim_code": code}).get_json()["lock_id"]
    carried = key_rotation.pending(again)
    assert (carried.rotation_no, key_rotation.new_key_hex(carried)) == (2, pending)
    assert locks.device_key(db.session.get(Lock, again)) == rotated


def test_the_policy_rotates_keys_older_than_the_limit(app, site, frozen_clock):
    frozen_clock.advance(timedelta(days=31).total_seconds())
    report = sweeper.sweep(heartbeat_timeout_seconds=10**9, key_max_age_days=30)
    assert report["key_rotations_scheduled"] == 2
    assert {key_rotation.pending(lock_id).reason for lock_id in site.lock_ids} == {"policy"}
    assert sweeper.sweep(heartbeat_timeout_seconds=10**9, key_max_age_days=30)["key_rotations_scheduled"] == 0


def test_the_cli_lists_rotations_without_keys(app, site):
    new = key_rotation.new_key_hex(_rotate(app, site.lock_ids[0]))
    result = app.test_cli_runner().invoke(locks_cli.locks, args=["key-rotations", "--lock", site.lock_ids[0]])
    assert result.output.startswith("1\toperator\tpending\tattempts=1") and new not in result.output


@pytest.mark.parametrize("rotation_id", [0, 2**31, 2**32 - 1])
def test_a_rotation_number_the_cloud_never_issues_is_a_400(app, site, rotation_id):
    """Numbers start at 1 and fit the INTEGER column (PostgreSQL answered 500 above 2^31-1)."""
    lock_id = site.lock_ids[0]
    _rotate(app, lock_id)
    body = site.helper._call("POST", f"/locks/{lock_id}/key_confirmed", expect=400, json={"rotation_id": rotation_id})
    assert body["error_code"] == "INVALID_REQUEST" and "rotation_id" in body["errors"]
