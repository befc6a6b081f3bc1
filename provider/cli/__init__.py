"""The `provider` command: a Flask CLI group (so `provider db upgrade` comes from Flask-Migrate).

One module per concern below this package; each exposes the commands added here.
"""

from __future__ import annotations

import click
from flask.cli import FlaskGroup

from provider import create_app


def register_commands(group: click.Group) -> None:
    from provider.cli import accounts, bridges, clients, devices, locks, serve, webhooks

    for command in (
        serve.serve,
        serve.bridge_api,
        serve.bridge_gateway,
        serve.sandbox,
        accounts.accounts,
        clients.clients,
        bridges.bridges,
        locks.locks,
        devices.devices,
        locks.sweep,
        webhooks.webhooks,
        webhooks.dispatcher,
    ):
        group.add_command(command)


@click.group(cls=FlaskGroup, create_app=lambda: create_app(), add_version_option=False,
             load_dotenv=False)
def main() -> None:
    """Seam-compatible lock vendor cloud."""


register_commands(main)

if __name__ == "__main__":
    main()
