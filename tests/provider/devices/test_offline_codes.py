"""Offline access codes in the cloud: derived at once, refused changes, revocations queued for the
lock's next connection, the bridge's reports, usage reported with the time it happened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from firmware_bridge.protocol import OfflineKind
from firmware_bridge.protocol import offline as scheme
from firmware_bridge.simulator.lock import VirtualLock
from provider.clock import isoformat_z
from provider.extensions import db
from provider.models import AccessCode, Lock
from provider.services import offline_codes


def _z(value: datetime) -> str:
    return isoformat_z(value)


def _install(site, lock_id: str) -> dict:
    """The bridge's reconciliation: it installs the secret and says so."""
    table = site.helper.code_table(lock_id)
    site.helper.code_sync(lock_id, [], offline={"generation": table["offline"]["generation"]})
    return table


def _create(client, headers, lock_id, **body):
    return client.post(f"/locks/{lock_id}/access_codes", json=body, headers=headers)


def _hour_from_now(hours: int) -> datetime:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return now + timedelta(hours=hours)


def _event_types(events, lock_id):
    return [e.event_type for e in events(lock_id)]


@pytest.fixture
def offline_lock(site):
    lock_id = site.lock_ids[0]
    table = _install(site, lock_id)
    return lock_id, bytes.fromhex(table["offline"]["secret"]), table["offline"]["generation"]


def test_a_lock_reports_the_capability_once_it_confirmed_its_secret(client, site, auth_headers):
    lock_id = site.lock_ids[0]
    lock = client.get(f"/locks/{lock_id}", headers=auth_headers).get_json()
    assert lock["can_program_offline_access_codes"] is False and lock["offline_access_code_constraints"] is None
    refused = _create(client, auth_headers, lock_id, is_offline_access_code=True,
                      starts_at=_z(_hour_from_now(1)), ends_at=_z(_hour_from_now(3)))
    assert refused.status_code == 409 and refused.get_json()["error_code"] == "OFFLINE_ACCESS_CODES_NOT_SUPPORTED"
    table = _install(site, lock_id)
    assert len(table["offline"]["secret"]) == 64
    lock = client.get(f"/locks/{lock_id}", headers=auth_headers).get_json()
    assert lock["can_program_offline_access_codes"] is True
    assert lock["offline_access_code_constraints"]["code_length"] == 10
    # The secret is stored encrypted, never in clear.
    row = db.session.get(Lock, lock_id)
    assert table["offline"]["secret"] not in (row.offline_secret_enc or "")


def test_a_lock_without_offline_codes_says_so(client, site, auth_headers):
    lock_id = site.lock_ids[0]
    site.helper.code_sync(lock_id, [], offline={"unsupported": True})
    assert site.helper.code_table(lock_id)["offline"] is None
    lock = client.get(f"/locks/{lock_id}", headers=auth_headers).get_json()
    assert lock["can_program_offline_access_codes"] is False
    refused = _create(client, auth_headers, lock_id, is_offline_access_code=True, is_one_time_use=True,
                      starts_at=_z(_hour_from_now(1)))
    assert "firmware" in refused.get_json()["message"]


