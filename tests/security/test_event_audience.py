"""An owner's events reach only the OAuth clients that owner authorised, within the grant's
scope: the feed (GET /events), the single event (GET /events/<id>), and webhook fan-out,
delivery and redelivery. Revoking a grant stops new events and drops what is queued."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, select

from provider.clock import now
from provider.dispatcher import deliveries
from provider.extensions import db
from provider.models import Event, OAuthToken, WebhookDelivery
from provider.services import grants, webhooks
from provider.services.accounts import create_account
from provider.services.events import record_event
from tests.provider.devices.conftest import make_site

HOOK_URL = "http://127.0.0.1:9/hook"


@pytest.fixture
def world(app, account, other_account, make_integrator):
    """Three clients, two owners: jane authorised seam and pms, john authorised seam and voice
    (and jane gave voice a grant without locks.read). Each client has a webhook."""
    seam, pms, voice = make_integrator("Seam"), make_integrator("PMS"), make_integrator("Voice")
    seam.authorised_by(account)
    seam.authorised_by(other_account, "locks.read")
    pms.authorised_by(account)
    voice.authorised_by(other_account)
    voice.authorised_by(account, "locks.write")
    hooks = {}
    for integrator in (seam, pms, voice):
        hook, _ = webhooks.create_webhook(HOOK_URL, client_id=integrator.pk)
        hooks[integrator.row.client_id] = hook.id
    db.session.commit()
    jane_site = make_site(app, account)
    john_site = make_site(app, other_account, count=1)
    return {
        "clients": {"seam": seam, "pms": pms, "voice": voice},
        "hooks": hooks,
        "owners": {"jane": account.id, "john": other_account.id},
        "sites": {"jane": jane_site, "john": john_site},
        "audience": {account.id: {"seam", "pms"}, other_account.id: {"seam", "voice"}},
    }


def _all_events() -> list[Event]:
    db.session.expire_all()
    return list(db.session.scalars(select(Event).order_by(Event.seq)))


def _feed(client, integrator) -> set[str]:
    response = client.get("/events", query_string={"limit": 500}, headers=integrator.basic)
    assert response.status_code == 200
    return {e["event_id"] for e in response.get_json()["events"]}


def _fanned_out(hook_id: str) -> set[str]:
    deliveries.fan_out(now())
    return set(db.session.scalars(select(WebhookDelivery.event_id).where(WebhookDelivery.webhook_id == hook_id)))


def test_each_event_reaches_exactly_the_clients_its_owner_authorised(client, world):
    events = _all_events()
    assert {e.user_id for e in events} == set(world["owners"].values())
    for name, integrator in world["clients"].items():
        expected = {e.event_id for e in events if name in world["audience"][e.user_id]}
        assert _feed(client, integrator) == expected, name
        assert _fanned_out(world["hooks"][integrator.row.client_id]) == expected, name
        for event in events:
            status = client.get(f"/events/{event.event_id}", headers=integrator.basic).status_code
            assert status == (200 if event.event_id in expected else 404), (name, event.event_type)


def test_the_rule_answers_the_same_for_an_owner_as_for_the_feed(world):
    pks = {i.pk: name for name, i in world["clients"].items()}
    for owner_id, names in world["audience"].items():
        assert {pks[pk] for pk in grants.authorised_clients(owner_id)} == names


def test_a_client_no_owner_authorised_sees_no_event(client, world, make_integrator):
    stranger = make_integrator("Stranger")
    reader = make_integrator("Reader", scope="locks.read")
    for integrator in (stranger, reader):
        assert _feed(client, integrator) == set()
        for event in _all_events():
            assert client.get(f"/events/{event.event_id}", headers=integrator.basic).status_code == 404


def test_bridge_events_belong_to_the_bridge_owner(client, world):
    jane_site = world["sites"]["jane"]
    record_event("bridge.offline", device=jane_site.bridge, data={"bridge_id": jane_site.bridge.id})
    db.session.commit()
    bridge_event = _all_events()[-1]
    assert bridge_event.user_id == world["owners"]["jane"]
    assert bridge_event.event_id in _feed(client, world["clients"]["pms"])
    assert bridge_event.event_id not in _feed(client, world["clients"]["voice"])


def test_revoking_the_refresh_token_stops_new_events_and_drops_queued_ones(client, world, account, make_integrator):
    app_client = make_integrator("App")
    token = app_client.authorised_by(account)
    hook, _ = webhooks.create_webhook(HOOK_URL, client_id=app_client.pk)
    db.session.commit()
    lock = world["sites"]["jane"].locks[0]
    record_event("device.low_battery", device=lock, data={"battery_level": 0.1})
    db.session.commit()
    queued = _fanned_out(hook.id)
    assert len(queued) == 1
    response = client.post(
        "/oauth/revoke",
        data={"token": token["refresh_token"], "client_id": app_client.row.client_id, "client_secret": app_client.secret},
    )
    assert response.status_code == 200
    assert _fanned_out(hook.id) == set(), "the queued delivery is dropped"
    record_event("device.low_battery", device=lock, data={"battery_level": 0.05})
    db.session.commit()
    assert _fanned_out(hook.id) == set(), "nothing new is queued"
    assert _feed(client, app_client) == set()


def test_revoking_an_access_token_alone_leaves_the_grant_live(client, world, account, make_integrator):
    app_client = make_integrator("App")
    token = app_client.authorised_by(account)
    client.post(
        "/oauth/revoke",
        data={"token": token["access_token"], "client_id": app_client.row.client_id, "client_secret": app_client.secret},
    )
    assert _feed(client, app_client) == {e.event_id for e in _all_events() if e.user_id == account.id}


def test_the_owners_revoke_ends_the_tokens_and_drops_queued_events(client, world, account):
    seam = world["clients"]["seam"]
    lock = world["sites"]["jane"].locks[0]
    record_event("device.low_battery", device=lock, data={"battery_level": 0.1})
    db.session.commit()
    hook_id = world["hooks"]["seam"]
    jane_events = {e.event_id for e in _all_events() if e.user_id == account.id}
    assert jane_events <= _fanned_out(hook_id)
    assert grants.revoke_client(account.id, seam.pk) == 1
    db.session.commit()
    assert not (jane_events & _fanned_out(hook_id))
    assert seam.pk not in grants.authorised_clients(account.id)
    assert "Seam" not in {app.name for app in grants.connected_apps(account.id)}
    assert not (jane_events & _feed(client, seam))


def test_a_delivery_queued_before_revocation_is_dropped_at_claim(world, account):
    """The revocation may commit between a fan-out's read of the grants and its insert."""
    lock = world["sites"]["jane"].locks[0]
    hook_id = world["hooks"]["pms"]
    deliveries.fan_out(now())
    record_event("device.low_battery", device=lock, data={"battery_level": 0.1})
    db.session.commit()
    deliveries.fan_out(now())
    # Revoke behind the dispatcher's back: the grant ends, the queued rows stay.
    for row in db.session.scalars(select(OAuthToken).where(OAuthToken.client_pk == world["clients"]["pms"].pk)):
        row.refresh_token_revoked_at = row.access_token_revoked_at = now()
    db.session.commit()
    # A claim takes one delivery per device at a time: claim until nothing is left.
    for _ in range(20):
        claimed = deliveries.claim("test", now(), timedelta(seconds=30), 1000)
        assert [c for c in claimed if c.webhook_id == hook_id] == []
        if not claimed:
            break
        deliveries.release_leases("test")
        db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_([c.delivery_id for c in claimed])))
        db.session.commit()
    assert db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.webhook_id == hook_id)).all() == []


