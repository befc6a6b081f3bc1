"""offline codes and recurring schedules. Written by hand.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01

"""
from alembic import op
import sqlalchemy as sa

import provider.models.base  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('locks') as batch:
        # The secret offline codes are derived from (encrypted), its generation, and whether the
        # lock confirmed it: NULL none yet, pending, installed, unsupported (older firmware).
        batch.add_column(sa.Column('offline_secret_enc', sa.Text(), nullable=True))
        batch.add_column(sa.Column('offline_generation', sa.BigInteger(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('offline_state', sa.String(length=16), nullable=True))
    with op.batch_alter_table('access_codes') as batch:
        batch.add_column(sa.Column('is_offline', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column('offline_kind', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('offline_start_hour', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('offline_end_hour', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('offline_counter', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('offline_generation', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('used_at', provider.models.base.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('weekly_schedule', sa.JSON(), nullable=True))
        batch.create_index('ix_access_codes_offline', ['lock_id', 'offline_start_hour'])


def downgrade():
    with op.batch_alter_table('access_codes') as batch:
        batch.drop_index('ix_access_codes_offline')
        for column in ('weekly_schedule', 'used_at', 'offline_generation', 'offline_counter', 'offline_end_hour',
                       'offline_start_hour', 'offline_kind', 'is_offline'):
            batch.drop_column(column)
    with op.batch_alter_table('locks') as batch:
        for column in ('offline_state', 'offline_generation', 'offline_secret_enc'):
            batch.drop_column(column)
