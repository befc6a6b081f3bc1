"""hot paths: a keyed PIN lookup beside each access code's ciphertext. Written by hand.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01

"""
from alembic import op
import sqlalchemy as sa

import provider.models.base  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    # Rows written before this stay NULL: the service fills them in when a PIN check meets them.
    with op.batch_alter_table('access_codes') as batch:
        batch.add_column(sa.Column('pin_lookup', sa.String(length=64), nullable=True))
    op.create_index('ix_access_codes_lock_pin', 'access_codes', ['lock_id', 'pin_lookup'])


def downgrade():
    op.drop_index('ix_access_codes_lock_pin', table_name='access_codes')
    with op.batch_alter_table('access_codes') as batch:
        batch.drop_column('pin_lookup')
