from __future__ import annotations

from datetime import timedelta

import pytest

from provider.clock import now
from provider.extensions import db
from provider.models import AccessCode
from provider.schemas.fields import isoformat_z


def _create(client, headers, lock_id, **body):
    return client.post(f"/locks/{lock_id}/access_codes", headers=headers, json=body)


def test_create_apply_list_and_delete(client, site, auth_headers, events):
    lock_id = site.lock_ids[0]
    response = _create(client, auth_headers, lock_id, name="Cleaner Wednesday mornings", code="482913")
    assert response.status_code == 200
    code = response.get_json()
    assert code["status"] == "pending" and code["code"] == "482913" and code["type"] == "ongoing"
    assert code["name"] == "Cleaner Wednesday mornings"
    assert code["device_name"] == "Cleaner Wednes"  # 14 characters on the lock
    assert code["owner_id"] and code["lock_id"] == lock_id

    command = site.helper.poll()[0]
    assert command["type"] == "put_code"
    assert command["params"] == {
        "access_code_id": code["access_code_id"], "slot": 1, "code": "482913",
        "device_name": "Cleaner Wednes", "starts_at": None, "ends_at": None, "replace": False,
    }
    site.helper.result(command["command_id"])
    listed = client.get(f"/locks/{lock_id}/access_codes", headers=auth_headers).get_json()["access_codes"]
    assert [(c["access_code_id"], c["status"]) for c in listed] == [(code["access_code_id"], "active")]
    legacy = client.get(f"/access_codes?lock_id={lock_id}", headers=auth_headers).get_json()
    assert legacy["access_codes"][0]["code"] == "482913"

    deleted = client.delete(f"/access_codes/{code['access_code_id']}", headers=auth_headers)
    assert deleted.get_json() == {"ok": True, "access_code_id": code["access_code_id"], "status": "pending", "lock_id": lock_id}
    command = site.helper.poll()[0]
    assert command["type"] == "delete_code" and command["params"]["slot"] == 1
    site.helper.result(command["command_id"])
    assert client.get(f"/access_codes/{code['access_code_id']}", headers=auth_headers).get_json()["status"] == "removed"
    assert client.get(f"/locks/{lock_id}/access_codes", headers=auth_headers).get_json()["access_codes"] == []
    assert client.delete(f"/access_codes/{code['access_code_id']}", headers=auth_headers).status_code == 404
    kinds = [(e.event_type, e.data.get("status")) for e in events(lock_id) if e.event_type.startswith("access_code")]
    assert kinds == [("access_code.created", "success"), ("access_code.deleted", "success")]


def test_code_is_encrypted_at_rest(client, site, auth_headers):
    code = _create(client, auth_headers, site.lock_ids[0], name="Guest", code="482913").get_json()
    row = db.session.get(AccessCode, code["access_code_id"])
    assert "482913" not in row.code_enc
    assert client.get(f"/access_codes/{code['access_code_id']}", headers=auth_headers).get_json()["code"] == "482913"


def _future(minutes):
    return isoformat_z(now() + timedelta(minutes=minutes))


@pytest.mark.parametrize(
    ("body", "error_code"),
    [
        ({"code": "123"}, "INVALID_CODE_LENGTH"),
        ({"code": "123456789"}, "INVALID_CODE_LENGTH"),
        ({"code": "12a4"}, "INVALID_CODE_FORMAT"),
        ({"code": "١٢٣٤"}, "INVALID_CODE_FORMAT"),
        ({"code": "1234", "name": "A"}, "INVALID_NAME_LENGTH"),
        ({"code": "1234", "starts_at": "2099-01-01T00:00:00Z"}, "TIME_BOUND_REQUIRES_BOTH"),
        ({"code": "1234", "ends_at": "2099-01-01T00:00:00Z"}, "TIME_BOUND_REQUIRES_BOTH"),
        ({"code": "1234", "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z"}, "STARTS_AT_IN_PAST"),
        ({"code": "1234", "starts_at": "2099-01-02T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z"}, "ENDS_AT_BEFORE_STARTS_AT"),
        ({"code": 1234}, "INVALID_REQUEST"),
        ({"name": "No code"}, "INVALID_REQUEST"),
        ({"code": "1234", "starts_at": "tomorrow", "ends_at": "later"}, "INVALID_REQUEST"),
        ({"code": "1234", "status": "active"}, "INVALID_REQUEST"),
    ],
)
def test_kwikset_rules_refuse_at_once(client, site, auth_headers, body, error_code):
    response = _create(client, auth_headers, site.lock_ids[0], **body)
    assert response.status_code == 400
    assert response.get_json()["error_code"] == error_code
    assert site.helper.poll() == []


def test_time_bound_code(client, site, auth_headers):
    starts, ends = _future(30), _future(90)
    code = _create(client, auth_headers, site.lock_ids[0], name="Plumber", code="5555",
                   starts_at=starts, ends_at=ends).get_json()
    assert code["type"] == "time_bound" and code["starts_at"] == starts and code["ends_at"] == ends
    params = site.helper.poll()[0]["params"]
    assert (params["starts_at"], params["ends_at"]) == (starts, ends)


