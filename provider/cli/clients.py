"""`provider clients create`: register an OAuth client (Seam) and print its secret once."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from provider.extensions import db
from provider.services.oauth_clients import DEFAULT_SCOPE, ClientError, create_client


@click.group()
def clients() -> None:
    """OAuth clients (Seam signs in as one)."""


@clients.command("create")
@click.argument("name")
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True,
              help="Registered redirect URI (exact match); repeat for several.")
@click.option("--scope", default=DEFAULT_SCOPE, show_default=True,
              help="Space-separated scopes the client may ask for.")
@click.option("--legacy-token-mode", is_flag=True, default=False,
              help="Also accept the older guide's token call (code + client credentials only).")
@click.option("--client-id", default=None, help="Choose the client id (default: random).")
@with_appcontext
def create(name: str, redirect_uris: tuple[str, ...], scope: str, legacy_token_mode: bool,
           client_id: str | None) -> None:
    """Register a client; prints its client_id and a generated secret (shown only now)."""
    try:
        client, secret = create_client(
            name, redirect_uris, scope, legacy_token_mode=legacy_token_mode, client_id=client_id
        )
    except ClientError as err:
        raise click.ClickException(str(err)) from err
    db.session.commit()
    click.echo(f"client_id:     {client.client_id}")
    click.echo(f"client_secret: {secret}")
    click.echo("Store the secret now: only its hash is kept, it cannot be shown again.")


@clients.command("purge")
@with_appcontext
def purge() -> None:
    """Delete authorization codes and tokens that stopped working more than a day ago."""
    from provider.services.oauth_tokens import purge_expired

    deleted = purge_expired()
    db.session.commit()
    click.echo(f"deleted {deleted} expired code/token row(s)")
