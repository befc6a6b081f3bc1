"""The PIN-conflict check reads a keyed lookup beside each ciphertext, never the PINs themselves."""

from __future__ import annotations

from sqlalchemy import update

from provider.extensions import db
from provider.models import AccessCode
from provider.services import access_codes


def _create(client, headers, lock_id, pin, name="Guest"):
    return client.post(f"/locks/{lock_id}/access_codes", json={"code": pin, "name": name}, headers=headers)


def test_the_same_pin_on_one_lock_is_a_conflict(client, site, auth_headers):
    assert _create(client, auth_headers, site.lock_ids[0], "482913").status_code == 200
    refused = _create(client, auth_headers, site.lock_ids[0], "482913", name="Other")
    assert refused.status_code == 409 and refused.get_json()["error_code"] == "PIN_CONFLICT"


def test_the_same_pin_on_another_lock_is_fine_and_looks_different(client, site, auth_headers):
    first = _create(client, auth_headers, site.lock_ids[0], "482913").get_json()
    second = _create(client, auth_headers, site.lock_ids[1], "482913").get_json()
    rows = [db.session.get(AccessCode, c["access_code_id"]) for c in (first, second)]
    assert rows[0].pin_lookup != rows[1].pin_lookup  # keyed per lock: equal PINs do not show


def test_the_lookup_holds_no_pin_and_depends_on_the_data_key(client, site, auth_headers):
    code = _create(client, auth_headers, site.lock_ids[0], "482913").get_json()
    row = db.session.get(AccessCode, code["access_code_id"])
    assert "482913" not in row.pin_lookup and len(row.pin_lookup) == 64
    other_key = access_codes.crypto.keyed_digest(
        f"{row.lock_id}:482913", purpose=access_codes.PIN_LOOKUP_PURPOSE, secret_key="another key"
    )
    assert other_key != row.pin_lookup


def test_codes_stored_before_the_lookup_still_conflict_and_get_one(client, site, auth_headers):
    code = _create(client, auth_headers, site.lock_ids[0], "482913").get_json()
    db.session.execute(update(AccessCode).values(pin_lookup=None))  # as the migration leaves old rows
    db.session.commit()
    refused = _create(client, auth_headers, site.lock_ids[0], "482913", name="Other")
    assert refused.status_code == 409
    assert _create(client, auth_headers, site.lock_ids[0], "550011", name="Other").status_code == 200
    db.session.expire_all()
    assert db.session.get(AccessCode, code["access_code_id"]).pin_lookup is not None


def test_changing_a_pin_moves_its_lookup(client, site, auth_headers):
    code = _create(client, auth_headers, site.lock_ids[0], "482913").get_json()
    patched = client.patch(f"/access_codes/{code['access_code_id']}", json={"code": "771100"}, headers=auth_headers)
    assert patched.status_code == 200
    assert _create(client, auth_headers, site.lock_ids[0], "482913", name="Reuse").status_code == 200
    refused = _create(client, auth_headers, site.lock_ids[0], "771100", name="Other")
    assert refused.status_code == 409