def test_pin_conflict_and_capacity(client, site, auth_headers):
    lock_id = site.lock_ids[0]
    assert _create(client, auth_headers, lock_id, code="1111").status_code == 200
    conflict = _create(client, auth_headers, lock_id, code="1111")
    assert conflict.status_code == 409 and conflict.get_json()["error_code"] == "PIN_CONFLICT"
    # The same PIN on another lock is fine.
    assert _create(client, auth_headers, site.lock_ids[1], code="1111").status_code == 200
    for pin in ("2222", "3333", "4444", "5555"):  # capacity is 5 in these tests
        assert _create(client, auth_headers, lock_id, code=pin).status_code == 200
    full = _create(client, auth_headers, lock_id, code="6666")
    assert full.status_code == 409 and full.get_json()["error_code"] == "NO_SPACE_ON_DEVICE"


def test_offline_lock_accepts_pending_and_applies_when_back(client, site, auth_headers, events):
    lock_id = site.lock_ids[0]
    site.helper.heartbeat({"lock_id": lock_id, "online": False})
    code = _create(client, auth_headers, lock_id, name="Dog walker", code="7777").get_json()
    assert code["status"] == "pending"
    site.helper.heartbeat({"lock_id": lock_id, "online": True})
    site.helper.run()
    assert client.get(f"/access_codes/{code['access_code_id']}", headers=auth_headers).get_json()["status"] == "active"


def test_patch_changes_pin_and_sends_update(client, site, auth_headers, events):
    lock_id = site.lock_ids[0]
    code = _create(client, auth_headers, lock_id, name="Nanny", code="1212").get_json()
    site.helper.run()
    other = _create(client, auth_headers, lock_id, code="3434").get_json()
    site.helper.run()
    conflict = client.patch(f"/access_codes/{code['access_code_id']}", headers=auth_headers, json={"code": "3434"})
    assert conflict.status_code == 409 and conflict.get_json()["error_code"] == "PIN_CONFLICT"
    patched = client.patch(f"/access_codes/{code['access_code_id']}", headers=auth_headers, json={"code": "5656"})
    assert patched.status_code == 200 and patched.get_json()["status"] == "pending"
    command = site.helper.poll()[0]
    assert command["params"]["code"] == "5656" and command["params"]["slot"] == 1
    site.helper.result(command["command_id"])
    kinds = [e.event_type for e in events(lock_id) if e.event_type.startswith("access_code")]
    assert kinds == ["access_code.created", "access_code.created", "access_code.updated"]
    bad = client.patch(f"/access_codes/{other['access_code_id']}", headers=auth_headers, json={"starts_at": _future(10)})
    assert bad.get_json()["error_code"] == "TIME_BOUND_REQUIRES_BOTH"


def test_update_before_apply_supersedes_and_still_reports_created(client, site, auth_headers, events):
    lock_id = site.lock_ids[0]
    code = _create(client, auth_headers, lock_id, name="Guest", code="1212").get_json()
    client.patch(f"/access_codes/{code['access_code_id']}", headers=auth_headers, json={"name": "Guest room"})
    commands = site.helper.poll()
    assert len(commands) == 1 and commands[0]["params"]["device_name"] == "Guest room"
    site.helper.result(commands[0]["command_id"])
    kinds = [e.event_type for e in events(lock_id) if e.event_type.startswith("access_code")]
    assert kinds == ["access_code.created"]


def test_device_refusal_fails_the_code(client, site, auth_headers, events):
    code = _create(client, auth_headers, site.lock_ids[0], code="9090").get_json()
    site.helper.run({"put_code": ("failed", "NO_SPACE_ON_DEVICE")})
    body = client.get(f"/access_codes/{code['access_code_id']}", headers=auth_headers).get_json()
    assert body["status"] == "failed" and body["error_code"] == "NO_SPACE_ON_DEVICE"
    event = [e for e in events(site.lock_ids[0]) if e.event_type == "access_code.created"][-1]
    assert event.data["status"] == "failed" and event.data["error_code"] == "NO_SPACE_ON_DEVICE"


def test_bridge_desired_table_and_code_sync(client, site, auth_headers, events):
    lock_id = site.lock_ids[0]
    code = _create(client, auth_headers, lock_id, name="Reconciled", code="8080").get_json()
    table = site.helper.desired_codes(lock_id)
    assert [(c["access_code_id"], c["code"], c["status"]) for c in table] == [(code["access_code_id"], "8080", "pending")]
    site.helper.code_sync(lock_id, present=[code["access_code_id"]], unknown_slots=[7], removed_slots=[7])
    assert client.get(f"/access_codes/{code['access_code_id']}", headers=auth_headers).get_json()["status"] == "active"
    assert site.helper.poll() == []  # the queued put was withdrawn: the lock already has it
    client.delete(f"/access_codes/{code['access_code_id']}", headers=auth_headers)
    site.helper.code_sync(lock_id, present=[])
    assert client.get(f"/access_codes/{code['access_code_id']}", headers=auth_headers).get_json()["status"] == "removed"
    assert site.helper.desired_codes(lock_id) == []
    kinds = [e.event_type for e in events(lock_id) if e.event_type.startswith("access_code")]
    assert kinds == ["access_code.created", "access_code.deleted"]


