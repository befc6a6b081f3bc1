from __future__ import annotations

from provider.cli import bridges as bridges_cli
from provider.cli import locks as locks_cli
from provider.extensions import db
from provider.models import Bridge, Event, Lock
from provider.services import locks
from provider.services.device_seed import sandbox_lock_identity
from provider.services.sandbox import seed_sandbox


def test_seed_is_idempotent_and_deterministic(app):
    seed_sandbox()
    seed_sandbox()
    rows = db.session.scalars(db.select(Lock).order_by(Lock.name)).all()
    assert sorted(lock.name for lock in rows) == ["Back Door", "Front Door", "Front Door", "Garage"]
    assert db.session.scalar(db.select(db.func.count()).select_from(Bridge)) == 2
    jane_id = db.session.get(Lock, rows[0].id).owner_id  # "Back Door" is jane's
    jane_front = next(lock for lock in rows if lock.name == "Front Door" and lock.owner_id == jane_id)
    address, key = sandbox_lock_identity("jane@example.com", "Front Door")
    assert (jane_front.ble_address, locks.device_key(jane_front)) == (address, key)
    assert sandbox_lock_identity("jane@example.com", "Front Door") == (address, key)
    assert all(lock.model == "HALO-01" and lock.online and lock.lock_state == "locked" and lock.battery_level == 65 for lock in rows)
    added = db.session.scalar(db.select(db.func.count()).select_from(Event).where(Event.event_type == "device.added"))
    assert added == 4


def test_cli_creates_bridge_and_lock(app, account):
    runner = app.test_cli_runner()
    result = runner.invoke(bridges_cli.bridges, args=["create", "--owner", account.email, "--name", "Hall"])
    assert result.exit_code == 0, result.output
    bridge_id = result.output.split("bridge_id:")[1].split()[0]
    token = result.output.split("token:")[1].split()[0]
    assert token.startswith("brg_") and token not in db.session.get(Bridge, bridge_id).token_hash

    result = runner.invoke(locks_cli.locks, args=["add", "--owner", account.email, "--bridge", bridge_id,
                                 "--name", "Side door", "--ble-address", "aa:bb:cc:dd:ee:01",
                                 "--timezone", "Europe/Paris"])
    assert result.exit_code == 0, result.output
    lock = db.session.scalar(db.select(Lock).where(Lock.name == "Side door"))
    assert lock.ble_address == "AA:BB:CC:DD:EE:01" and lock.timezone == "Europe/Paris"
    assert result.output.split("device_key:")[1].split()[0] == locks.device_key(lock)

    bad = runner.invoke(locks_cli.locks, args=["add", "--owner", account.email, "--bridge", bridge_id,
                              "--name", "X", "--ble-address", "aa:bb:cc:dd:ee:02", "--device-key", "abc"])
    assert bad.exit_code != 0 and "32 hex" in bad.output
    assert runner.invoke(locks_cli.sweep, args=[]).exit_code == 0


def test_cli_removes_a_lock(app, site, client, auth_headers, events):
    lock_id = site.lock_ids[0]
    client.post(f"/locks/{lock_id}/access_codes", headers=auth_headers, json={"code": "1234"})
    result = app.test_cli_runner().invoke(locks_cli.locks, args=["remove", "--lock", lock_id])
    assert result.exit_code == 0, result.output
    assert client.get(f"/locks/{lock_id}", headers=auth_headers).status_code == 404
    assert [e.event_type for e in events(lock_id)][-1] == "device.removed"
    assert site.helper.poll() == []


def test_a_second_lock_at_the_same_ble_address_on_one_bridge_is_refused(app, site, account):
    runner = app.test_cli_runner()
    taken = site.locks[0].ble_address.lower()
    result = runner.invoke(locks_cli.locks, args=["add", "--owner", account.email, "--bridge", site.bridge.id,
                                                  "--name", "Twin", "--ble-address", taken])
    assert result.exit_code != 0
    # Refused by the bridge's own check or by the deployment-wide one, whichever runs first.
    assert "already serves a lock at" in result.output or "is already registered" in result.output
    assert db.session.scalar(db.select(Lock).where(Lock.name == "Twin")) is None


def test_accounts_create_refuses_a_short_password(app):
    from provider.cli.accounts import accounts
    from provider.models import Account

    result = app.test_cli_runner().invoke(accounts, args=["create", "new@example.com", "--password", "ab"])
    assert result.exit_code != 0
    assert "at least 8 characters" in result.output
    assert db.session.scalar(db.select(Account).where(Account.email == "new@example.com")) is None
    ok = app.test_cli_runner().invoke(accounts, args=["create", "new@example.com", "--password", "long enough"])
    assert ok.exit_code == 0, ok.output
