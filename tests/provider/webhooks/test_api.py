"""The webhook and event endpoints, every response checked against openapi.yaml."""

from __future__ import annotations

import base64

import pytest
from standardwebhooks.webhooks import Webhook as StandardWebhook

from provider.extensions import db
from provider.services.oauth_clients import create_client


def basic(client_id, secret):
    token = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture(autouse=True)
def _remembered_client_secrets(monkeypatch):
    """Each credential pair is verified (argon2, slow by design) once per test, not per request."""
    from provider.models import OAuthClient
    from provider.oauth import client_auth as api

    real, seen = api.authenticate_client, {}

    def remembered(client_id, secret):
        if (client_id, secret) not in seen:
            found = real(client_id, secret)
            seen[(client_id, secret)] = found.id if found else None
        pk = seen[(client_id, secret)]
        return db.session.get(OAuthClient, pk) if pk else None

    monkeypatch.setattr(api, "authenticate_client", remembered)


@pytest.fixture
def client_auth(oauth_client):
    return basic(oauth_client.client_id, oauth_client.secret)


@pytest.fixture
def emit(emit, account, make_token):
    """Events of jane, who authorised the test client: a client hears only such owners."""
    make_token(account)

    def _emit(*args, user_id=None, **kwargs):
        return emit(*args, user_id=user_id or account.id, **kwargs)

    return _emit


def _create(client, headers, url="http://127.0.0.1:9/hook", **body):
    return client.post("/webhooks", json={"url": url, **body}, headers=headers)


def test_register_list_get_update_delete(client, client_auth):
    created = _create(client, client_auth, events=["device.offline", "device.online"])
    assert created.status_code == 201
    hook = created.get_json()
    assert hook["status"] == "active" and hook["enabled"] is True
    assert hook["events"] == ["device.online", "device.offline"]
    assert base64.b64decode(hook["secret"].removeprefix("whsec_")).__len__() == 32
    webhook_id = hook["webhook_id"]

    listed = client.get("/webhooks", headers=client_auth).get_json()["webhooks"]
    assert [w["webhook_id"] for w in listed] == [webhook_id]
    assert "secret" not in listed[0]
    assert client.get(f"/webhooks/{webhook_id}", headers=client_auth).get_json()["url"] == hook["url"]

    patched = client.patch(
        f"/webhooks/{webhook_id}", json={"enabled": False, "events": []}, headers=client_auth
    ).get_json()
    assert patched["status"] == "disabled" and patched["enabled"] is False and patched["events"] == []
    patched = client.patch(f"/webhooks/{webhook_id}", json={"enabled": True}, headers=client_auth).get_json()
    assert patched["status"] == "active"

    assert client.delete(f"/webhooks/{webhook_id}", headers=client_auth).status_code == 204
    assert client.get(f"/webhooks/{webhook_id}", headers=client_auth).status_code == 404


INVALID = [
        ({"url": "http://127.0.0.1/x", "events": [""]}, "events"),
        ({"url": "http://127.0.0.1/x", "events": [7]}, "events"),
        ({"url": "http://example.com/hook"}, "url"),
        ({"url": "ftp://127.0.0.1/hook"}, "url"),
        ({"url": "https://user:pw@example.com/hook"}, "url"),
        ({"url": 42}, "url"),
        ({"url": "http://127.0.0.1/x", "colour": "red"}, "colour"),
        ({}, "url"),
]


