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
