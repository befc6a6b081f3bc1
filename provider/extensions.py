"""Extension objects, bound to an app in create_app() with init_app()."""

from __future__ import annotations

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData

# Stable constraint names, so migrations can be written by hand and replayed on
# SQLite and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))


def init_migrations(app: Flask, directory: str) -> None:
    """Flask-Migrate, imported only here: web workers skip it (alembic costs ~11 MB each)."""
    from flask_migrate import Migrate

    Migrate(app, db, directory=directory)