def test_redelivery_refuses_an_event_of_an_owner_who_revoked(world, account):
    hook = db.session.get(webhooks.Webhook, world["hooks"]["pms"])
    event = next(e for e in _all_events() if e.user_id == account.id)
    assert webhooks.redeliver(hook, event.event_id) is not None
    grants.revoke_client(account.id, world["clients"]["pms"].pk)
    db.session.commit()
    assert webhooks.redeliver(hook, event.event_id) is None


def test_an_operators_webhook_without_client_hears_every_owner(world):
    hook, _ = webhooks.create_webhook(HOOK_URL)
    db.session.commit()
    record_event("device.low_battery", device=world["sites"]["jane"].locks[0], data={"battery_level": 0.1})
    record_event("device.low_battery", device=world["sites"]["john"].locks[0], data={"battery_level": 0.1})
    db.session.commit()
    assert len(_fanned_out(hook.id)) == 2


def test_an_owner_who_authorised_no_one_is_heard_by_no_one(app, client, world):
    carol = create_account("carol@example.com", "9999")
    db.session.commit()
    make_site(app, carol, count=1)
    carol_events = {e.event_id for e in _all_events() if e.user_id == carol.id}
    assert carol_events
    for integrator in world["clients"].values():
        assert not (carol_events & _feed(client, integrator))


