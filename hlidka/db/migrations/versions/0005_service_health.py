"""service: source health, the running instance, the persistent schedule

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-24 10:00:00

``crawl_runs`` gains what source health reads (article links on the listing,
rejected article pages). ``source_health`` keeps each source's verdict so a
breakage is reported once; ``service_instances`` the running ``hlidka run``.
``apscheduler_jobs`` is APScheduler 3's SQLAlchemy job store table, created
here (same columns as the job store's own definition) so that ``hlidka status``
can read next runs before the service has ever started.
"""
from alembic import op
import sqlalchemy as sa
import hlidka.db.models


revision = "0005"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("crawl_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("article_links", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("articles_rejected", sa.Integer(), nullable=True))

    op.create_table(
        "source_health",
        sa.Column("source_id", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("since", hlidka.db.models.UTCDateTime(), nullable=True),
        sa.Column("checked_run_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", hlidka.db.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source_id"),
    )
    op.create_table(
        "service_instances",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("started_at", hlidka.db.models.UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", hlidka.db.models.UTCDateTime(), nullable=False),
        sa.Column("stopped_at", hlidka.db.models.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "apscheduler_jobs",
        sa.Column("id", sa.Unicode(length=191), nullable=False),
        sa.Column("next_run_time", sa.Float(precision=25), nullable=True),
        sa.Column("job_state", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_apscheduler_jobs_next_run_time", "apscheduler_jobs", ["next_run_time"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_apscheduler_jobs_next_run_time", table_name="apscheduler_jobs")
    op.drop_table("apscheduler_jobs")
    op.drop_table("service_instances")
    op.drop_table("source_health")
    with op.batch_alter_table("crawl_runs", schema=None) as batch_op:
        batch_op.drop_column("articles_rejected")
        batch_op.drop_column("article_links")
