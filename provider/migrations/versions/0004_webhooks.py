"""webhooks (issue 4): owned by that issue; filled in by hand.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25

"""
from alembic import op
import sqlalchemy as sa

import provider.models.base


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
