"""defects found in use; the tidy of the house. Written by hand.

access_codes.confirmed_at: when the lock first confirmed the code (a put that
changes a confirmed code is an update for Seam, one that never reached the
lock is still the creation); it replaces the create/update flag that rode in
the command's parameters.  locks.code_sync_at / unknown_code_slots /
removed_code_slots: what the bridge's last reconciliation found on the lock
that the cloud did not know, and what it removed.  bridges.poll_generation:
each long-poll of a bridge takes the next number, and a poll whose number is
no longer the bridge's newest ends (one poll per bridge token at a time).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

"""
from alembic import op
import sqlalchemy as sa

import provider.models.base


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

UTC = provider.models.base.UTCDateTime


def upgrade():
    with op.batch_alter_table('access_codes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('confirmed_at', UTC(), nullable=True))
    # Codes that were ever on the lock, as far as their status tells.
    op.execute(
        "UPDATE access_codes SET confirmed_at = updated_at "
        "WHERE status IN ('active', 'removing', 'removed')"
    )
    with op.batch_alter_table('locks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('code_sync_at', UTC(), nullable=True))
        batch_op.add_column(sa.Column('unknown_code_slots', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('removed_code_slots', sa.JSON(), nullable=True))
    with op.batch_alter_table('bridges', schema=None) as batch_op:
        batch_op.add_column(sa.Column('poll_generation', sa.Integer(), nullable=False, server_default='0'))


def downgrade():
    with op.batch_alter_table('bridges', schema=None) as batch_op:
        batch_op.drop_column('poll_generation')
    with op.batch_alter_table('locks', schema=None) as batch_op:
        batch_op.drop_column('removed_code_slots')
        batch_op.drop_column('unknown_code_slots')
        batch_op.drop_column('code_sync_at')
    with op.batch_alter_table('access_codes', schema=None) as batch_op:
        batch_op.drop_column('confirmed_at')
