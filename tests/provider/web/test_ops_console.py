"""The operations console: operator-only, TOTP, and each action audited, on the API's services."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from provider.extensions import db
from provider.models import AuditEntry, Bridge, OAuthClient, WebhookDelivery
from provider.services import oauth_clients, operators
from tests.provider.web.conftest import OPERATOR_EMAIL, sign_in_operator


def _audit_actions() -> list[str]:
    db.session.expire_all()
    return [entry.action for entry in db.session.query(AuditEntry).order_by(AuditEntry.id)]


def test_console_needs_an_operator(pages):
    assert pages.get("/ops/").status_code == 303


def test_an_owner_session_does_not_open_the_console(owner_pages):
    response = owner_pages.get("/ops/")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/ops/sign-in")


def test_an_oauth_token_does_not_open_the_console(pages, account, make_token):
    response = pages.client.get("/ops/", headers={"Authorization": f"Bearer {make_token(account)}"})
    assert response.status_code == 303


def test_an_owners_password_is_not_an_operators(pages, account, operator):
    response = pages.post("/ops/sign-in", {"email": "jane@example.com", "password": "1234",
                                           "code": "000000"}, page="/ops/sign-in")
    assert response.status_code == 401


def test_wrong_totp_code_is_refused(pages, operator):
    good = operators.current_code(operator)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    response = sign_in_operator(pages, operator, code=wrong)
    assert response.status_code == 401
    assert "Wrong email, password or code." in response.get_data(as_text=True)


def test_a_totp_code_works_once(app, pages, operator, frozen_clock):
    from flask.testing import FlaskClient

    from tests.provider.web.conftest import Pages

    code = operators.current_code(operator)
    assert sign_in_operator(pages, operator, code).status_code == 303
    other = Pages(FlaskClient(app, app.response_class, use_cookies=True))
    assert sign_in_operator(other, operator, code).status_code == 401
    frozen_clock.advance(30)
    assert sign_in_operator(other, operator).status_code == 303


def test_fleet_page_shows_offline_bridge_low_battery_and_queue(ops_pages, site):
    site.locks[0].battery_level = 12
    site.bridge.online = False
    db.session.commit()
    html = ops_pages.get("/ops/").get_data(as_text=True)
    assert "Low battery (1)" in html
    assert "offline" in html and "Hall bridge" in html
    assert '<svg class="chart"' in html
    assert 'id="queue-depth">0<' in html


def test_client_created_secret_shown_once_then_rotated_with_grace(ops_pages, frozen_clock):
    html = ops_pages.post("/ops/clients", {"name": "Seam", "redirect_uris": "https://connect.getseam.com/cb"},
                          page="/ops/clients").get_data(as_text=True)
    client_id = html.split('id="shown-client-id">')[1].split("<")[0]
    old = html.split('id="shown-secret">')[1].split("<")[0]
    assert old not in ops_pages.get("/ops/clients").get_data(as_text=True)
    html = ops_pages.post(f"/ops/clients/{client_id}/rotate", page="/ops/clients").get_data(as_text=True)
    new = html.split('id="shown-secret">')[1].split("<")[0]
    client = db.session.query(OAuthClient).filter_by(client_id=client_id).one()
    assert oauth_clients.verify_secret(client, new)
    assert oauth_clients.verify_secret(client, old)  # still, during the grace period
    frozen_clock.advance(24 * 3600 + 1)
    assert not oauth_clients.verify_secret(client, old)
    assert _audit_actions()[-2:] == ["client.create", "client.rotate_secret"]


def test_deleting_a_client_ends_its_tokens_and_webhooks(ops_pages, oauth_client, account, make_token, client):
    from provider.models import Webhook
    from provider.services import webhooks

    token = make_token(account)
    webhooks.create_webhook("http://127.0.0.1:9/hook", [], client_id=oauth_client.id)
    db.session.commit()
    assert "Test client" in ops_pages.get("/ops/webhooks").get_data(as_text=True)
    ops_pages.post(f"/ops/clients/{oauth_client.client_id}/delete", page="/ops/clients")
    assert client.get("/locks", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert db.session.query(Webhook).count() == 0
    assert "client.delete" in _audit_actions()


def test_revoked_bridge_token_is_refused(ops_pages, site, client):
    ops_pages.post(f"/ops/bridges/{site.bridge.id}/revoke", page="/ops/bridges")
    response = client.get("/bridge/v1/locks", headers={"Authorization": f"Bearer {site.token}"})
    assert response.status_code == 401
    assert "bridge.revoke_token" in _audit_actions()


def test_disabled_account_cannot_sign_in_and_loses_its_grants(ops_pages, pages, account, make_token, client):
    token = make_token(account)
    ops_pages.post(f"/ops/accounts/{account.id}/disable", {"disabled": "1"}, page="/ops/accounts")
    assert client.get("/locks", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    response = pages.post("/account/sign-in", {"email": "jane@example.com", "password": "1234"},
                          page="/account/sign-in")
    assert response.status_code == 401
    ops_pages.post(f"/ops/accounts/{account.id}/disable", {"disabled": "0"}, page="/ops/accounts")
    pages.sign_in()


def test_redeliver_queues_the_event_again_and_is_audited(ops_pages, site):
    from provider.models import Event, Webhook

    hook = Webhook(url="https://receiver.example.com/hook", event_types=[], secret_encrypted="x",
                   status="failing", status_reason="HTTP 503 from the receiver")
    db.session.add(hook)
    db.session.flush()
    event = db.session.query(Event).order_by(Event.seq).first()
    db.session.add(WebhookDelivery(webhook_id=hook.id, event_seq=event.seq, event_id=event.event_id,
                                   event_type=event.event_type, status="expired", attempts=9,
                                   last_status_code=503))
    db.session.commit()
    html = ops_pages.get("/ops/webhooks").get_data(as_text=True)
    assert "HTTP 503 from the receiver" in html
    ops_pages.post(f"/ops/webhooks/{hook.id}/redeliver", {"event_id": event.event_id},
                   page=f"/ops/webhooks/{hook.id}")
    db.session.expire_all()
    assert db.session.query(WebhookDelivery).one().status == "pending"
    assert _audit_actions()[-1] == "webhook.redeliver"
    assert "webhook.redeliver" in ops_pages.get("/ops/audit").get_data(as_text=True)


@pytest.mark.parametrize("args", [
    ["clients", "list"], ["bridges", "list"], ["locks", "list"], ["accounts", "list"], ["operators", "list"],
])
def test_cli_list_commands(app, site, oauth_client, operator, args):
    result = _invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.output.strip()


def _invoke(app, args):
    from flask.cli import ScriptInfo

    from provider.cli import main

    return CliRunner().invoke(main, args, obj=ScriptInfo(create_app=lambda: app))


def test_cli_rotate_delete_and_revoke_are_audited(app, site, oauth_client):
    assert _invoke(app, ["clients", "rotate-secret", oauth_client.client_id]).exit_code == 0
    assert _invoke(app, ["bridges", "revoke-token", site.bridge.id]).exit_code == 0
    assert _invoke(app, ["clients", "delete", oauth_client.client_id]).exit_code == 0
    assert _audit_actions() == ["client.rotate_secret", "bridge.revoke_token", "client.delete"]
    assert db.session.query(Bridge).count() == 1


def test_operator_created_on_the_cli_gets_a_totp_seed(app):
    result = _invoke(app, ["operators", "create", OPERATOR_EMAIL, "--password", "pw-1234567"])
    assert result.exit_code == 0, result.output
    assert "otpauth://totp/" in result.output
    assert "operator.create" in _audit_actions()


def test_operator_creates_an_account_and_the_owner_sets_a_password_from_the_mail(
    ops_pages, pages, app, tmp_path, monkeypatch
):
    import re

    from provider.models import Account
    from provider.services import mail

    monkeypatch.setitem(app.config, "PROVIDER_VAR_DIR", str(tmp_path))
    ops_pages.post("/ops/accounts", {"email": "new.owner@example.com"}, page="/ops/accounts")
    assert db.session.query(Account).filter_by(email="new.owner@example.com").count() == 1
    body = mail.dropped(mail.MailSettings.from_config(app.config))[0].body
    link = re.search(r"http://localhost(/account/reset/\S+)", body).group(1)
    response = pages.post(link, {"new_password": "chosen-pw", "confirm": "chosen-pw"}, page=link)
    assert response.status_code == 303
    assert "account.create" in _audit_actions()


def test_operator_registers_a_lock_with_a_generated_key_then_removes_it(ops_pages, site):
    from provider.models import Event, Lock

    html = ops_pages.post("/ops/locks", {"bridge_id": site.bridge.id, "name": "Garage",
                                         "ble_address": "c0:ff:ee:00:00:99", "timezone": "Europe/Paris"},
                          page="/ops/locks").get_data(as_text=True)
    assert len(html.split('id="shown-device-key">')[1].split("<")[0]) == 32
    lock = db.session.query(Lock).filter_by(name="Garage").one()
    assert lock.owner_id == site.bridge.owner_id
    ops_pages.post(f"/ops/locks/{lock.id}/remove", page="/ops/locks")
    assert db.session.query(Lock).filter_by(name="Garage").count() == 0
    assert db.session.query(Event).filter_by(device_id=lock.id, event_type="device.removed").count() == 1
    assert _audit_actions()[-2:] == ["lock.add", "lock.remove"]


def test_a_bad_ble_address_is_refused_in_a_sentence(ops_pages, site):
    response = ops_pages.post("/ops/locks", {"bridge_id": site.bridge.id, "name": "Garage", "ble_address": "nope"},
                              page="/ops/locks")
    assert response.status_code == 400
    assert "Not a BLE address" in response.get_data(as_text=True)


def test_operator_webhook_created_rotated_and_deleted(ops_pages):
    from provider.models import Webhook

    html = ops_pages.post("/ops/webhooks", {"url": "http://127.0.0.1:9/hook"},
                          page="/ops/webhooks").get_data(as_text=True)
    first = html.split('id="shown-secret">')[1].split("<")[0]
    hook = db.session.query(Webhook).one()
    html = ops_pages.post(f"/ops/webhooks/{hook.id}/rotate", page=f"/ops/webhooks/{hook.id}").get_data(as_text=True)
    assert html.split('id="shown-secret">')[1].split("<")[0] != first
    ops_pages.post(f"/ops/webhooks/{hook.id}/delete", page=f"/ops/webhooks/{hook.id}")
    assert db.session.query(Webhook).count() == 0
    assert _audit_actions()[-3:] == ["webhook.create", "webhook.rotate_secret", "webhook.delete"]


def test_a_bad_webhook_url_is_refused_with_the_rules_message(ops_pages):
    from provider.models import Webhook

    response = ops_pages.post("/ops/webhooks", {"url": "ftp://x"}, page="/ops/webhooks")
    assert response.status_code == 303
    assert db.session.query(Webhook).count() == 0
    assert 'class="error"' in ops_pages.get("/ops/webhooks").get_data(as_text=True)


# Operators disabled, and the CLI at parity with the console ----------------------------------


def _second_operator():
    row, seed = operators.create_operator("second@vendor.example", "ops-password-2")
    db.session.commit()
    row.seed = seed
    return row


def test_operator_disabled_on_the_cli_is_signed_out_and_cannot_sign_in(app, ops_pages, operator):
    assert ops_pages.get("/ops/").status_code == 200
    result = _invoke(app, ["operators", "disable", OPERATOR_EMAIL])
    assert result.exit_code == 0, result.output
    assert _audit_actions()[-1] == "operator.disable"
    assert ops_pages.get("/ops/").status_code == 303, "the open session ends at its next request"
    refused = sign_in_operator(ops_pages, operator)
    assert refused.status_code == 401
    assert _invoke(app, ["operators", "disable", OPERATOR_EMAIL, "--enable"]).exit_code == 0
    assert _audit_actions()[-1] == "operator.enable"
    assert "active" in _invoke(app, ["operators", "list"]).output


def test_an_operator_disables_another_in_the_console_but_never_itself(app, ops_pages, operator, frozen_clock):
    from tests.provider.web.conftest import Pages

    other = _second_operator()
    html = ops_pages.get("/ops/operators").get_data(as_text=True)
    assert f"Disable {other.email}" in html and f"Disable {OPERATOR_EMAIL}" not in html
    mine = ops_pages.post(f"/ops/operators/{operator.id}/disable", {"disabled": "1"}, page="/ops/operators")
    assert mine.status_code == 303
    db.session.expire_all()
    assert db.session.get(type(operator), operator.id).disabled_at is None
    assert ops_pages.post(f"/ops/operators/{other.id}/disable", {"disabled": "1"},
                          page="/ops/operators").status_code == 303
    db.session.expire_all()
    assert db.session.get(type(other), other.id).disabled_at is not None
    assert _audit_actions()[-1] == "operator.disable"
    from flask.testing import FlaskClient

    second = Pages(FlaskClient(app, app.response_class, use_cookies=True))
    frozen_clock.advance(30)
    assert second.post("/ops/sign-in", {"email": other.email, "password": "ops-password-2",
                                        "code": operators.current_code(other)},
                       page="/ops/sign-in").status_code == 401


def test_cli_audit_fleet_and_lock_history_show_what_the_console_shows(app, site, ops_pages):
    lock = site.locks[0]
    ops_pages.post(f"/ops/accounts/{site.bridge.owner_id}/reset", page="/ops/accounts")
    audit_out = _invoke(app, ["audit", "list"]).output
    assert "account.reset_password" in audit_out and "operator:" in audit_out
    fleet_out = _invoke(app, ["fleet", "status"])
    assert fleet_out.exit_code == 0, fleet_out.output
    assert "bridges online: 1/1" in fleet_out.output and site.bridge.id in fleet_out.output
    history = _invoke(app, ["fleet", "lock", lock.id])
    assert history.exit_code == 0, history.output
    assert "device.added" in history.output
    assert _invoke(app, ["fleet", "lock", "nope"]).exit_code != 0


def test_cli_redelivers_and_shows_the_delivery_log_audited(app, site):
    from provider.models import Event
    from provider.services import webhooks

    hook, _ = webhooks.create_webhook("https://receiver.example.com/hook", [], production=False)
    event = db.session.query(Event).order_by(Event.seq).first()
    db.session.add(WebhookDelivery(webhook_id=hook.id, event_seq=event.seq, event_id=event.event_id,
                                   event_type=event.event_type, status="expired", attempts=9,
                                   last_status_code=503))
    db.session.commit()
    log = _invoke(app, ["webhooks", "deliveries", hook.id])
    assert event.event_id in log.output and "expired" in log.output and "503" in log.output
    result = _invoke(app, ["webhooks", "redeliver", hook.id, event.event_id])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.query(WebhookDelivery).one().status == "pending"
    assert _invoke(app, ["webhooks", "redeliver", hook.id, "no-such-event"]).exit_code != 0
    assert _audit_actions() == ["webhook.redeliver"]


def test_cli_changes_are_audited_as_the_consoles_are(app, account, oauth_client):
    created = _invoke(app, ["webhooks", "create", "--url", "http://127.0.0.1:9/hook"])
    assert created.exit_code == 0, created.output
    hook_id = created.output.split("webhook_id: ")[1].split()[0]
    bridge = _invoke(app, ["bridges", "create", "--owner", account.email, "--name", "Hall"])
    assert bridge.exit_code == 0, bridge.output
    bridge_id = bridge.output.split("bridge_id: ")[1].split()[0]
    lock = _invoke(app, ["locks", "add", "--owner", account.email, "--bridge", bridge_id, "--name", "Door",
                         "--ble-address", "C0:FF:EE:99:00:01"])
    assert lock.exit_code == 0, lock.output
    lock_id = lock.output.split("lock_id: ")[1].split()[0]
    for args in (["webhooks", "rotate-secret", hook_id], ["webhooks", "delete", hook_id],
                 ["locks", "remove", "--lock", lock_id],
                 ["clients", "create", "Thing", "--redirect-uri", "https://thing.example.com/cb"],
                 ["accounts", "create", "new@example.com", "--password", "pw-1234567"]):
        result = _invoke(app, args)
        assert result.exit_code == 0, (args, result.output)
    assert _audit_actions() == ["webhook.create", "bridge.create", "lock.add", "webhook.rotate_secret",
                                "webhook.delete", "lock.remove", "client.create", "account.create"]


# The console does what the CLI does: keys, bridges, factory devices --------------------------


def test_operator_rotates_a_locks_key_and_moves_it_to_another_bridge(app, ops_pages, site, account):
    from provider.models import KeyRotation, Lock
    from provider.services import bridges

    lock = site.locks[0]
    page = f"/ops/locks/{lock.id}"
    assert ops_pages.post(f"{page}/rotate-key", page=page).status_code == 303
    rotation = db.session.query(KeyRotation).filter_by(lock_id=lock.id).one()
    assert (rotation.reason, rotation.status) == ("operator", "pending")
    html = ops_pages.get(page).get_data(as_text=True)
    assert "operator" in html and "Rotation" in html
    second, _ = bridges.create_bridge(account.id, "Garage bridge")
    db.session.commit()
    assert ops_pages.post(f"{page}/move", {"bridge_id": second.id}, page=page).status_code == 303
    db.session.expire_all()
    assert db.session.get(Lock, lock.id).bridge_id == second.id
    # Another owner's bridge is refused with the API's sentence; nothing moves.
    theirs, _ = bridges.create_bridge(create_other_owner().id, "Theirs")
    db.session.commit()
    ops_pages.post(f"{page}/move", {"bridge_id": theirs.id}, page=page)
    db.session.expire_all()
    assert db.session.get(Lock, lock.id).bridge_id == second.id
    assert _audit_actions()[-2:] == ["lock.rotate_key", "lock.move"]


def create_other_owner():
    from provider.services.accounts import create_account

    owner = create_account("other-owner@example.com", "pw-1234567")
    db.session.commit()
    return owner


def test_operator_gives_a_bridge_a_new_token_shown_once_and_the_old_one_stops(ops_pages, site, client):
    response = ops_pages.post(f"/ops/bridges/{site.bridge.id}/rotate-token", page="/ops/bridges")
    assert response.status_code == 200
    token = response.get_data(as_text=True).split('id="shown-token">')[1].split("<")[0]
    assert client.get("/bridge/v1/locks", headers={"Authorization": f"Bearer {site.token}"}).status_code == 401
    assert client.get("/bridge/v1/locks", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert _audit_actions()[-1] == "bridge.rotate_token"


def test_operator_factory_resets_a_claimed_device_and_gets_its_new_claim_code(app, ops_pages, account):
    from provider.models import Lock
    from provider.services import claims
    from tests.provider.devices.factory_helpers import device_row, labelled

    codes = labelled([device_row(960), device_row(961)])
    claims.claim(account.id, codes["HALO-000960"])
    db.session.commit()
    html = ops_pages.get("/ops/devices").get_data(as_text=True)
    assert 'data-serial="HALO-000960"' in html and "claimed" in html
    assert 'data-serial="HALO-000960"' not in ops_pages.get("/ops/devices?unclaimed=1").get_data(as_text=True)
    response = ops_pages.post("/ops/devices/HALO-000960/factory-reset", page="/ops/devices")
    assert response.status_code == 200
    new_code = response.get_data(as_text=True).split('id="shown-claim-code">')[1].split("<")[0]
    assert db.session.query(Lock).count() == 0
    assert _audit_actions()[-1] == "device.factory_reset"
    assert claims.claim(account.id, new_code).serial_number == "HALO-000960"
    assert ops_pages.post("/ops/devices/NOPE/factory-reset", page="/ops/devices").status_code == 404


def test_cli_key_bridge_and_device_changes_are_audited(app, site):
    from tests.provider.devices.factory_helpers import device_row, labelled

    labelled([device_row(962)])
    lock = site.locks[0]
    for args in (["locks", "rotate-key", "--lock", lock.id],
                 ["locks", "move", "--lock", lock.id, "--bridge", site.bridge.id],
                 ["bridges", "rotate-token", site.bridge.id],
                 ["devices", "factory-reset", "HALO-000962"]):
        result = _invoke(app, args)
        assert result.exit_code == 0, (args, result.output)
    assert _audit_actions() == ["lock.rotate_key", "lock.move", "bridge.rotate_token", "device.factory_reset"]
