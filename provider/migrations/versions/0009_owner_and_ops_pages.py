"""owner pages, operations console, audit log. Written by hand.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

import provider.models.base  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


UTC = provider.models.base.UTCDateTime
BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("disabled_at", UTC(), nullable=True))
    with op.batch_alter_table("commands") as batch:
        batch.add_column(sa.Column("request_id", sa.String(64), nullable=True))
    with op.batch_alter_table("oauth_clients") as batch:
        batch.add_column(sa.Column("previous_secret_hash", sa.String(255), nullable=True))
        batch.add_column(sa.Column("previous_secret_expires_at", UTC(), nullable=True))
    op.create_table(
        "operators",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("totp_secret_enc", sa.Text(), nullable=False),
        sa.Column("last_totp_step", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("disabled_at", UTC(), nullable=True),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("updated_at", UTC(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operators")),
        sa.UniqueConstraint("email", name=op.f("uq_operators_email")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("at", UTC(), nullable=False),
        sa.Column("actor", sa.String(300), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(300), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_table(
        "fleet_samples",
        sa.Column("at", UTC(), nullable=False),
        sa.Column("bridges_online", sa.Integer(), nullable=False),
        sa.Column("bridges_total", sa.Integer(), nullable=False),
        sa.Column("locks_online", sa.Integer(), nullable=False),
        sa.Column("locks_total", sa.Integer(), nullable=False),
        sa.Column("queue_depth", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("at", name=op.f("pk_fleet_samples")),
    )


def downgrade():
    op.drop_table("fleet_samples")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("operators")
    with op.batch_alter_table("oauth_clients") as batch:
        batch.drop_column("previous_secret_expires_at")
        batch.drop_column("previous_secret_hash")
    with op.batch_alter_table("commands") as batch:
        batch.drop_column("request_id")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("disabled_at")
