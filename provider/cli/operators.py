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


@operators.command("disable")
@click.argument("email")
@click.option("--enable", is_flag=True, help="Enable the operator again instead.")
@with_appcontext
def disable(email: str, enable: bool) -> None:
    """Disable an operator (no sign-in, an open console session ends), or --enable it again."""
    operator = operator_service.find_by_email(email)
    if operator is None:
        raise click.ClickException(f"no operator for {email}")
    operator_service.set_disabled(operator, not enable)
    audit.record(cli_actor(), "operator.enable" if enable else "operator.disable", operator.email)
    db.session.commit()
    click.echo(f"{'enabled' if enable else 'disabled'}: {operator.email}")


@operators.command("list")
@with_appcontext
def list_() -> None:
    """Every operator, one per line."""
    for operator in operator_service.list_operators():
        state = "disabled" if operator.disabled_at else "active"
        click.echo(f"{operator.id}  {operator.email}  {state}")


@click.group("audit")
def audit_log() -> None:
    """The audit log of operator actions (console and CLI)."""


@audit_log.command("list")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--before", "before_id", default=None, type=int, help="Only entries older than this id.")
@with_appcontext
def audit_list(limit: int, before_id: int | None) -> None:
    """The newest entries first, as the console's audit page shows them."""
    for entry in audit.recent(limit, before_id):
        detail = " ".join(f"{key}={value}" for key, value in sorted((entry.detail or {}).items()))
        click.echo(f"{entry.id}  {entry.at.isoformat(timespec='seconds')}  {entry.actor}  {entry.action}"
                   f"  {entry.target or '-'}  {detail}".rstrip())
