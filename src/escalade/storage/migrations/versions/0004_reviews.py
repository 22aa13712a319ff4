"""Review requests from AI systems (human review of AI actions).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from escalade.storage.schema import Json, UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reviews",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("policy_id", sa.String(200), nullable=False),
        sa.Column("action", sa.String(200), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("idempotency_key", sa.String(500), nullable=True, unique=True),
        sa.Column("incident_id", sa.String(40), nullable=True),
        sa.Column("requested_at", UTCDateTime, nullable=False),
        sa.Column("decided_at", UTCDateTime, nullable=True),
        sa.Column("outcome", sa.String(20), nullable=True),
        sa.Column("reason", sa.String(20), nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("state", Json, nullable=False),
    )
    op.create_index("ix_reviews_status_requested", "reviews", ["status", "requested_at"])
    op.create_index("ix_reviews_requested", "reviews", ["requested_at"])


def downgrade() -> None:
    op.drop_table("reviews")
