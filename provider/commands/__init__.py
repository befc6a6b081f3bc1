"""CLI commands, one module per concern; each module exposes the commands to add."""

from __future__ import annotations

import click


def register_commands(group: click.Group) -> None:
    from provider.commands import accounts, bridges, clients, locks, serve, webhooks

    for command in (
        serve.serve,
        serve.sandbox,
        accounts.accounts,
        clients.clients,
        bridges.bridges,
        locks.locks,
        locks.sweep,
        webhooks.webhooks,
        webhooks.dispatcher,
    ):
        group.add_command(command)
