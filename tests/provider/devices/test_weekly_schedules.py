"""Weekly schedules of online codes through the API: stored, sent with the lock's TZ rule,
refused when the lock cannot evaluate them, refusals at the keypad reported."""

from __future__ import annotations

import pytest

from provider.extensions import db
from provider.models import Lock

WEEKDAYS = [{"days_of_week": ["monday", "tuesday", "wednesday", "thursday", "friday"],
             "start_time": "09:00", "end_time": "17:30"}]


def _create(client, headers, lock_id, **body):
    return client.post(f"/locks/{lock_id}/access_codes", json=body, headers=headers)


def _set_timezone(lock_id: str, timezone: str) -> None:
    db.session.get(Lock, lock_id).timezone = timezone
    db.session.commit()


def test_a_scheduled_code_reaches_the_lock_with_its_zone_rule(client, site, auth_headers):
    lock_id = site.lock_ids[0]
    _set_timezone(lock_id, "America/Los_Angeles")
    schedule = [{"days_of_week": ["friday", "monday"], "start_time": "09:00", "end_time": "17:30"},
                {"days_of_week": ["saturday"], "start_time": "10:00", "end_time": "24:00"}]
    response = _create(client, auth_headers, lock_id, code="482913", name="Cleaner", weekly_schedule=schedule)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "pending"
    assert body["weekly_schedule"][0]["days_of_week"] == ["monday", "friday"]  # week order
    [command] = site.helper.poll()
    assert command["params"]["schedule"] == {
        "tz_rule": "PST8PDT,M3.2.0,M11.1.0", "windows": [[0b10001, 540, 1050], [0b100000, 600, 1440]]}
    [entry] = site.helper.desired_codes(lock_id)
    assert entry["schedule"] == command["params"]["schedule"]
    # PATCH replaces it; null removes it.
    code_id = body["access_code_id"]
    patched = client.patch(f"/access_codes/{code_id}", json={"weekly_schedule": WEEKDAYS}, headers=auth_headers)
    assert patched.get_json()["weekly_schedule"] == WEEKDAYS
    cleared = client.patch(f"/access_codes/{code_id}", json={"weekly_schedule": None}, headers=auth_headers)
    assert cleared.get_json()["weekly_schedule"] is None
    assert "schedule" not in site.helper.desired_codes(lock_id)[0]


@pytest.mark.parametrize(
    "schedule",
    [
        [],
        [{"days_of_week": [], "start_time": "09:00", "end_time": "10:00"}],
        [{"days_of_week": ["funday"], "start_time": "09:00", "end_time": "10:00"}],
        [{"days_of_week": ["monday"], "start_time": "22:00", "end_time": "06:00"}],
        [{"days_of_week": ["monday"], "start_time": "9:00", "end_time": "10:00"}],
        [{"days_of_week": ["monday"], "start_time": "09:00", "end_time": "24:30"}],
        [{"days_of_week": ["monday"], "start_time": "09:00", "end_time": "10:00", "tz": "UTC"}],
        [WEEKDAYS[0]] * 9,
        "weekdays",
    ],
)
def test_schedules_the_lock_could_not_evaluate_are_refused(client, site, auth_headers, schedule):
    response = _create(client, auth_headers, site.lock_ids[0], code="482913", weekly_schedule=schedule)
    assert response.status_code == 400
    assert response.get_json()["error_code"] in ("INVALID_WEEKLY_SCHEDULE", "INVALID_REQUEST")
    assert site.helper.poll() == []


def test_a_zone_one_rule_cannot_describe_is_refused(client, site, auth_headers):
    lock_id = site.lock_ids[0]
    _set_timezone(lock_id, "Africa/Casablanca")
    response = _create(client, auth_headers, lock_id, code="482913", weekly_schedule=WEEKDAYS)
    assert response.status_code == 400
    assert response.get_json()["error_code"] == "TIMEZONE_NOT_SUPPORTED_FOR_SCHEDULES"
    assert _create(client, auth_headers, lock_id, code="482913").status_code == 200  # without one: fine


def test_an_older_lock_fails_the_code_rather_than_opening_at_all_hours(client, site, auth_headers, events):
    lock_id = site.lock_ids[0]
    code = _create(client, auth_headers, lock_id, code="482913", weekly_schedule=WEEKDAYS).get_json()
    site.helper.run({"put_code": ("failed", "SCHEDULES_NOT_SUPPORTED")})
    again = client.get(f"/access_codes/{code['access_code_id']}", headers=auth_headers).get_json()
    assert (again["status"], again["error_code"]) == ("failed", "SCHEDULES_NOT_SUPPORTED")


def test_a_pin_typed_outside_its_windows_is_reported_as_access_denied(client, site, auth_headers, events):
    lock_id = site.lock_ids[0]
    code = _create(client, auth_headers, lock_id, code="482913", weekly_schedule=WEEKDAYS).get_json()
    site.helper.run()
    slot = code["slot"]
    site.helper.events({"lock_id": lock_id, "lock_seq": 5, "type": "access_denied",
                        "occurred_at": "2026-12-05T08:00:00Z", "data": {"reason": "outside_schedule", "slot": slot}})
    [denied] = [e for e in events(lock_id) if e.event_type == "lock.access_denied"]
    assert denied.data["access_code_id"] == code["access_code_id"] and denied.data["reason"] == "outside_schedule"
    assert not [e for e in events(lock_id) if e.event_type == "access_code.incorrect_attempt"]
