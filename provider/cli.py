"""The `provider` command: a Flask CLI group (so `provider db upgrade` comes from Flask-Migrate)."""

from __future__ import annotations

import click
from flask.cli import FlaskGroup

from provider import create_app
from provider.commands import register_commands


@click.group(cls=FlaskGroup, create_app=lambda: create_app(), add_version_option=False,
             load_dotenv=False)
def main() -> None:
    """Seam-compatible lock vendor cloud."""


register_commands(main)

if __name__ == "__main__":
    main()
