"""`provider fleet`: what the console's fleet and lock pages show, for a terminal."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from provider.extensions import db
from provider.models import Lock
from provider.services import fleet as fleet_service


def _when(value) -> str:
    return value.isoformat(timespec="seconds") if value is not None else "-"


@click.group()
def fleet() -> None:
    """The fleet: bridges, locks that need attention, the command queue; one lock's history."""


@fleet.command("status")
@with_appcontext
def status() -> None:
    """Bridges online/offline and since when, locks offline / low battery / clock wrong, the queue."""
    totals = fleet_service.totals()
    click.echo(f"bridges online: {totals['bridges_online']}/{totals['bridges_total']}  "
               f"locks online: {totals['locks_online']}/{totals['locks_total']}")
    queue = fleet_service.queue_state()
    click.echo(f"command queue: {queue.depth} open, oldest since {_when(queue.oldest_pending_at)}")
    for row in fleet_service.bridges():
        state = "online" if row.bridge.online else "offline"
        click.echo(f"bridge {row.bridge.id}  {state:<7}  since {_when(row.since)}  locks={row.locks}  "
                   f"{row.bridge.name}  ({row.owner_email})")
    for reason, rows in fleet_service.locks_needing_attention().items():
        for lock in rows:
            click.echo(f"lock {lock.id}  {reason}  battery={lock.battery_level}  {lock.name}")


@fleet.command("lock")
@click.argument("lock_id")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@with_appcontext
def lock_history(lock_id: str, limit: int) -> None:
    """One lock's commands and events, newest first (the console's lock page)."""
    lock = db.session.get(Lock, lock_id)
    if lock is None:
        raise click.ClickException(f"no lock {lock_id}")
    click.echo(f"lock {lock.id}  {lock.name}  state={lock.lock_state}  online={lock.online}  "
               f"battery={lock.battery_level}  bridge={lock.bridge_id}")
    click.echo("commands:")
    for command in fleet_service.lock_commands(lock.id, limit):
        click.echo(f"  {_when(command.created_at)}  {command.type:<12}  {command.status:<10}  "
                   f"{command.error_code or ''}".rstrip())
    click.echo("events:")
    for event in fleet_service.lock_events(lock.id, limit):
        click.echo(f"  {_when(event.occurred_at)}  #{event.device_seq}  {event.event_type}")