def test_an_offline_code_is_set_at_once_with_its_window_rounded(client, site, auth_headers, offline_lock, events):
    lock_id, secret, generation = offline_lock
    start = _hour_from_now(2) + timedelta(minutes=20)
    end = start + timedelta(hours=3, minutes=5)
    response = _create(client, auth_headers, lock_id, name="Guest", is_offline_access_code=True,
                       starts_at=_z(start), ends_at=_z(end))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "set" and body["is_offline_access_code"] is True and body["is_one_time_use"] is False
    assert body["starts_at"] == _z(start.replace(minute=0))
    assert body["ends_at"] == _z(start.replace(minute=0) + timedelta(hours=4))
    [rounded] = [w for w in body["warnings"] if w["warning_code"] == "offline_access_code_window_rounded"]
    assert rounded["requested_starts_at"] == _z(start)
    # The PIN is the scheme's: the lock derives the same one from the same secret.
    code = scheme.OfflineCode(OfflineKind.HOURLY, int(start.timestamp()) // 3600,
                              int(start.timestamp()) // 3600 + 4, 0)
    assert body["code"] == scheme.derive_pin(secret, code) and len(body["code"]) == 10
    assert "access_code.created" in _event_types(events, lock_id)
    # Nothing for the bridge to put: the lock checks it on its own.
    table = site.helper.code_table(lock_id)
    assert table["access_codes"] == [] and table["remove"] == [] and table["offline_revocations"] == []
    assert site.helper.poll() == []
    row = db.session.get(AccessCode, body["access_code_id"])
    assert body["code"] not in row.code_enc
    again = client.get(f"/access_codes/{body['access_code_id']}", headers=auth_headers).get_json()
    assert again["code"] == body["code"] and again["warnings"] == []


def test_one_time_and_daily_codes_and_distinct_pins_per_window(client, site, auth_headers, offline_lock):
    lock_id, secret, _ = offline_lock
    start = _hour_from_now(1)
    once = _create(client, auth_headers, lock_id, is_offline_access_code=True, is_one_time_use=True,
                   starts_at=_z(start)).get_json()
    assert once["is_one_time_use"] is True and once["ends_at"] == _z(start + timedelta(hours=24))
    month = _create(client, auth_headers, lock_id, is_offline_access_code=True, starts_at=_z(start),
                    ends_at=_z(start + timedelta(days=30, hours=2))).get_json()
    assert month["ends_at"] == _z(start + timedelta(days=31))  # whole days, same time of day
    assert month["first_use_deadline"] == _z(start + timedelta(hours=24))
    pins = {_create(client, auth_headers, lock_id, is_offline_access_code=True, starts_at=_z(start),
                    ends_at=_z(start + timedelta(hours=2))).get_json()["code"] for _ in range(4)}
    assert len(pins) == 4
    full = _create(client, auth_headers, lock_id, is_offline_access_code=True, starts_at=_z(start),
                   ends_at=_z(start + timedelta(hours=2)))
    assert full.status_code == 409 and full.get_json()["error_code"] == "OFFLINE_WINDOW_FULL"


@pytest.mark.parametrize(
    ("body", "status", "error_code"),
    [
        ({"ends_at": "2099-01-01T00:00:00Z"}, 400, "TIME_BOUND_REQUIRES_BOTH"),
        ({"starts_at": "2020-01-01T00:00:00Z", "ends_at": "2020-01-02T00:00:00Z"}, 400, "STARTS_AT_IN_PAST"),
        ({"starts_at": "+400d", "ends_at": "+1d"}, 400, "ENDS_AT_BEFORE_STARTS_AT"),
        ({"starts_at": "+1h", "ends_at": "+400d"}, 400, "OFFLINE_WINDOW_TOO_LONG"),
        ({"starts_at": "+1h", "ends_at": "+3h", "weekly_schedule": [
            {"days_of_week": ["monday"], "start_time": "09:00", "end_time": "10:00"}]}, 400,
         "SCHEDULE_NEEDS_ONLINE_CODE"),
        ({"starts_at": "+1h", "ends_at": "+3h", "is_one_time_use": "yes"}, 400, "INVALID_REQUEST"),
    ],
)
def test_offline_requests_refused_at_once(client, site, auth_headers, offline_lock, body, status, error_code):
    lock_id, _, _ = offline_lock

    def when(value):
        if isinstance(value, str) and value.startswith("+"):
            unit = {"h": "hours", "d": "days"}[value[-1]]
            return _z(_hour_from_now(0) + timedelta(**{unit: int(value[1:-1])}))
        return value

    payload = {key: when(value) for key, value in body.items()}
    response = _create(client, auth_headers, lock_id, is_offline_access_code=True, **payload)
    assert response.status_code == status, response.get_json()
    assert response.get_json()["error_code"] == error_code


def test_online_codes_cannot_be_one_time_and_need_a_code(client, site, auth_headers):
    lock_id = site.lock_ids[0]
    response = _create(client, auth_headers, lock_id, is_one_time_use=True, code="1234")
    assert response.status_code == 400 and response.get_json()["error_code"] == "ONE_TIME_USE_NEEDS_OFFLINE"
    response = _create(client, auth_headers, lock_id, name="No code")
    assert response.status_code == 400 and "code" in response.get_json()["errors"]


def test_patch_is_refused_clearly(client, site, auth_headers, offline_lock):
    lock_id, _, _ = offline_lock
    code = _create(client, auth_headers, lock_id, is_offline_access_code=True, is_one_time_use=True,
                   starts_at=_z(_hour_from_now(1))).get_json()
    response = client.patch(f"/access_codes/{code['access_code_id']}", json={"name": "Other"},
                            headers=auth_headers)
    assert response.status_code == 409 and response.get_json()["error_code"] == "OFFLINE_ACCESS_CODE_IMMUTABLE"
    online = _create(client, auth_headers, lock_id, code="4321").get_json()
    response = client.patch(f"/access_codes/{online['access_code_id']}", json={"is_offline_access_code": True},
                            headers=auth_headers)
    assert response.status_code == 400 and response.get_json()["error_code"] == "OFFLINE_ACCESS_CODE_IMMUTABLE"


def test_delete_queues_a_revocation_until_the_lock_takes_it(client, site, auth_headers, offline_lock, events):
    lock_id, _, generation = offline_lock
    code = _create(client, auth_headers, lock_id, is_offline_access_code=True, starts_at=_z(_hour_from_now(1)),
                   ends_at=_z(_hour_from_now(50))).get_json()
    # The lock loses its bridge: the revocation still waits for it.
    db.session.get(Lock, lock_id).bridge_id = None
    db.session.commit()
    answer = client.delete(f"/access_codes/{code['access_code_id']}", headers=auth_headers)
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["revocation_queued"] is True and "next connection" in body["message"]
    assert "access_code.deleted" not in _event_types(events, lock_id)
    assert client.get(f"/access_codes/{code['access_code_id']}", headers=auth_headers).get_json()["status"] == \
        "removing"
    # A bridge serves it again: its reconciliation carries the revocation, and reports it taken.
    db.session.get(Lock, lock_id).bridge_id = site.bridge.id
    db.session.commit()
    [revocation] = site.helper.code_table(lock_id)["offline_revocations"]
    assert revocation["access_code_id"] == code["access_code_id"] and revocation["generation"] == generation
    assert (revocation["kind"], revocation["end_hour"] - revocation["start_hour"]) == ("hourly", 49)
    site.helper.code_sync(lock_id, [], offline={"generation": generation}, revoked=[code["access_code_id"]])
    assert _event_types(events, lock_id)[-1] == "access_code.deleted"
    assert site.helper.code_table(lock_id)["offline_revocations"] == []
    assert client.get(f"/access_codes/{code['access_code_id']}", headers=auth_headers).get_json()["status"] == \
        "removed"


def test_a_new_secret_retires_the_old_codes(client, site, auth_headers, offline_lock, events):
    lock_id, _, generation = offline_lock
    code = _create(client, auth_headers, lock_id, is_offline_access_code=True, is_one_time_use=True,
                   starts_at=_z(_hour_from_now(1))).get_json()
    lock = db.session.get(Lock, lock_id)
    offline_codes.new_secret(lock)
    db.session.commit()
    assert lock.offline_generation > generation
    refused = _create(client, auth_headers, lock_id, is_offline_access_code=True, is_one_time_use=True,
                      starts_at=_z(_hour_from_now(1)))
    assert refused.status_code == 409  # not until the lock holds the new secret
    table = site.helper.code_table(lock_id)
    site.helper.code_sync(lock_id, [], offline={"generation": table["offline"]["generation"]})
    assert client.get(f"/access_codes/{code['access_code_id']}", headers=auth_headers).get_json()["status"] == \
        "removed"
    assert "access_code.deleted" in _event_types(events, lock_id)


def test_the_use_reported_later_is_access_code_used_at_the_time_it_happened(client, site, auth_headers,
                                                                            offline_lock, events):
    lock_id, secret, generation = offline_lock
    start = _hour_from_now(0)
    code = _create(client, auth_headers, lock_id, is_offline_access_code=True, starts_at=_z(start),
                   ends_at=_z(start + timedelta(hours=6))).get_json()
    # The virtual lock, with the same secret, accepts the PIN on its own.
    used_at = start + timedelta(minutes=30)
    lock = VirtualLock(time_source=lambda: used_at.timestamp())
    lock.offline.set_secret(secret, generation)
    lock.enter_pin(code["code"])
    used = lock.events[-2]
    payload = {"generation": used.generation, "kind": "hourly", "start_hour": used.start_hour,
               "end_hour": used.end_hour, "counter": used.counter}
    site.helper.events(
        {"lock_id": lock_id, "lock_seq": 10, "type": "offline_code_used", "occurred_at": _z(used_at),
         "data": payload},
        {"lock_id": lock_id, "lock_seq": 11, "type": "unlocked", "occurred_at": _z(used_at),
         "data": {"source": "keypad", "slot": None}},
    )
    [event] = [e for e in events(lock_id) if e.event_type == "access_code.used"]
    assert event.data["access_code_id"] == code["access_code_id"]
    assert event.occurred_at.replace(tzinfo=UTC) == used_at
    assert client.get(f"/access_codes/{code['access_code_id']}", headers=auth_headers).get_json()["last_used_at"] \
        == _z(used_at)
    # A denial names the code too.
    site.helper.events({"lock_id": lock_id, "lock_seq": 12, "type": "access_denied", "occurred_at": _z(used_at),
                        "data": {"reason": "revoked", "slot": None, **payload}})
    [denied] = [e for e in events(lock_id) if e.event_type == "lock.access_denied"]
    assert (denied.data["access_code_id"], denied.data["reason"]) == (code["access_code_id"], "revoked")


def test_another_owner_cannot_see_use_or_delete_an_offline_code(client, site, auth_headers, offline_lock,
                                                                other_account, make_token):
    lock_id, _, _ = offline_lock
    code = _create(client, auth_headers, lock_id, is_offline_access_code=True, is_one_time_use=True,
                   starts_at=_z(_hour_from_now(1))).get_json()
    other = {"Authorization": f"Bearer {make_token(other_account)}"}
    assert _create(client, other, lock_id, is_offline_access_code=True, is_one_time_use=True,
                   starts_at=_z(_hour_from_now(1))).status_code == 404
    assert client.get(f"/access_codes/{code['access_code_id']}", headers=other).status_code == 404
    assert client.delete(f"/access_codes/{code['access_code_id']}", headers=other).status_code == 404


def test_bad_offline_reports_from_a_bridge_are_refused(client, site, offline_lock):
    lock_id, _, _ = offline_lock
    for data in ({"kind": "weekly", "generation": 1, "start_hour": 1, "end_hour": 2, "counter": 0},
                 {"kind": "hourly", "generation": "1", "start_hour": 1, "end_hour": 2, "counter": 0}):
        response = site.helper._call("POST", "/events", expect=400, json={"events": [
            {"lock_id": lock_id, "lock_seq": 20, "type": "offline_code_used", "occurred_at": _z(_hour_from_now(0)),
             "data": data}]})
        assert response["error_code"]


def test_every_offline_event_matches_the_spec(app, client, site, auth_headers, offline_lock, account):
    from tests.openapi import assert_event_matches_spec
    from tests.provider.webhooks.test_event_payloads import _integrator

    _, seam_headers = _integrator("seam-offline", account)
    lock_id, secret, generation = offline_lock
    start = _hour_from_now(0)
    code = _create(client, auth_headers, lock_id, is_offline_access_code=True, starts_at=_z(start),
                   ends_at=_z(start + timedelta(hours=30))).get_json()
    fields = {"generation": generation, "kind": "hourly", "start_hour": int(start.timestamp()) // 3600,
              "end_hour": int(start.timestamp()) // 3600 + 30, "counter": 0}
    site.helper.events(
        {"lock_id": lock_id, "lock_seq": 1, "type": "offline_code_used", "occurred_at": _z(start), "data": fields},
        {"lock_id": lock_id, "lock_seq": 2, "type": "access_denied", "occurred_at": _z(start),
         "data": {"reason": "already_used", "slot": None, **fields}},
    )
    client.delete(f"/access_codes/{code['access_code_id']}", headers=auth_headers)
    site.helper.code_sync(lock_id, [], offline={"generation": generation}, revoked=[code["access_code_id"]])
    feed = client.get("/events", headers=seam_headers, query_string={"limit": 500}).get_json()["events"]
    kinds = [event["event_type"] for event in feed]
    for wanted in ("access_code.created", "access_code.used", "lock.access_denied", "access_code.deleted"):
        assert wanted in kinds
    for event in feed:
        assert_event_matches_spec(event)
    [created] = [e for e in feed if e["event_type"] == "access_code.created"]
    assert created["code"] == code["code"]  # the PIN reaches the entitled client, like any code's
