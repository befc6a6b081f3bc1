"""The digits of a mistyped PIN (usually one digit from a real one) rest encrypted, in the
event store and in the lock event log, and go out only in what entitled clients receive."""

from __future__ import annotations

import logging

from sqlalchemy import text

from provider.clock import now
from provider.extensions import db
from provider.schemas.fields import isoformat_z
from tests.provider.devices.conftest import make_site

TYPED = "482910"


def _raw_rows(sql: str) -> str:
    return " ".join(str(row) for row in db.session.execute(text(sql)).all())


def test_mistyped_pins_are_encrypted_at_rest_and_delivered_to_entitled_clients(
    app, client, account, make_integrator, caplog
):
    caplog.set_level(logging.DEBUG)
    seam = make_integrator("Seam")
    seam.authorised_by(account)
    site = make_site(app, account, count=1)
    lock_id = site.lock_ids[0]
    report = {"lock_id": lock_id, "lock_seq": 1, "type": "incorrect_pin",
              "occurred_at": isoformat_z(now()), "data": {"pin": TYPED}}
    assert site.helper.events(report) == {"accepted": 1, "duplicates": 0}
    db.session.expire_all()

    assert TYPED not in _raw_rows("SELECT * FROM events")
    assert TYPED not in _raw_rows("SELECT * FROM lock_event_log")
    assert "incorrect_attempt" in _raw_rows("SELECT event_type FROM events")

    feed = client.get("/events", query_string={"event_type": "access_code.incorrect_attempt"},
                      headers=seam.basic).get_json()["events"]
    # Seam's guide calls the typed digits `pin`, at the top level and inside data.
    assert [(e["pin"], e["data"]["pin"], "code" in e["data"]) for e in feed] == [(TYPED, TYPED, False)]
    assert TYPED not in caplog.text


def test_a_client_the_owner_did_not_authorise_never_receives_the_digits(
    app, client, account, make_integrator
):
    stranger = make_integrator("Stranger")
    site = make_site(app, account, count=1)
    site.helper.events({"lock_id": site.lock_ids[0], "lock_seq": 1, "type": "incorrect_pin",
                        "occurred_at": isoformat_z(now()), "data": {"pin": TYPED}})
    body = client.get("/events", headers=stranger.basic).get_data(as_text=True)
    assert TYPED not in body


def test_a_lockout_reported_by_the_lock_is_an_event(app, client, account, make_integrator):
    """A keypad lockout is Seam's lock.access_denied; a physical tamper is device.tampered."""
    seam = make_integrator("Seam")
    seam.authorised_by(account)
    site = make_site(app, account, count=1)
    at = isoformat_z(now())
    site.helper.events({"lock_id": site.lock_ids[0], "lock_seq": 1, "type": "tamper",
                        "occurred_at": at, "data": {"kind": "keypad_lockout"}},
                       {"lock_id": site.lock_ids[0], "lock_seq": 2, "type": "tamper",
                        "occurred_at": at, "data": {"kind": "case_opened"}})
    feed = client.get("/events", headers=seam.basic).get_json()["events"]
    seen = [(e["event_type"], e["lock_id"], e.get("reason"), e.get("tamper_kind")) for e in feed
            if e["event_type"] in ("lock.access_denied", "device.tampered")]
    assert seen == [
        ("lock.access_denied", site.lock_ids[0], "keypad_lockout", None),
        ("device.tampered", site.lock_ids[0], None, "case_opened"),
    ]
