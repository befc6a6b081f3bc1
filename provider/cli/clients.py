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
    from provider.cli.operators import cli_actor
    from provider.services import audit

    audit.record(cli_actor(), "client.create", client.client_id, name=name)
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


def _client_or_fail(client_id: str):
    from provider.services.oauth_clients import find_client

    client = find_client(client_id)
    if client is None:
        raise click.ClickException(f"no client {client_id}")
    return client


@clients.command("list")
@with_appcontext
def list_() -> None:
    """Every client: client_id, name, scopes, redirect URIs."""
    from provider.services.oauth_clients import list_clients

    for client in list_clients():
        click.echo(f"{client.client_id}  {client.name}  [{client.scope}]  {' '.join(client.redirect_uris or [])}")


@clients.command("delete")
@click.argument("client_id")
@with_appcontext
def delete(client_id: str) -> None:
    """Delete a client with its tokens and webhooks (its grants end at once)."""
    from provider.cli.operators import cli_actor
    from provider.services import audit
    from provider.services.oauth_clients import delete_client

    hooks = delete_client(_client_or_fail(client_id))
    audit.record(cli_actor(), "client.delete", client_id, webhooks_deleted=hooks)
    db.session.commit()
    click.echo(f"deleted: {client_id} (and {hooks} webhook(s))")


@clients.command("rotate-secret")
@click.argument("client_id")
@click.option("--grace-hours", default=24.0, show_default=True, type=click.FloatRange(0, 24 * 30),
              help="How long the old secret keeps working.")
@with_appcontext
def rotate_secret(client_id: str, grace_hours: float) -> None:
    """A new client secret (printed once); the old one works for the grace period."""
    from datetime import timedelta

    from provider.cli.operators import cli_actor
    from provider.services import audit
    from provider.services.oauth_clients import rotate_secret as rotate

    client = _client_or_fail(client_id)
    secret = rotate(client, timedelta(hours=grace_hours))
    audit.record(cli_actor(), "client.rotate_secret", client_id, grace_hours=grace_hours)
    db.session.commit()
    click.echo(f"client_secret: {secret}")
    click.echo(f"The previous secret keeps working for {grace_hours:g} h. Store the new one now.")
