"""`provider operators`: accounts of the operations console (password plus TOTP)."""

from __future__ import annotations

import getpass

import click
from flask.cli import with_appcontext

from provider.extensions import db
from provider.services import audit
from provider.services import operators as operator_service
from provider.services.accounts import AccountError


def cli_actor() -> str:
    """Who the audit log names for a CLI command: the operating-system user."""
    try:
        return f"cli:{getpass.getuser()}"
    except OSError:
        return "cli:unknown"


@click.group()
def operators() -> None:
    """Operators of the console (/ops)."""


@operators.command("create")
@click.argument("email")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@with_appcontext
def create(email: str, password: str) -> None:
    """Create an operator; prints the TOTP seed and otpauth:// URI once (add it to an authenticator)."""
    try:
        operator, seed = operator_service.create_operator(email, password)
    except AccountError as err:
        raise click.ClickException(str(err)) from err
    audit.record(cli_actor(), "operator.create", operator.email)
    db.session.commit()
    click.echo(f"operator_id: {operator.id}")
    click.echo(f"totp_secret: {seed}")
    click.echo(f"otpauth_uri: {operator_service.provisioning_uri(operator, seed)}")
    click.echo("Add it to an authenticator app now: it cannot be shown again.")


@operators.command("list")
@with_appcontext
def list_() -> None:
    """Every operator, one per line."""
    for operator in operator_service.list_operators():
        state = "disabled" if operator.disabled_at else "active"
        click.echo(f"{operator.id}  {operator.email}  {state}")
