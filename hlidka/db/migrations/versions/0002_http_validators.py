"""HTTP validators for conditional revisits of listings, feeds, sitemaps and re-checked articles

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa
import hlidka.db.models


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "http_validators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("source_id", sa.String(length=100), nullable=False),
        sa.Column("etag", sa.String(length=500), nullable=True),
        sa.Column("last_modified", sa.String(length=100), nullable=True),
        sa.Column("follow", sa.JSON(), nullable=True),
        sa.Column("checked_at", hlidka.db.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("url"),
    )
    with op.batch_alter_table("http_validators", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_http_validators_source_id"), ["source_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("http_validators", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_http_validators_source_id"))
    op.drop_table("http_validators")
