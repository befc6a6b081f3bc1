"""CLI commands, one module per concern; each module exposes the commands to add."""

from __future__ import annotations

import click


def register_commands(group: click.Group) -> None:
    from provider.commands import accounts, serve

    for command in (
        serve.serve,
        serve.sandbox,
        accounts.accounts,
    ):
        group.add_command(command)

    from provider.commands import bridges, locks

    group.add_command(bridges.bridges)
    group.add_command(locks.locks)
    group.add_command(locks.sweep)

    from provider.commands import clients

    group.add_command(clients.clients)

    from provider.commands import webhooks

    group.add_command(webhooks.webhooks)
    group.add_command(webhooks.dispatcher)
