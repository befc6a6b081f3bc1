from __future__ import annotations

import click
from flask.cli import with_appcontext

from provider.extensions import db
from provider.services import bridges as bridge_service
from provider.services.accounts import find_by_email


def owner_id_for(email: str) -> str:
    account = find_by_email(email)
    if account is None:
        raise click.ClickException(f"no account for {email}")
    return account.id


@click.group()
def bridges() -> None:
    """Bridges (gateways) that serve locks over BLE."""


@bridges.command("create")
@click.option("--owner", "owner_email", required=True, help="The lock owner's email.")
@click.option("--name", default="Bridge", show_default=True)
@with_appcontext
def create(owner_email: str, name: str) -> None:
    """Register a bridge; prints its token ONCE (only a hash is stored)."""
    bridge, token = bridge_service.create_bridge(owner_id_for(owner_email), name)
    db.session.commit()
    click.echo(f"bridge_id: {bridge.id}")
    click.echo(f"token:     {token}")
    click.echo("Store the token now: it cannot be shown again.")


@bridges.command("list")
@click.option("--owner", "owner_email", default=None, help="Only this owner's bridges.")
@with_appcontext
def list_(owner_email: str | None) -> None:
    """Bridges: id, name, online or offline, last seen."""
    owner_id = owner_id_for(owner_email) if owner_email else None
    for bridge in bridge_service.list_bridges(owner_id):
        seen = bridge.last_seen_at.isoformat() if bridge.last_seen_at else "never"
        click.echo(f"{bridge.id}  {bridge.name}  {'online' if bridge.online else 'offline'}  last seen {seen}")


@bridges.command("revoke-token")
@click.argument("bridge_id")
@click.option("--reissue", is_flag=True, help="Print a new token for the bridge (shown once).")
@with_appcontext
def revoke_token(bridge_id: str, reissue: bool) -> None:
    """The bridge's token stops working at once; with --reissue, a new one is printed."""
    from provider.cli.operators import cli_actor
    from provider.models import Bridge
    from provider.services import audit

    bridge = db.session.get(Bridge, bridge_id) if len(bridge_id) <= 36 else None
    if bridge is None:
        raise click.ClickException(f"no bridge {bridge_id}")
    if reissue:
        token = bridge_service.reissue_token(bridge)
    else:
        bridge_service.revoke_token(bridge)
    audit.record(cli_actor(), "bridge.revoke_token", bridge.id, reissued=reissue)
    db.session.commit()
    click.echo(f"revoked: {bridge.id}")
    if reissue:
        click.echo(f"token:   {token}")
        click.echo("Store the token now: it cannot be shown again.")
