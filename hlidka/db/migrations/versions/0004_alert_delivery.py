"""alert delivery: messages shared by several alerts, operations alerts, retries

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-24 09:00:00

Digests and folded bursts send several alerts in one message (``batch``),
which the rate limit counts per channel (index on channel, sent_at).
Operations alerts have no article or watchlist and carry their own words.
"""
from alembic import op
import sqlalchemy as sa
import hlidka.db.models


revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), nullable=False, server_default="match"))
        batch_op.add_column(sa.Column("subject", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("body", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("batch", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("retried_at", hlidka.db.models.UTCDateTime(), nullable=True))
        batch_op.alter_column("article_id", existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column("watchlist_id", existing_type=sa.String(length=100), nullable=True)
        batch_op.create_index(batch_op.f("ix_alerts_batch"), ["batch"], unique=False)
        batch_op.create_index("ix_alerts_channel_sent_at", ["channel", "sent_at"], unique=False)


def downgrade() -> None:
    op.execute("DELETE FROM alerts WHERE kind = 'operations'")  # they have no article, which 0001 requires
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_channel_sent_at")
        batch_op.drop_index(batch_op.f("ix_alerts_batch"))
        batch_op.alter_column("watchlist_id", existing_type=sa.String(length=100), nullable=False)
        batch_op.alter_column("article_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("retried_at")
        batch_op.drop_column("batch")
        batch_op.drop_column("body")
        batch_op.drop_column("subject")
        batch_op.drop_column("kind")
