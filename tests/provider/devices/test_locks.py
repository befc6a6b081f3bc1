from __future__ import annotations

from sqlalchemy import inspect

from provider.extensions import db
from provider.models import Lock
from provider.services import crypto, locks


def test_list_locks_has_both_shapes(client, site, auth_headers):
    body = client.get("/locks", headers=auth_headers).get_json()
    assert {lock["lock_id"] for lock in body["locks"]} == set(site.lock_ids)
    lock = body["locks"][0]
    assert lock["lock_id"] == lock["device_id"]
    assert lock["model"] == lock["device_model"] == "HALO-01"
    assert lock["device_type"] == "smart_lock"
    assert lock["online"] is True and lock["lock_state"] == "locked" and lock["battery_level"] == 65
    assert lock["bridge_id"] == site.bridge.id
    assert lock["access_code_constraints"]["name_length_max_on_device"] == 14
    assert "next_cursor" not in body


def test_other_owners_lock_is_404(client, site, other_site, auth_headers):
    foreign = other_site.lock_ids[0]
    assert client.get(f"/locks/{foreign}", headers=auth_headers).status_code == 404
    assert client.get("/locks/nope", headers=auth_headers).status_code == 404
    ids = [lock["lock_id"] for lock in client.get("/locks", headers=auth_headers).get_json()["locks"]]
    assert foreign not in ids
    for path in (f"/locks/{foreign}/actions", f"/locks/{foreign}/access_codes"):
        response = client.post(path, headers=auth_headers, json={"action": "unlock", "code": "1234"})
        assert response.status_code == 404
    assert client.post(f"/locks/{foreign}/unlock", headers=auth_headers).status_code == 404
    assert client.get(f"/access_codes?lock_id={foreign}", headers=auth_headers).status_code == 404


def test_paging_with_cursor(app, client, account, auth_headers):
    from tests.provider.devices.conftest import make_site

    site = make_site(app, account, count=5)
    seen, cursor = [], None
    while True:
        url = "/locks?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url, headers=auth_headers).get_json()
        seen += [lock["lock_id"] for lock in body["locks"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(site.lock_ids)
    assert client.get("/locks?cursor=!!!", headers=auth_headers).status_code == 400
    assert client.get("/locks?limit=0", headers=auth_headers).status_code == 400


def test_needs_token_and_scope(client, site, account, make_token):
    assert client.get("/locks").status_code == 401
    read_only = {"Authorization": f"Bearer {make_token(account, scope='locks.read')}"}
    assert client.get("/locks", headers=read_only).status_code == 200
    response = client.post(f"/locks/{site.lock_ids[0]}/actions", headers=read_only, json={"action": "unlock"})
    assert response.status_code == 403


def test_device_key_encrypted_at_rest(app, site):
    stored = db.session.get(Lock, site.lock_ids[0])
    key = locks.device_key(stored)
    assert len(key) == 32 and key not in stored.device_key_enc
    assert crypto.decrypt(stored.device_key_enc, purpose=locks.DEVICE_KEY_PURPOSE) == key


def test_lock_listing_uses_owner_index(app):
    indexes = {ix["name"]: ix["column_names"] for ix in inspect(db.engine).get_indexes("locks")}
    assert indexes["ix_locks_owner_id_id"] == ["owner_id", "id"]


def test_data_key_overrides_secret_key(make_app):
    other = make_app(PROVIDER_DATA_KEY="a-separate-data-key")
    with other.app_context():
        sealed = crypto.encrypt("00112233445566778899aabbccddeeff", purpose=locks.DEVICE_KEY_PURPOSE)
        assert crypto.decrypt(sealed, purpose=locks.DEVICE_KEY_PURPOSE).startswith("0011")
    try:
        crypto.decrypt(sealed, purpose=locks.DEVICE_KEY_PURPOSE)  # under SECRET_KEY: unreadable
    except crypto.DecryptionError:
        pass
    else:
        raise AssertionError("decrypted under the wrong key")