def test_unknown_event_types_are_accepted_and_reported_ignored(
    client, client_auth, receiver, dispatcher, emit
):
    """Seam may list types this cloud does not emit: 201, and the answer says which."""
    created = _create(client, client_auth, url=receiver.url, events=["device.offline", "lock.exploded"])
    assert created.status_code == 201
    hook = created.get_json()
    assert hook["events"] == ["device.offline", "lock.exploded"] and hook["ignored_events"] == ["lock.exploded"]
    only_unknown = _create(client, client_auth, url=receiver.url + "/unknown", events=["lock.exploded"]).get_json()
    assert only_unknown["ignored_events"] == ["lock.exploded"]
    patched = client.patch(f"/webhooks/{hook['webhook_id']}", json={"events": ["door.opened", "device.online"]},
                           headers=client_auth).get_json()
    assert patched["events"] == ["device.online", "door.opened"] and patched["ignored_events"] == ["door.opened"]
    emit("device.online", device_id="lock-1")
    emit("device.offline", device_id="lock-1")
    dispatcher.drain()
    # A filter of unknown types alone never widens to every type.
    assert [(d.path, d.json["event_type"]) for d in receiver.received] == [("/hook", "device.online")]


def test_invalid_registrations_are_400(client, client_auth):
    for body, field in INVALID:
        response = client.post("/webhooks", json=body, headers=client_auth)
        assert response.status_code == 400, body
        assert response.get_json()["error_code"] == "INVALID_REQUEST"
        assert field in response.get_json()["errors"], body
    assert client.post("/webhooks", data="[1]", headers=client_auth,
                       content_type="application/json").status_code == 400
    assert client.get("/webhooks", headers=client_auth).get_json()["webhooks"] == []


def test_production_requires_https_to_public_hosts(make_app, oauth_client, client_auth):
    prod = make_app(ENV={"PROVIDER_ENV": "production", "SECRET_KEY": "k", "DATABASE_URL": "sqlite://",
                         "PROVIDER_PROXY_HOPS": "0"})
    with prod.app_context():
        client = prod.test_client()
        for url in ("http://127.0.0.1:8080/hook", "https://127.0.0.1/hook", "https://169.254.169.254/x",
                    "https://10.1.2.3/hook", "https://localhost/hook", "https://[::1]/hook"):
            response = client.post("/webhooks", json={"url": url}, headers=client_auth)
            assert response.status_code == 400, url


def test_credentials_are_required_and_owner_tokens_refused(client, oauth_client, auth_headers):
    response = client.get("/webhooks")
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Basic")
    assert client.get("/webhooks", headers=basic(oauth_client.client_id, "wrong")).status_code == 401
    response = client.post("/webhooks", json={"url": "http://127.0.0.1/x"}, headers=auth_headers)
    assert response.status_code == 403


def test_another_clients_webhooks_are_invisible(client, client_auth, app):
    other, secret = create_client("Other", ["https://other.example.com/cb"], "locks.read")
    db.session.commit()
    webhook_id = _create(client, client_auth).get_json()["webhook_id"]
    other_auth = basic(other.client_id, secret)
    assert client.get("/webhooks", headers=other_auth).get_json()["webhooks"] == []
    assert client.get(f"/webhooks/{webhook_id}", headers=other_auth).status_code == 404
    assert client.delete(f"/webhooks/{webhook_id}", headers=other_auth).status_code == 404


def test_delivery_log_and_redelivery(client, client_auth, receiver, dispatcher, emit):
    from tests.provider.webhooks.receiver import Reply

    replies = iter([Reply(500), Reply(200), Reply(200)])
    receiver.respond = lambda _: next(replies)
    hook = _create(client, client_auth, url=receiver.url).get_json()
    event = emit("device.offline", device_id="lock-1")
    dispatcher.drain()

    log = client.get(f"/webhooks/{hook['webhook_id']}/deliveries", headers=client_auth).get_json()
    [delivery] = log["deliveries"]
    assert delivery["event_id"] == event.event_id and delivery["status"] == "pending"
    assert delivery["next_attempt_at"] is not None
    [attempt] = delivery["attempt_log"]
    assert attempt["status_code"] == 500 and attempt["succeeded"] is False and attempt["error"]

    queued = client.post(
        f"/webhooks/{hook['webhook_id']}/redeliver", json={"event_id": event.event_id}, headers=client_auth
    )
    assert queued.status_code == 202
    dispatcher.drain()
    [delivery] = client.get(
        f"/webhooks/{hook['webhook_id']}/deliveries?status=delivered", headers=client_auth
    ).get_json()["deliveries"]
    assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 200]
    assert client.post(
        f"/webhooks/{hook['webhook_id']}/redeliver", json={"event_id": "nope"}, headers=client_auth
    ).status_code == 404


