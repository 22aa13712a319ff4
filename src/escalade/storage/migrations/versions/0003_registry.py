"""The registry of AI systems and model versions, and the risk register.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from escalade.storage.schema import Json, UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ai_systems",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "model_versions",
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("version", sa.String(100), primary_key=True),
        sa.Column("system_id", sa.String(200), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("card", Json, nullable=False),
        sa.Column("registered_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_model_versions_system", "model_versions", ["system_id"])
    op.create_table(
        "risks",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("incident_id", sa.String(40), nullable=True),
        sa.Column("system_id", sa.String(200), nullable=True),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_risks_incident", "risks", ["incident_id"])


def downgrade() -> None:
    for table in ("risks", "model_versions", "ai_systems"):
        op.drop_table(table)
