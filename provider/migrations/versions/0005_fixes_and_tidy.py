"""defects found in use; the tidy of the house. Written by hand.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

import provider.models.base  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
