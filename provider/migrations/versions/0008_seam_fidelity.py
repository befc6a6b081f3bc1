"""Seam fidelity: unmanaged codes, device fields. Written by hand.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

import provider.models.base  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