def test_the_owners_revoke_ends_a_token_already_checked_and_cached(client, world, account):
    seam = world["clients"]["seam"]
    token = seam.authorised_by(account)["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/locks", headers=headers).status_code == 200  # the bearer check may now be cached
    grants.revoke_client(account.id, seam.pk)
    db.session.commit()
    assert client.get("/locks", headers=headers).status_code == 401


# --- A lock shared with another account ------------------------------------------------------


@pytest.fixture
def shared(app, account, other_account, make_integrator):
    """Jane owns a lock and shares it with john; three clients: jane's app, john's Seam, and an
    app nobody with the lock authorised. Each has a webhook."""
    from provider.services import sharing

    jane_app, john_seam, stranger = make_integrator("Jane App"), make_integrator("John Seam"), make_integrator("Other")
    jane_app.authorised_by(account)
    john_token = john_seam.authorised_by(other_account)["access_token"]
    stranger.authorised_by(create_account("carol@example.com", "9999"))
    hooks = {}
    for integrator in (jane_app, john_seam, stranger):
        hook, _ = webhooks.create_webhook(HOOK_URL, client_id=integrator.pk)
        hooks[integrator.pk] = hook.id
    jane_site = make_site(app, account)
    lock = jane_site.locks[0]
    earlier = record_event("device.low_battery", device=lock, data={"battery_level": 0.2})
    db.session.commit()
    deliveries.fan_out(now())  # what happened before the share is not john's business
    sharing.share(lock, granted_by=account.id, email=other_account.email, role="user")
    db.session.commit()
    return {"lock": lock, "other_lock": jane_site.locks[1], "hooks": hooks, "earlier": earlier.event_id, "john_token": john_token,
            "clients": {"jane": jane_app, "john": john_seam, "stranger": stranger}}


@pytest.fixture
def plain(app):
    # The events below carry only what the audience rule reads, not every field the document
    # promises for each type: a client that does not check responses against openapi.yaml.
    from flask.testing import FlaskClient

    return FlaskClient(app, app.response_class)


def _record_lock_events(lock) -> dict[str, Event]:
    """One event of each kind a lock's life produces, after the share."""
    kinds = {
        "lock.action_completed": {"action_type": "UNLOCK_DOOR", "status": "success"},
        "device.low_battery": {"battery_level": 0.1},
        "device.door_opened": {"door_state": "open"},
        "access_code.created": {"access_code_id": "c1"},
        "access_code.incorrect_attempt": {},
    }
    events = {kind: record_event(kind, device=lock, data=data) for kind, data in kinds.items()}
    db.session.commit()
    return events


def _delivered(hook_id: str) -> set[str]:
    deliveries.fan_out(now())
    db.session.expire_all()
    return set(db.session.scalars(select(WebhookDelivery.event_id).where(WebhookDelivery.webhook_id == hook_id)))


