"""devices: bridges, locks, access codes, actions, commands, lock event log, rate limits.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25

"""
import sqlalchemy as sa
from alembic import op

import provider.models.base

# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

UTC = provider.models.base.UTCDateTime
BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    op.create_table('bridges',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('owner_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('online', sa.Boolean(), nullable=False),
    sa.Column('last_seen_at', UTC(), nullable=True),
    sa.Column('event_seq', sa.Integer(), nullable=False),
    sa.Column('created_at', UTC(), nullable=False),
    sa.Column('updated_at', UTC(), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['accounts.id'], name=op.f('fk_bridges_owner_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bridges')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_bridges_token_hash'))
    )
    op.create_index('ix_bridges_online_seen', 'bridges', ['online', 'last_seen_at'])
    op.create_index('ix_bridges_owner_id', 'bridges', ['owner_id'])

    op.create_table('locks',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('owner_id', sa.String(length=36), nullable=False),
    sa.Column('bridge_id', sa.String(length=36), nullable=True),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('model', sa.String(length=50), nullable=False),
    sa.Column('address', sa.String(length=255), nullable=True),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('ble_address', sa.String(length=17), nullable=False),
    sa.Column('device_key_enc', sa.Text(), nullable=False),
    sa.Column('online', sa.Boolean(), nullable=False),
    sa.Column('battery_level', sa.Integer(), nullable=True),
    sa.Column('signal_quality', sa.Integer(), nullable=True),
    sa.Column('lock_state', sa.String(length=16), nullable=False),
    sa.Column('has_door_sensor', sa.Boolean(), nullable=False),
    sa.Column('door_state', sa.String(length=16), nullable=True),
    sa.Column('device_time', UTC(), nullable=True),
    sa.Column('time_wrong', sa.Boolean(), nullable=False),
    sa.Column('obstructed', sa.Boolean(), nullable=False),
    sa.Column('code_capacity', sa.Integer(), nullable=False),
    sa.Column('event_seq', sa.Integer(), nullable=False),
    sa.Column('last_event_seq', sa.Integer(), nullable=False),
    sa.Column('created_at', UTC(), nullable=False),
    sa.Column('updated_at', UTC(), nullable=False),
    sa.ForeignKeyConstraint(['bridge_id'], ['bridges.id'], name=op.f('fk_locks_bridge_id_bridges')),
    sa.ForeignKeyConstraint(['owner_id'], ['accounts.id'], name=op.f('fk_locks_owner_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_locks'))
    )
    op.create_index('ix_locks_bridge', 'locks', ['bridge_id'])
    op.create_index('ix_locks_owner_id_id', 'locks', ['owner_id', 'id'])

    op.create_table('access_codes',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('lock_id', sa.String(length=36), nullable=False),
    sa.Column('owner_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('code_enc', sa.Text(), nullable=False),
    sa.Column('slot', sa.Integer(), nullable=False),
    sa.Column('starts_at', UTC(), nullable=True),
    sa.Column('ends_at', UTC(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error_code', sa.String(length=64), nullable=True),
    sa.Column('command_id', sa.String(length=36), nullable=True),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('created_at', UTC(), nullable=False),
    sa.Column('updated_at', UTC(), nullable=False),
    sa.ForeignKeyConstraint(['lock_id'], ['locks.id'], name=op.f('fk_access_codes_lock_id_locks')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_access_codes'))
    )
    op.create_index('ix_access_codes_lock_status', 'access_codes', ['lock_id', 'status', 'created_at'])

    op.create_table('actions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('lock_id', sa.String(length=36), nullable=False),
    sa.Column('owner_id', sa.String(length=36), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('custom_id', sa.String(length=255), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('performed_via', sa.String(length=32), nullable=False),
    sa.Column('error_code', sa.String(length=64), nullable=True),
    sa.Column('error_message', sa.String(length=255), nullable=True),
    sa.Column('created_at', UTC(), nullable=False),
    sa.Column('completed_at', UTC(), nullable=True),
    sa.ForeignKeyConstraint(['lock_id'], ['locks.id'], name=op.f('fk_actions_lock_id_locks')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_actions')),
    sa.UniqueConstraint('lock_id', 'custom_id', name='uq_actions_lock_custom_id')
    )

    op.create_table('commands',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('bridge_id', sa.String(length=36), nullable=False),
    sa.Column('lock_id', sa.String(length=36), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('expires_at', UTC(), nullable=False),
    sa.Column('lease_until', UTC(), nullable=True),
    sa.Column('error_code', sa.String(length=64), nullable=True),
    sa.Column('error_message', sa.String(length=255), nullable=True),
    sa.Column('action_id', sa.String(length=36), nullable=True),
    sa.Column('access_code_id', sa.String(length=36), nullable=True),
    sa.Column('created_at', UTC(), nullable=False),
    sa.Column('completed_at', UTC(), nullable=True),
    sa.ForeignKeyConstraint(['bridge_id'], ['bridges.id'], name=op.f('fk_commands_bridge_id_bridges')),
    sa.ForeignKeyConstraint(['lock_id'], ['locks.id'], name=op.f('fk_commands_lock_id_locks')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_commands')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_commands_idempotency_key'))
    )
    op.create_index('ix_commands_bridge_status_created', 'commands', ['bridge_id', 'status', 'created_at'])
    op.create_index('ix_commands_status_expires', 'commands', ['status', 'expires_at'])

    op.create_table('lock_event_log',
    sa.Column('id', BIGINT_PK, autoincrement=True, nullable=False),
    sa.Column('lock_id', sa.String(length=36), nullable=False),
    sa.Column('lock_seq', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('occurred_at', UTC(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('received_at', UTC(), nullable=False),
    sa.ForeignKeyConstraint(['lock_id'], ['locks.id'], name=op.f('fk_lock_event_log_lock_id_locks')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lock_event_log')),
    sa.UniqueConstraint('lock_id', 'lock_seq', name='uq_lock_event_log_lock_seq')
    )

    op.create_table('rate_limit_counters',
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('window_index', sa.Integer(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key', 'window_index', name=op.f('pk_rate_limit_counters'))
    )


def downgrade():
    op.drop_table('rate_limit_counters')
    op.drop_table('lock_event_log')
    op.drop_index('ix_commands_status_expires', table_name='commands')
    op.drop_index('ix_commands_bridge_status_created', table_name='commands')
    op.drop_table('commands')
    op.drop_table('actions')
    op.drop_index('ix_access_codes_lock_status', table_name='access_codes')
    op.drop_table('access_codes')
    op.drop_index('ix_locks_owner_id_id', table_name='locks')
    op.drop_index('ix_locks_bridge', table_name='locks')
    op.drop_table('locks')
    op.drop_index('ix_bridges_owner_id', table_name='bridges')
    op.drop_index('ix_bridges_online_seen', table_name='bridges')
    op.drop_table('bridges')
