"""Seam fidelity: the client-credentials grant's tokens (webhooks, events). Written by hand.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

import provider.models.base  # noqa: F401


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "oauth_client_tokens",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("client_pk", sa.String(length=36), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("access_token_hash", sa.String(length=64), nullable=False),
        sa.Column("issued_at", provider.models.base.UTCDateTime(), nullable=False),
        sa.Column("expires_at", provider.models.base.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", provider.models.base.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["client_pk"], ["oauth_clients.id"],
                                name=op.f("fk_oauth_client_tokens_client_pk_oauth_clients"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_client_tokens")),
        sa.UniqueConstraint("access_token_hash", name=op.f("uq_oauth_client_tokens_access_token_hash")),
    )
    with op.batch_alter_table("oauth_client_tokens") as batch:
        batch.create_index(batch.f("ix_oauth_client_tokens_client_pk"), ["client_pk"], unique=False)


def downgrade():
    op.drop_table("oauth_client_tokens")
