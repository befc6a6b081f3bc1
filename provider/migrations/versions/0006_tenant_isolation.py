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

    # Secrets of an event (a mistyped PIN) encrypted apart from its public data.
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('data_sealed', sa.Text(), nullable=True))
    with op.batch_alter_table('lock_event_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('data_sealed', sa.Text(), nullable=True))
    _seal_mistyped_pins()

    # Which owners authorised a client: asked by the event feed and the webhook fan-out.
    with op.batch_alter_table('oauth_tokens', schema=None) as batch_op:
        batch_op.create_index('ix_oauth_tokens_client_user', ['client_pk', 'user_id'], unique=False)


def _in_app() -> bool:
    try:
        from flask import current_app

        current_app.config  # noqa: B018 - raises outside an app context
    except RuntimeError:
        return False
    return True


def _seal_mistyped_pins():
    """Encrypts the typed digits already stored in clear (needs the app's data key)."""
    if not _in_app():
        return
    from provider.services import sealed

    conn = op.get_bind()
    events = sa.table('events', sa.column('seq', sa.BigInteger), sa.column('event_type', sa.String),
                      sa.column('data', sa.JSON), sa.column('data_sealed', sa.Text))
    for row in conn.execute(sa.select(events.c.seq, events.c.data).where(
            events.c.event_type == 'access_code.incorrect_attempt')).all():
        data = dict(row.data or {})
        secret = {k: data.pop(k) for k in ('code', 'pin') if k in data}
        conn.execute(events.update().where(events.c.seq == row.seq).values(
            data=data, data_sealed=sealed.seal(secret)))
    log = sa.table('lock_event_log', sa.column('id', sa.BigInteger), sa.column('type', sa.String),
                   sa.column('data', sa.JSON), sa.column('data_sealed', sa.Text))
    for row in conn.execute(sa.select(log.c.id, log.c.data).where(
            log.c.type.in_(sorted(sealed.SEALED_LOCK_REPORTS)))).all():
        conn.execute(log.update().where(log.c.id == row.id).values(
            data={}, data_sealed=sealed.seal(dict(row.data or {}))))


def _backfill_key_fingerprints():
    """Existing locks get their fingerprint when the app's data key is at hand (flask db
    upgrade runs inside the app); otherwise they keep NULL and are simply not compared."""
    if not _in_app():
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
    with op.batch_alter_table('lock_event_log', schema=None) as batch_op:
        batch_op.drop_column('data_sealed')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('data_sealed')
    with op.batch_alter_table('locks', schema=None) as batch_op:
        batch_op.drop_index('ix_locks_device_key_fingerprint')
        batch_op.drop_column('device_key_fingerprint')
    op.drop_table('browser_sessions')
    with op.batch_alter_table('oauth_tokens', schema=None) as batch_op:
        batch_op.drop_index('ix_oauth_tokens_client_user')