def test_other_owner_cannot_see_or_touch_codes(client, site, other_site, auth_headers):
    foreign = other_site.lock_ids[0]
    from provider.services import access_codes, rate_limits

    row = access_codes.create_code(other_site.locks[0].owner_id, foreign, code="4321",
                                   limiter=rate_limits.DatabaseRateLimiter())
    db.session.commit()
    for method in ("get", "patch", "delete"):
        response = getattr(client, method)(f"/access_codes/{row.id}", headers=auth_headers, json={"name": "Mine"})
        assert response.status_code == 404


def test_legacy_delete_failure_is_500_removal_failed(client, site, auth_headers):
    code = _create(client, auth_headers, site.lock_ids[0], code="1357").get_json()
    lock = site.locks[0]
    lock.bridge_id = None  # detached from its bridge: removal cannot be started
    db.session.commit()
    response = client.delete(f"/access_codes/{code['access_code_id']}", headers=auth_headers)
    assert response.status_code == 500
    assert response.get_json()["error_id"] == "ACCESS_CODE_REMOVAL_FAILED"


def test_code_for_a_lock_that_never_comes_back_times_out(client, site, account, auth_headers, make_token,
                                                        frozen_clock, events):
    from provider.services import sweeper

    code = _create(client, auth_headers, site.lock_ids[0], code="2580").get_json()
    frozen_clock.advance(7 * 24 * 3600 + 1)
    assert sweeper.sweep(heartbeat_timeout_seconds=90)["commands_expired"] == 1
    fresh = {"Authorization": f"Bearer {make_token(account)}"}  # a week later, the first token expired
    body = client.get(f"/access_codes/{code['access_code_id']}", headers=fresh).get_json()
    assert body["status"] == "failed" and body["error_code"] == "ACTION_TIMEOUT"
    kinds = [(e.event_type, e.data.get("status")) for e in events(site.lock_ids[0]) if e.event_type.startswith("access_code")]
    assert kinds == [("access_code.created", "failed")]


def _started_code(client, site, auth_headers, frozen_clock, pin):
    """A time-bound code the lock holds, whose start is now 15 minutes past."""
    starts = _future(30)
    code = _create(client, auth_headers, site.lock_ids[0], name="Guest stay", code=pin,
                   starts_at=starts, ends_at=_future(90)).get_json()
    site.helper.run()
    frozen_clock.advance(45 * 60)  # within the token's hour
    return f"/access_codes/{code['access_code_id']}", starts


def test_started_code_can_be_extended_by_resending_its_start(client, site, auth_headers, frozen_clock):
    """Seam's update sends both bounds: the stored start, now past, is not a new start."""
    url, starts = _started_code(client, site, auth_headers, frozen_clock, "2468")
    later = _future(180)
    patched = client.patch(url, headers=auth_headers, json={"starts_at": starts, "ends_at": later})
    assert patched.status_code == 200, patched.get_json()
    assert patched.get_json()["status"] == "pending"
    assert (patched.get_json()["starts_at"], patched.get_json()["ends_at"]) == (starts, later)
    params = site.helper.poll()[0]["params"]
    assert (params["starts_at"], params["ends_at"]) == (starts, later)


def test_started_code_takes_a_new_end_alone_or_its_start_in_milliseconds(client, site, auth_headers, frozen_clock):
    url, starts = _started_code(client, site, auth_headers, frozen_clock, "1357")
    assert client.patch(url, headers=auth_headers, json={"ends_at": _future(120)}).status_code == 200
    millis = starts[:23] + "Z" if "." in starts else starts  # what a client keeping milliseconds re-sends
    resent = client.patch(url, headers=auth_headers, json={"starts_at": millis, "ends_at": _future(150)})
    assert resent.status_code == 200 and resent.get_json()["starts_at"] == starts


def test_a_new_start_must_still_lie_ahead(client, site, auth_headers, frozen_clock):
    url, _starts = _started_code(client, site, auth_headers, frozen_clock, "9753")
    moved = client.patch(url, headers=auth_headers, json={"starts_at": _future(-10), "ends_at": _future(150)})
    assert moved.status_code == 400 and moved.get_json()["error_code"] == "STARTS_AT_IN_PAST"
    ahead = client.patch(url, headers=auth_headers, json={"starts_at": _future(10), "ends_at": _future(150)})
    assert ahead.status_code == 200
