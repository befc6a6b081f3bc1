from __future__ import annotations

import click
from flask.cli import with_appcontext

from provider.extensions import db
from provider.services.accounts import AccountError, check_new_password, create_account


@click.group()
def accounts() -> None:
    """Lock owner accounts."""


@accounts.command("create")
@click.argument("email")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@with_appcontext
def create(email: str, password: str) -> None:
    """Create an owner account; prints its permanent user_id."""
    try:
        check_new_password(password)
        account = create_account(email, password)
    except AccountError as err:
        raise click.ClickException(str(err)) from err
    db.session.commit()
    click.echo(f"user_id: {account.id}")
