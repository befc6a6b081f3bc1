"""The client's own token (client-credentials grant, RFC 6749 §4.4) for webhooks and events:
scoped, kept apart from owners' tokens both ways, bound by the owners' grants, revocable."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from provider.extensions import db
from provider.services.events import record_event
from provider.services.oauth_tokens import purge_expired


def _token(client, integrator, scope=None, basic=True):
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    if basic:
        return client.post("/oauth/token", data=data, headers=integrator.basic)
    return client.post("/oauth/token", data={**data, "client_id": integrator.row.client_id,
                                              "client_secret": integrator.secret})


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _hook(client, headers, url="http://127.0.0.1:9/hook"):
    return client.post("/webhooks", json={"url": url}, headers=headers)


@pytest.mark.parametrize("basic", [True, False])
def test_a_client_token_has_the_client_scopes_and_nothing_of_an_owner(client, make_integrator, basic):
    seam = make_integrator("Seam")
    response = _token(client, seam, basic=basic)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer" and sorted(body["scope"].split()) == ["events.read", "webhooks.manage"]
    assert response.headers["Cache-Control"] == "no-store"
    # Stored as a digest only.
    raw = " ".join(str(r) for r in db.session.execute(text("SELECT * FROM oauth_client_tokens")).all())
    assert body["access_token"] not in raw
    # An owner's scope is not for a client token; nor is an unknown one.
    for scope in ("locks.read", "events.read locks.write", "admin"):
        refused = _token(client, seam, scope)
        assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_scope", scope
    wrong = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                        headers={"Authorization": "Basic c2VhbTpub3Bl"})
    assert wrong.status_code == 401


def test_the_token_manages_webhooks_and_reads_events_within_its_scopes(client, make_integrator, account, site):
    seam = make_integrator("Seam")
    seam.authorised_by(account)
    both = _token(client, seam).get_json()["access_token"]
    created = _hook(client, _bearer(both))
    assert created.status_code == 201
    listed = client.get("/webhooks", headers=_bearer(both)).get_json()["webhooks"]
    assert [w["webhook_id"] for w in listed] == [created.get_json()["webhook_id"]]
    # Basic and the token are the same client: one list.
    assert client.get("/webhooks", headers=seam.basic).get_json()["webhooks"] == listed
    record_event("device.online", device=site.locks[0], data={"bridge_id": site.bridge.id})
    db.session.commit()
    assert [e["device_id"] for e in client.get("/events", headers=_bearer(both)).get_json()["events"]
            if e["event_type"] == "device.online"][-1] == site.lock_ids[0]

    events_only = _token(client, seam, "events.read").get_json()["access_token"]
    assert client.get("/events", headers=_bearer(events_only)).status_code == 200
    denied = client.get("/webhooks", headers=_bearer(events_only))
    assert denied.status_code == 403 and denied.get_json()["error_code"] == "INSUFFICIENT_SCOPE"
    hooks_only = _token(client, seam, "webhooks.manage").get_json()["access_token"]
    assert _hook(client, _bearer(hooks_only), "http://127.0.0.1:9/other").status_code == 201
    assert client.get("/events", headers=_bearer(hooks_only)).status_code == 403


def test_client_and_owner_tokens_never_stand_in_for_each_other(client, make_integrator, account, site, auth_headers):
    seam = make_integrator("Seam")
    seam.authorised_by(account)
    token = _token(client, seam).get_json()["access_token"]
    # A client token reads no lock, whatever the owners granted.
    for path in ("/locks", f"/locks/{site.lock_ids[0]}", f"/locks/{site.lock_ids[0]}/access_codes"):
        assert client.get(path, headers=_bearer(token)).status_code == 401, path
    assert client.post(f"/locks/{site.lock_ids[0]}/actions", headers=_bearer(token),
                       json={"action": "unlock"}).status_code == 401
    # An owner's token manages no webhook (and reads only its owner's events).
    refused = _hook(client, auth_headers)
    assert refused.status_code == 403 and refused.get_json()["error_code"] == "INSUFFICIENT_SCOPE"
    assert client.get("/events", headers=auth_headers).status_code == 200


def test_a_client_token_sees_only_the_owners_who_authorised_that_client(
    client, make_integrator, account, other_account, site
):
    from tests.provider.devices.conftest import make_site

    seam = make_integrator("Seam")
    grant = seam.authorised_by(account)
    stranger = make_integrator("Stranger")
    stranger.authorised_by(other_account)
    theirs = make_site(client.application, other_account, count=1)
    seam_token = _token(client, seam).get_json()["access_token"]
    stranger_token = _token(client, stranger).get_json()["access_token"]

    def devices(token):
        events = client.get("/events", headers=_bearer(token), query_string={"limit": 500}).get_json()["events"]
        return {e["device_id"] for e in events}

    assert set(site.lock_ids) <= devices(seam_token) and theirs.lock_ids[0] not in devices(seam_token)
    assert theirs.lock_ids[0] in devices(stranger_token) and not set(site.lock_ids) & devices(stranger_token)
    # One client's webhooks are invisible to another's token.
    hook = _hook(client, _bearer(seam_token)).get_json()["webhook_id"]
    assert client.get(f"/webhooks/{hook}", headers=_bearer(stranger_token)).status_code == 404
    assert client.delete(f"/webhooks/{hook}", headers=_bearer(stranger_token)).status_code == 404
    # The owner revokes the client: the client's token keeps working, but sees none of them.
    assert client.post("/oauth/revoke", data={"token": grant["refresh_token"]}, headers=seam.basic).status_code == 200
    assert devices(seam_token) == set()


def test_expired_and_revoked_client_tokens_are_refused(client, make_integrator, frozen_clock):
    seam = make_integrator("Seam")
    first = _token(client, seam).get_json()["access_token"]
    second = _token(client, seam).get_json()["access_token"]
    assert client.post("/oauth/revoke", data={"token": first}, headers=seam.basic).status_code == 200
    revoked = client.get("/webhooks", headers=_bearer(first))
    assert revoked.status_code == 401 and "invalid_token" in revoked.headers["WWW-Authenticate"]
    assert client.get("/webhooks", headers=_bearer(second)).status_code == 200
    # Another client cannot revoke it (RFC 7009: the token is not its own; answered 200, nothing done).
    other = make_integrator("Other")
    client.post("/oauth/revoke", data={"token": second}, headers=other.basic)
    assert client.get("/webhooks", headers=_bearer(second)).status_code == 200
    frozen_clock.advance(3601)
    assert client.get("/webhooks", headers=_bearer(second)).status_code == 401
    assert client.get("/events", headers=_bearer(second)).status_code == 401
    frozen_clock.advance(86400 + 1)
    assert purge_expired() >= 2
    db.session.commit()
    assert db.session.execute(text("SELECT count(*) FROM oauth_client_tokens")).scalar() == 0


def test_metadata_names_the_grant_and_its_scopes(client):
    metadata = client.get("/.well-known/oauth-authorization-server").get_json()
    assert "client_credentials" in metadata["grant_types_supported"]
    assert {"events.read", "webhooks.manage"} <= set(metadata["scopes_supported"])
