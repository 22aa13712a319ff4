"""Responder feedback: ratings of how an incident's response went.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from escalade.storage.schema import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("incident_id", sa.String(40), primary_key=True),
        sa.Column("person", sa.String(200), primary_key=True),
        sa.Column("rating", sa.Integer, nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("tier", sa.String(100), nullable=False),
        sa.Column("submitted_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_feedback_submitted", "feedback", ["submitted_at"])


def downgrade() -> None:
    op.drop_table("feedback")
