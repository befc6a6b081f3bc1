"""Migration 0013 on a database that has rows: codes stay managed, claimed locks get their serial."""

from __future__ import annotations

import uuid

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from provider import create_app
from provider.extensions import db
from tests.conftest import MIGRATIONS_DIR, _postgres_database

NOW = "2026-12-01 10:00:00"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh_app(request, tmp_path):
    """An app on an empty database of its own (the shared one is at head already)."""
    if request.param == "sqlite":
        urls = iter([f"sqlite:///{tmp_path / 'migrate.db'}"])
    else:
        urls = _postgres_database(f"provider_migrate_{uuid.uuid4().hex[:8]}")
    url = next(urls)
    app = create_app({"TESTING": True, "SECRET_KEY": "test-secret-key", "ENV": {"PROVIDER_VAR_DIR": str(tmp_path)},
                      "SQLALCHEMY_DATABASE_URI": url.replace("postgresql://", "postgresql+psycopg://")})
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()
    next(urls, None)  # drops the PostgreSQL database


def _insert(table: str, **values: object) -> None:
    columns = ", ".join(values)
    db.session.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({', '.join(':' + k for k in values)})"), values)


def _seed_at_0012() -> None:
    stamps = {"created_at": NOW, "updated_at": NOW}
    _insert("accounts", id="a1", email="owner@example.com", password_hash="x", **stamps)
    _insert("factory_devices", id="f1", serial="HALO-000099", ble_address="D0:00:00:00:00:99", model="HALO-01",
            hardware_revision="C", firmware_version="1.4.2", device_key_enc="k", device_key_digest="d",
            offline_secret_enc="s", batch_id="b1", **stamps)
    lock = {"owner_id": "a1", "name": "Door", "model": "HALO-01", "timezone": "UTC", "device_key_enc": "k",
            "online": False, "lock_state": "unknown", "has_door_sensor": True, "time_wrong": False,
            "obstructed": False, "code_capacity": 30, "event_seq": 0, "last_event_seq": 0, **stamps}
    _insert("locks", id="claimed", ble_address="D0:00:00:00:00:99", device_id="f1", **lock)
    _insert("locks", id="by_hand", ble_address="D0:00:00:00:00:98", **lock)
    _insert("access_codes", id="c1", lock_id="claimed", owner_id="a1", code_enc="e", slot=1, status="active",
            revision=1, **stamps)
    db.session.commit()


def test_upgrade_keeps_every_code_managed_and_backfills_claimed_locks_then_downgrades(fresh_app):
    upgrade(directory=MIGRATIONS_DIR, revision="0012")
    _seed_at_0012()
    upgrade(directory=MIGRATIONS_DIR, revision="0013")
    assert db.session.execute(text("SELECT is_managed FROM access_codes")).scalar() in (True, 1)
    rows = dict(db.session.execute(text("SELECT id, serial_number FROM locks")).all())
    assert rows == {"claimed": "HALO-000099", "by_hand": None}
    firmware = db.session.execute(text("SELECT firmware_version FROM locks WHERE id = 'claimed'")).scalar()
    assert firmware == "1.4.2"
    db.session.commit()
    downgrade(directory=MIGRATIONS_DIR, revision="0012")
    columns = {c["name"] for c in inspect(db.engine).get_columns("locks")}
    assert not columns & {"serial_number", "rssi_dbm", "auto_lock_enabled"}
    assert "is_managed" not in {c["name"] for c in inspect(db.engine).get_columns("access_codes")}
