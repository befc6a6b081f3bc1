"""tenant isolation and security hardening. Written by hand.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

"""
from alembic import op
import sqlalchemy as sa

import provider.models.base


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'browser_sessions',
        sa.Column('id_hash', sa.String(length=64), nullable=False),
        sa.Column('account_id', sa.String(length=36), nullable=True),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('created_at', provider.models.base.UTCDateTime(), nullable=False),
        sa.Column('last_seen_at', provider.models.base.UTCDateTime(), nullable=False),
        sa.Column('expires_at', provider.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_browser_sessions_account_id_accounts'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id_hash', name=op.f('pk_browser_sessions')),
    )
    with op.batch_alter_table('browser_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_browser_sessions_account_id', ['account_id'], unique=False)
        batch_op.create_index('ix_browser_sessions_expires_at', ['expires_at'], unique=False)
    # A keyed digest of each lock's device key, so that a key is never given to two locks.
    with op.batch_alter_table('locks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('device_key_fingerprint', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_locks_device_key_fingerprint', ['device_key_fingerprint'], unique=False)
    _backfill_key_fingerprints()

    # Which owners authorised a client: asked by the event feed and the webhook fan-out.
    with op.batch_alter_table('oauth_tokens', schema=None) as batch_op:
        batch_op.create_index('ix_oauth_tokens_client_user', ['client_pk', 'user_id'], unique=False)


def _backfill_key_fingerprints():
    """Existing locks get their fingerprint when the app's data key is at hand (flask db
    upgrade runs inside the app); otherwise they keep NULL and are simply not compared."""
    try:
        from flask import current_app

        current_app.config  # noqa: B018 - raises outside an app context
    except RuntimeError:
        return
    from provider.services import crypto
    from provider.services.locks import DEVICE_KEY_PURPOSE

    conn = op.get_bind()
    locks = sa.table('locks', sa.column('id', sa.String), sa.column('device_key_enc', sa.Text),
                     sa.column('device_key_fingerprint', sa.String))
    for row in conn.execute(sa.select(locks.c.id, locks.c.device_key_enc)).all():
        try:
            key = crypto.decrypt(row.device_key_enc, purpose=DEVICE_KEY_PURPOSE)
        except crypto.DecryptionError:
            continue
        conn.execute(locks.update().where(locks.c.id == row.id).values(
            device_key_fingerprint=crypto.fingerprint(key.lower(), purpose=DEVICE_KEY_PURPOSE)))


def downgrade():
    with op.batch_alter_table('locks', schema=None) as batch_op:
        batch_op.drop_index('ix_locks_device_key_fingerprint')
        batch_op.drop_column('device_key_fingerprint')
    op.drop_table('browser_sessions')
    with op.batch_alter_table('oauth_tokens', schema=None) as batch_op:
        batch_op.drop_index('ix_oauth_tokens_client_user')
