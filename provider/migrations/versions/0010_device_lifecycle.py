"""factory inventory, claiming, sharing, bridge sightings, key rotations. Written by hand.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01

"""
import sqlalchemy as sa
from alembic import op

import provider.models.base

# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

UTC = provider.models.base.UTCDateTime


def upgrade():
    op.create_table('factory_devices',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('serial', sa.String(length=64), nullable=False),
    sa.Column('ble_address', sa.String(length=17), nullable=False),
    sa.Column('model', sa.String(length=50), nullable=False),
    sa.Column('hardware_revision', sa.String(length=32), nullable=False),
    sa.Column('firmware_version', sa.String(length=32), nullable=False),
    sa.Column('device_key_enc', sa.Text(), nullable=False),
    sa.Column('device_key_digest', sa.String(length=64), nullable=False),
    sa.Column('offline_secret_enc', sa.Text(), nullable=False),
    sa.Column('batch_id', sa.String(length=36), nullable=False),
    sa.Column('claim_code_hash', sa.String(length=64), nullable=True),
    sa.Column('claim_code_issued_at', UTC(), nullable=True),
    sa.Column('claimed_at', UTC(), nullable=True),
    sa.Column('pending_key_enc', sa.Text(), nullable=True),
    sa.Column('pending_rotation_no', sa.Integer(), nullable=True),
    sa.Column('created_at', UTC(), nullable=False),
    sa.Column('updated_at', UTC(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_factory_devices')),
    sa.UniqueConstraint('serial', name=op.f('uq_factory_devices_serial')),
    sa.UniqueConstraint('ble_address', name=op.f('uq_factory_devices_ble_address')),
    sa.UniqueConstraint('device_key_digest', name=op.f('uq_factory_devices_device_key_digest')),
    sa.UniqueConstraint('claim_code_hash', name=op.f('uq_factory_devices_claim_code_hash')),
    )
    op.create_index('ix_factory_devices_batch_id', 'factory_devices', ['batch_id'])

    with op.batch_alter_table('locks') as batch:
        batch.add_column(sa.Column('device_id', sa.String(length=36), nullable=True))
        batch.create_unique_constraint(op.f('uq_locks_device_id'), ['device_id'])
        batch.create_foreign_key(op.f('fk_locks_device_id_factory_devices'), 'factory_devices',
                                 ['device_id'], ['id'])

    op.create_table('lock_shares',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('lock_id', sa.String(length=36), nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('granted_by', sa.String(length=36), nullable=False),
    sa.Column('created_at', UTC(), nullable=False),
    sa.ForeignKeyConstraint(['lock_id'], ['locks.id'], name=op.f('fk_lock_shares_lock_id_locks')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_lock_shares_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lock_shares')),
    sa.UniqueConstraint('lock_id', 'account_id', name='uq_lock_shares_lock_account'),
    )
    op.create_index('ix_lock_shares_account', 'lock_shares', ['account_id', 'lock_id'])

    op.create_table('bridge_sightings',
    sa.Column('bridge_id', sa.String(length=36), nullable=False),
    sa.Column('ble_address', sa.String(length=17), nullable=False),
    sa.Column('rssi', sa.Integer(), nullable=False),
    sa.Column('seen_at', UTC(), nullable=False),
    sa.ForeignKeyConstraint(['bridge_id'], ['bridges.id'], name=op.f('fk_bridge_sightings_bridge_id_bridges')),
    sa.PrimaryKeyConstraint('bridge_id', 'ble_address', name=op.f('pk_bridge_sightings')),
    )
    op.create_index('ix_bridge_sightings_address', 'bridge_sightings', ['ble_address', 'seen_at'])
    op.create_table('key_rotations',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('lock_id', sa.String(length=36), nullable=False),
    sa.Column('rotation_no', sa.Integer(), nullable=False),
    sa.Column('new_key_enc', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=255), nullable=True),
    sa.Column('created_at', UTC(), nullable=False),
    sa.Column('completed_at', UTC(), nullable=True),
    sa.ForeignKeyConstraint(['lock_id'], ['locks.id'], name=op.f('fk_key_rotations_lock_id_locks')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_key_rotations')),
    sa.UniqueConstraint('lock_id', 'rotation_no', name='uq_key_rotations_lock_no'),
    )
    op.create_index('ix_key_rotations_status', 'key_rotations', ['status', 'lock_id'])
    # A lock's address is looked up whenever one is added (duplicates are refused).
    op.create_index('ix_locks_ble_address', 'locks', ['ble_address'])


def downgrade():
    op.drop_index('ix_locks_ble_address', table_name='locks')
    op.drop_index('ix_key_rotations_status', table_name='key_rotations')
    op.drop_table('key_rotations')
    op.drop_index('ix_bridge_sightings_address', table_name='bridge_sightings')
    op.drop_table('bridge_sightings')
    op.drop_index('ix_lock_shares_account', table_name='lock_shares')
    op.drop_table('lock_shares')
    with op.batch_alter_table('locks') as batch:
        batch.drop_constraint(op.f('fk_locks_device_id_factory_devices'), type_='foreignkey')
        batch.drop_constraint(op.f('uq_locks_device_id'), type_='unique')
        batch.drop_column('device_id')
    op.drop_index('ix_factory_devices_batch_id', table_name='factory_devices')
    op.drop_table('factory_devices')
