from __future__ import annotations

from typing import Any

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
    from provider.cli.operators import cli_actor
    from provider.services import audit

    bridge, token = bridge_service.create_bridge(owner_id_for(owner_email), name)
    audit.record(cli_actor(), "bridge.create", bridge.id, owner=owner_email.strip().lower(), name=bridge.name)
    db.session.commit()
    click.echo(f"bridge_id: {bridge.id}")
    click.echo(f"token:     {token}")
    click.echo("Store the token now: it cannot be shown again.")
    _provision(bridge.id, token)


def _provisioner() -> Any:
    from flask import current_app

    from provider.services import broker_accounts

    try:
        return broker_accounts.from_config(current_app.config)
    except broker_accounts.ProvisioningError as err:
        raise click.ClickException(str(err)) from err


def _provision(bridge_id: str, token: str) -> None:
    """Its MQTT broker account (MQTT_PROVISIONING), after the commit: the bridge exists either way."""
    from provider.services.broker_accounts import ProvisioningError

    provisioner = _provisioner()
    if provisioner is None:
        return
    try:
        provisioner.provision(bridge_id, token)
    except ProvisioningError as err:
        raise click.ClickException(f"the bridge works over HTTP, but its MQTT broker account was not made: {err}. "
                                   "Rotate its token (provider bridges rotate-token) to try again.") from err
    click.echo("MQTT broker account made (user name: the bridge id, password: the token).")


def _bridge(bridge_id: str) -> Any:
    from provider.models import Bridge

    bridge = db.session.get(Bridge, bridge_id)
    if bridge is None:
        raise click.ClickException(f"no bridge {bridge_id}")
    return bridge


@bridges.command("rotate-token")
@click.argument("bridge_id")
@with_appcontext
def rotate_token(bridge_id: str) -> None:
    """A new token for the bridge; the old one (HTTP and MQTT) stops working. Prints it ONCE."""
    from provider.cli.operators import cli_actor
    from provider.services import audit

    bridge = _bridge(bridge_id)
    token = bridge_service.rotate_token(bridge)
    audit.record(cli_actor(), "bridge.rotate_token", bridge.id)
    db.session.commit()
    click.echo(f"token:     {token}")
    click.echo("Store the token now: it cannot be shown again.")
    _provision(bridge.id, token)


@bridges.command("revoke-broker")
@click.argument("bridge_id")
@with_appcontext
def revoke_broker(bridge_id: str) -> None:
    """Removes the bridge's MQTT broker account (a bridge taken out of service)."""
    from provider.services.broker_accounts import ProvisioningError

    provisioner = _provisioner()
    if provisioner is None:
        raise click.ClickException("MQTT_PROVISIONING is not set: remove the account on the broker by hand")
    try:
        provisioner.revoke(_bridge(bridge_id).id)
    except ProvisioningError as err:
        raise click.ClickException(str(err)) from err
    click.echo("MQTT broker account removed.")


@bridges.command("dynsec-init")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--admin", "admin_user", default="provisioner", show_default=True)
@click.option("--gateway", "gateway_user", default="gateway", show_default=True)
@with_appcontext
def dynsec_init(path: str, admin_user: str, gateway_user: str) -> None:
    """Writes a first Mosquitto dynamic-security file: the provisioning and gateway accounts (passwords printed ONCE)."""
    import json
    import os
    import secrets

    from flask import current_app

    from provider.services.broker_accounts import dynsec_config

    admin = (admin_user, secrets.token_urlsafe(24))
    gateway = (gateway_user, secrets.token_urlsafe(24))
    prefix = current_app.config.get("MQTT_TOPIC_PREFIX") or "bridges"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as err:
        raise click.ClickException(f"{path} exists; not overwritten") from err
    with os.fdopen(fd, "w") as handle:
        json.dump(dynsec_config(admin, gateway, prefix), handle, indent=2)
    click.echo(f"MQTT_ADMIN_URL=mqtt://{admin[0]}:{admin[1]}@<broker>:1883   (with MQTT_PROVISIONING=mosquitto-dynsec)")
    click.echo(f"MQTT_URL=mqtt://{gateway[0]}:{gateway[1]}@<broker>:1883   (provider bridge-gateway)")


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
@with_appcontext
def revoke_token(bridge_id: str) -> None:
    """The bridge's token stops working at once (a lost gateway); `rotate-token` issues a new one."""
    from provider.cli.operators import cli_actor
    from provider.models import Bridge
    from provider.services import audit

    bridge = db.session.get(Bridge, bridge_id) if len(bridge_id) <= 36 else None
    if bridge is None:
        raise click.ClickException(f"no bridge {bridge_id}")
    bridge_service.revoke_token(bridge)
    audit.record(cli_actor(), "bridge.revoke_token", bridge.id)
    db.session.commit()
    click.echo(f"revoked: {bridge.id}")
    _revoke_broker_account(bridge.id)


@bridges.command("remove")
@click.argument("bridge_id")
@with_appcontext
def remove(bridge_id: str) -> None:
    """Takes the bridge out of service: its locks lose their bridge (offline until another
    serves them), its queued commands and its broker account go with it."""
    from provider.cli.operators import cli_actor
    from provider.services import audit, bridge_assignment

    bridge = _bridge(bridge_id) if len(bridge_id) <= 36 else None
    if bridge is None:
        raise click.ClickException(f"no bridge {bridge_id}")
    served = bridge_assignment.remove_bridge(bridge)
    audit.record(cli_actor(), "bridge.remove", bridge_id, locks_detached=served)
    db.session.commit()
    click.echo(f"removed: {bridge_id} ({served} locks detached)")
    _revoke_broker_account(bridge_id)


def _revoke_broker_account(bridge_id: str) -> None:
    """After the commit: the broker account (MQTT_PROVISIONING) must not outlive the token."""
    from flask import current_app

    from provider.services.broker_accounts import revoke_after_commit

    problem = revoke_after_commit(current_app.config, bridge_id)
    if problem:
        raise click.ClickException(f"the HTTP token is revoked, but the MQTT broker account is not: {problem}. "
                                   "Run `provider bridges revoke-broker` again, or remove it on the broker.")
