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
