"""the bridge channel at fleet scale (MQTT, gateways, presence). Written by hand.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

import provider.models.base  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("bridges", sa.Column("presence_session", sa.BigInteger(), nullable=True))


def downgrade():
    with op.batch_alter_table("bridges") as batch:
        batch.drop_column("presence_session")
