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
    from provider.cli.operators import cli_actor
    from provider.services import audit

    audit.record(cli_actor(), "account.create", account.id, email=account.email)
    db.session.commit()
    click.echo(f"user_id: {account.id}")


def _account_or_fail(email: str):
    from provider.services.accounts import find_by_email

    account = find_by_email(email)
    if account is None:
        raise click.ClickException(f"no account for {email}")
    return account


@accounts.command("list")
@with_appcontext
def list_() -> None:
    """Owner accounts: user_id, email, active or disabled."""
    from provider.services.accounts import list_accounts

    for account in list_accounts(limit=100_000):
        click.echo(f"{account.id}  {account.email}  {'disabled' if account.disabled else 'active'}")


@accounts.command("disable")
@click.argument("email")
@click.option("--enable", is_flag=True, help="Enable the account again instead.")
@with_appcontext
def disable(email: str, enable: bool) -> None:
    """Disable an owner account (no sign-in, every grant revoked), or --enable it again."""
    from provider.cli.operators import cli_actor
    from provider.services import audit
    from provider.services.accounts import set_disabled

    account = _account_or_fail(email)
    set_disabled(account, not enable)
    audit.record(cli_actor(), "account.enable" if enable else "account.disable", account.id, email=account.email)
    db.session.commit()
    click.echo(f"{'enabled' if enable else 'disabled'}: {account.email}")


@accounts.command("reset")
@click.argument("email")
@with_appcontext
def reset(email: str) -> None:
    """Mail the owner a password reset link (as the console's Reset does)."""
    from flask import current_app

    from provider.cli.operators import cli_actor
    from provider.services import account_links, audit, mail

    account = _account_or_fail(email)
    token = account_links.reset_token(current_app.config["SECRET_KEY"], account)
    base = current_app.config["PROVIDER_ISSUER"]
    mail.send(mail.MailSettings.from_config(current_app.config), account.email,
              f"Reset your {current_app.config['BRAND_NAME']} password",
              f"{current_app.config['BRAND_NAME']} support started a password reset for this account.\n\n"
              f"Choose a new password here (the link works for an hour, once):\n{base}/account/reset/{token}\n")
    audit.record(cli_actor(), "account.reset_password", account.id, email=account.email)
    db.session.commit()
    click.echo(f"reset link mailed to {account.email}")
