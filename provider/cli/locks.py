from __future__ import annotations

import time

import click
from flask import current_app
from flask.cli import with_appcontext

from provider.cli.bridges import owner_id_for
from provider.cli.operators import cli_actor
from provider.errors import ApiError
from provider.extensions import db
from provider.models import Bridge, Lock
from provider.services import audit, bridge_assignment, key_rotation
from provider.services import locks as lock_service
from provider.services.sweeper import SWEEP_INTERVAL_SECONDS
from provider.services.sweeper import sweep as run_sweep


@click.group()
def locks() -> None:
    """Locks registered by the vendor."""


@locks.command("add")
@click.option("--owner", "owner_email", required=True, help="The lock owner's email.")
@click.option("--bridge", "bridge_id", required=True, help="The bridge that serves the lock.")
@click.option("--name", required=True)
@click.option("--ble-address", required=True, help="AA:BB:CC:DD:EE:FF")
@click.option("--device-key", default="generate", show_default=True,
              help="32 hex characters (the lock's 128-bit key), or 'generate'.")
@click.option("--model", default="HALO-01", show_default=True)
@click.option("--timezone", default="UTC", show_default=True, help="IANA timezone name.")
@click.option("--code-capacity", default=30, show_default=True, type=click.IntRange(1, 1000))
@with_appcontext
def add(owner_email: str, bridge_id: str, name: str, ble_address: str, device_key: str,
        model: str, timezone: str, code_capacity: int) -> None:
    """Register a lock behind a bridge (device key encrypted at rest)."""
    owner_id = owner_id_for(owner_email)
    bridge = db.session.get(Bridge, bridge_id)
    if bridge is None or bridge.owner_id != owner_id:
        raise click.ClickException(f"no bridge {bridge_id} for {owner_email}")
    generated = device_key == "generate"
    try:
        lock = lock_service.add_lock(
            owner_id=owner_id, bridge=bridge, name=name, ble_address=ble_address,
            device_key_hex=None if generated else device_key, model=model, timezone=timezone,
            code_capacity=code_capacity,
        )
    except lock_service.LockRegistrationError as err:
        raise click.ClickException(str(err)) from err
    audit.record(cli_actor(), "lock.add", lock.id, name=lock.name, bridge=bridge.id)
    db.session.commit()
    click.echo(f"lock_id: {lock.id}")
    if generated:
        # Printed once so it can be provisioned onto the lock; the bridge fetches it from the API.
        click.echo(f"device_key: {lock_service.device_key(lock)}")


@locks.command("remove")
@click.option("--lock", "lock_id", required=True)
@with_appcontext
def remove(lock_id: str) -> None:
    """Unregister a lock (device.removed); its codes and pending commands go with it."""
    lock = db.session.get(Lock, lock_id)
    if lock is None:
        raise click.ClickException(f"no lock {lock_id}")
    name = lock.name
    lock_service.remove_lock(lock)
    audit.record(cli_actor(), "lock.remove", lock_id, name=name)
    db.session.commit()
    click.echo(f"removed: {lock_id}")


@locks.command("move")
@click.option("--lock", "lock_id", required=True)
@click.option("--bridge", "bridge_id", help="One of the owner's bridges; default: the one hearing it loudest.")
@with_appcontext
def move(lock_id: str, bridge_id: str | None) -> None:
    """Serve a lock from another bridge (a lock has one bridge at a time)."""
    lock = db.session.get(Lock, lock_id)
    if lock is None:
        raise click.ClickException(f"no lock {lock_id}")
    try:
        bridge = bridge_assignment.assign(lock, bridge_id)
    except ApiError as err:
        raise click.ClickException(err.message) from err
    audit.record(cli_actor(), "lock.move", lock_id, bridge=bridge.id)
    db.session.commit()
    click.echo(f"moved: {lock_id} -> bridge {bridge.id} ({bridge.name})")


@locks.command("rotate-key")
@click.option("--lock", "lock_id", required=True)
@with_appcontext
def rotate_key(lock_id: str) -> None:
    """Replace a lock's device key (sent through its bridge; the lock keeps the old until it switches)."""
    lock = db.session.get(Lock, lock_id)
    if lock is None:
        raise click.ClickException(f"no lock {lock_id}")
    rotation = key_rotation.schedule(lock, "operator")
    audit.record(cli_actor(), "lock.rotate_key", lock_id, rotation=rotation.rotation_no)
    db.session.commit()
    state = "queued for its bridge" if lock.bridge_id else "waiting for the lock to get a bridge"
    click.echo(f"rotation {rotation.rotation_no} of {lock_id}: {rotation.status}, {state}")


@locks.command("key-rotations")
@click.option("--lock", "lock_id", required=True)
@with_appcontext
def key_rotations(lock_id: str) -> None:
    """The lock's key rotations: number, reason, status, attempts, when (never keys)."""
    for row in key_rotation.history(lock_id):
        done = row.completed_at.isoformat() if row.completed_at else "-"
        click.echo(f"{row.rotation_no}\t{row.reason}\t{row.status}\tattempts={row.attempts}\t"
                   f"{row.created_at.isoformat()}\t{done}\t{row.last_error or ''}")


@click.command("sweep")
@click.option("--loop", "loop", is_flag=True, help=f"Keep sweeping every {SWEEP_INTERVAL_SECONDS:g} s.")
@with_appcontext
def sweep(loop: bool) -> None:
    """Mark silent bridges offline and fail expired commands (the dispatcher also does this)."""
    timeout = float(current_app.config["BRIDGE_HEARTBEAT_TIMEOUT_SECONDS"])
    while True:
        report = run_sweep(heartbeat_timeout_seconds=timeout,
                           key_max_age_days=float(current_app.config["KEY_ROTATION_MAX_AGE_DAYS"]))
        if not loop:
            click.echo(" ".join(f"{key}={value}" for key, value in report.items()))
            return
        time.sleep(SWEEP_INTERVAL_SECONDS)


@locks.command("list")
@click.option("--owner", "owner_email", default=None, help="Only this owner's locks.")
@with_appcontext
def list_(owner_email: str | None) -> None:
    """Locks: id, name, state, online, battery."""
    query = db.select(Lock).order_by(Lock.name, Lock.id)
    if owner_email:
        query = query.where(Lock.owner_id == owner_id_for(owner_email))
    for lock in db.session.scalars(query):
        battery = f"{lock.battery_level}%" if lock.battery_level is not None else "?"
        click.echo(f"{lock.id}  {lock.name}  {lock.lock_state}  {'online' if lock.online else 'offline'}  battery {battery}")
