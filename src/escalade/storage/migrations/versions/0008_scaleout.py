"""Scale-out: worker heartbeats, and which worker holds a delivery's lease.

Additive only (a new table, a nullable column), so API and worker processes of
the previous release keep running against the upgraded schema during a rolling
upgrade: they never read the new column and leave it NULL.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from escalade.storage.schema import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("beat_at", UTCDateTime, nullable=False),
        sa.Column("stopped_at", UTCDateTime, nullable=True),
    )
    op.create_index("ix_workers_beat", "workers", ["beat_at"])
    op.add_column("deliveries", sa.Column("claimed_by", sa.String(200), nullable=True))


def downgrade() -> None:
    op.drop_column("deliveries", "claimed_by")
    op.drop_table("workers")