def test_rotate_secret_over_the_api(client, client_auth, receiver, dispatcher, emit):
    hook = _create(client, client_auth, url=receiver.url).get_json()
    rotated = client.post(
        f"/webhooks/{hook['webhook_id']}/rotate_secret", json={"grace_seconds": 600}, headers=client_auth
    )
    assert rotated.status_code == 200
    new = rotated.get_json()["secret"]
    assert new != hook["secret"] and rotated.get_json()["previous_secret_expires_at"]
    emit()
    dispatcher.drain()
    got = receiver.received[0]
    StandardWebhook(hook["secret"]).verify(got.body, got.headers)
    StandardWebhook(new).verify(got.body, got.headers)
    assert client.post(
        f"/webhooks/{hook['webhook_id']}/rotate_secret", json={"grace_seconds": -1}, headers=client_auth
    ).status_code == 400


def test_deliveries_paging(client, client_auth, emit, dispatcher):
    hook = _create(client, client_auth).get_json()
    for _ in range(5):
        emit()
    from provider.clock import now
    from provider.dispatcher import deliveries

    deliveries.fan_out(now())
    seen, cursor = [], None
    while True:
        url = f"/webhooks/{hook['webhook_id']}/deliveries?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=client_auth).get_json()
        seen += [d["event_id"] for d in page["deliveries"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 5 == len(set(seen))
    assert client.get(
        f"/webhooks/{hook['webhook_id']}/deliveries?cursor=%%%", headers=client_auth
    ).status_code == 400


def test_events_feed_for_the_client_and_for_an_owner(
    client, client_auth, account, other_account, make_token, emit
):
    make_token(other_account, "locks.read")  # both owners authorised the test client
    mine = [emit("device.online", device_id="lock-1", user_id=account.id) for _ in range(3)]
    theirs = emit("device.offline", device_id="lock-2", user_id=other_account.id)

    everything = client.get("/events", headers=client_auth).get_json()
    assert [e["event_id"] for e in everything["events"]] == [e.event_id for e in [*mine, theirs]]
    assert everything["next_cursor"] is None

    owner = {"Authorization": f"Bearer {make_token(account, 'locks.read')}"}
    own = client.get("/events?limit=2", headers=owner).get_json()
    assert [e["event_id"] for e in own["events"]] == [e.event_id for e in mine[:2]]
    rest = client.get(f"/events?limit=2&cursor={own['next_cursor']}", headers=owner).get_json()
    assert [e["event_id"] for e in rest["events"]] == [mine[2].event_id]
    assert client.get(f"/events/{theirs.event_id}", headers=owner).status_code == 404
    assert client.get(f"/events/{mine[0].event_id}", headers=owner).get_json()["device_id"] == "lock-1"
    assert client.get(f"/events/{theirs.event_id}", headers=client_auth).status_code == 200

    filtered = client.get("/events?event_type=device.offline", headers=client_auth).get_json()
    assert [e["event_id"] for e in filtered["events"]] == [theirs.event_id]
    by_device = client.get("/events?device_id=lock-1&limit=500", headers=client_auth).get_json()
    assert len(by_device["events"]) == 3
    assert client.get("/events?event_type=nope", headers=client_auth).status_code == 400
    assert client.get("/events?since=yesterday", headers=client_auth).status_code == 400
    assert client.get("/events").status_code == 401
    no_scope = {"Authorization": f"Bearer {make_token(account, 'locks.write')}"}
    assert client.get("/events", headers=no_scope).status_code == 403
