"""codes on the lock as they are, device fields: unmanaged codes beside the cloud's own, and what
the lock reports about itself (RSSI, firmware, auto-lock, keypad battery). Written by hand.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01

"""
from alembic import op
import sqlalchemy as sa

import provider.models.base  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    # Every code written before this was created by the cloud: managed.
    with op.batch_alter_table('access_codes') as batch:
        batch.add_column(sa.Column('is_managed', sa.Boolean(), nullable=False, server_default=sa.true()))
    with op.batch_alter_table('locks') as batch:
        batch.add_column(sa.Column('rssi_dbm', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('firmware_version', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('auto_lock_enabled', sa.Boolean(), nullable=True))
        batch.add_column(sa.Column('auto_lock_delay_seconds', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('keypad_battery_level', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('serial_number', sa.String(length=64), nullable=True))
    # Claimed locks: what the factory manifest said (the bridge reports the firmware it finds later).
    op.execute(
        "UPDATE locks SET serial_number = (SELECT serial FROM factory_devices WHERE factory_devices.id = locks.device_id), "
        "firmware_version = (SELECT firmware_version FROM factory_devices WHERE factory_devices.id = locks.device_id) "
        "WHERE device_id IS NOT NULL"
    )


def _drop(table, column):
    # Not batch mode on SQLite: recreating locks (which access_codes references) fails with foreign
    # keys on once rows exist; SQLite drops a plain column in place (3.35+).
    if op.get_bind().dialect.name == 'sqlite':
        op.execute(f'ALTER TABLE {table} DROP COLUMN {column}')
    else:
        op.drop_column(table, column)


def downgrade():
    for column in ('serial_number', 'keypad_battery_level', 'auto_lock_delay_seconds', 'auto_lock_enabled',
                   'firmware_version', 'rssi_dbm'):
        _drop('locks', column)
    _drop('access_codes', 'is_managed')
