"""The `provider` command: a Flask CLI group (so `provider db upgrade` comes from Flask-Migrate).

One module per concern below this package; each exposes the commands added here.
"""

from __future__ import annotations

import os

import click
from flask.cli import FlaskGroup

from provider import create_app
from provider.config import PRODUCTION


def register_commands(group: click.Group) -> None:
    from provider.cli import (
        accounts,
        bridges,
        clients,
        devices,
        fleet,
        locks,
        operators,
        serve,
        webhooks,
    )

    for command in (
        serve.serve,
        serve.bridge_api,
        serve.bridge_gateway,
        serve.sandbox,
        accounts.accounts,
        operators.operators,
        operators.audit_log,
        fleet.fleet,
        clients.clients,
        bridges.bridges,
        locks.locks,
        devices.devices,
        locks.sweep,
        webhooks.webhooks,
        webhooks.dispatcher,
    ):
        group.add_command(command)


# The production entry points: without an explicit PROVIDER_ENV they run under the
# production rules (https-only public webhook targets, required secrets), never the
# sandbox's permissive ones. `provider sandbox` (and `make run`) says sandbox for its
# own processes.
PRODUCTION_COMMANDS = frozenset({"serve", "dispatcher"})


@click.group(cls=FlaskGroup, create_app=lambda: create_app(), add_version_option=False,
             load_dotenv=False)
@click.pass_context
def main(ctx: click.Context) -> None:
    """Seam-compatible lock vendor cloud."""
    if ctx.invoked_subcommand in PRODUCTION_COMMANDS:
        os.environ.setdefault("PROVIDER_ENV", PRODUCTION)


register_commands(main)

if __name__ == "__main__":
    main()