def test_a_shared_users_clients_hear_the_shared_lock_within_the_role(plain, shared, account, other_account):
    lock, clients = shared["lock"], shared["clients"]
    events = _record_lock_events(lock)
    other_lock_event = record_event("device.low_battery", device=shared["other_lock"], data={"battery_level": 0.1})
    db.session.commit()
    state = {events[k].event_id for k in ("lock.action_completed", "device.low_battery", "device.door_opened")}
    added_to_john = {e.event_id for e in _all_events() if e.event_type == "device.added" and e.user_id == other_account.id}
    jane_events = {e.event_id for e in _all_events() if e.user_id == account.id}
    expected = {
        "jane": jane_events,  # every event of her locks, her own device.added included
        "john": state | added_to_john,  # the shared lock's state, never its codes, nor the other lock
        "stranger": set(),
    }
    assert other_lock_event.event_id not in expected["john"]
    for name, integrator in clients.items():
        assert _feed(plain, integrator) & (jane_events | added_to_john) == expected[name], name
        assert _delivered(shared["hooks"][integrator.pk]) & (jane_events | added_to_john) == expected[name], name
        for event_id in jane_events | added_to_john:
            status = plain.get(f"/events/{event_id}", headers=integrator.basic).status_code
            assert status == (200 if event_id in expected[name] else 404), (name, event_id)
    # John's own token (the account itself, not the client) reads the same.
    own = plain.get("/events", query_string={"limit": 500},
                    headers={"Authorization": f"Bearer {shared['john_token']}"})
    assert {e["event_id"] for e in own.get_json()["events"]} & (jane_events | added_to_john) == expected["john"]
    for kind, event in events.items():
        audience = grants.event_audience(event)
        assert (clients["john"].pk in audience) == (event.event_id in state), kind
        assert clients["jane"].pk in audience and clients["stranger"].pk not in audience


def test_an_admin_share_also_hears_the_access_codes(plain, shared, account, other_account):
    from provider.services import sharing

    sharing.share(shared["lock"], granted_by=account.id, email=other_account.email, role="admin")
    db.session.commit()
    events = _record_lock_events(shared["lock"])
    john = shared["clients"]["john"]
    assert {e.event_id for e in events.values()} <= _feed(plain, john)
    assert {e.event_id for e in events.values()} <= _delivered(shared["hooks"][john.pk])


def test_events_from_before_the_share_stay_the_owners(plain, shared):
    john = shared["clients"]["john"]
    lock_id = shared["lock"].id
    before = {e.event_id for e in _all_events() if e.device_id == lock_id and e.event_type != "device.added"}
    assert before == {shared["earlier"]}
    assert not (before & _feed(plain, john))
    assert not (before & _delivered(shared["hooks"][john.pk]))


def test_revoking_the_share_tells_the_users_clients_and_stops_the_rest(plain, shared, account, other_account):
    from provider.services import sharing

    lock, john = shared["lock"], shared["clients"]["john"]
    hook_id = shared["hooks"][john.pk]
    queued = record_event("device.low_battery", device=lock, data={"battery_level": 0.1})
    db.session.commit()
    assert queued.event_id in _delivered(hook_id)  # fanned out, not yet sent
    sharing.revoke(lock, sharing.share_of(lock, other_account.id))
    db.session.commit()
    removed = next(e for e in reversed(_all_events()) if e.event_type == "device.removed")
    assert (removed.user_id, removed.device_id) == (other_account.id, lock.id)
    after = record_event("device.low_battery", device=lock, data={"battery_level": 0.05})
    db.session.commit()
    delivered = _delivered(hook_id)
    assert removed.event_id in delivered and after.event_id not in delivered
    assert removed.event_id in _feed(plain, john) and after.event_id not in _feed(plain, john)
    # What was queued before the revocation is dropped when a dispatcher claims it, never sent.
    sent: set[str] = set()
    for _ in range(20):
        claimed = deliveries.claim("test", now(), timedelta(seconds=30), 1000)
        sent |= {c.event_id for c in claimed if c.webhook_id == hook_id}
        if not claimed:
            break
        db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_([c.delivery_id for c in claimed])))
        db.session.commit()
    assert queued.event_id not in sent and removed.event_id in sent
    assert webhooks.redeliver(db.session.get(webhooks.Webhook, hook_id), queued.event_id) is None
    assert grants.event_audience(after) == {shared["clients"]["jane"].pk}
