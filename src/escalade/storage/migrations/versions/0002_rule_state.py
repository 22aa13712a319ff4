"""Conditions over time: per-rule window state, and tags on timers.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from escalade.storage.schema import Json, UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Additive only: a server of the previous version keeps working beside this one.
    with op.batch_alter_table("timers") as batch:
        batch.add_column(sa.Column("tag", sa.String(400), nullable=False, server_default=""))
    op.create_table(
        "rule_state",
        sa.Column("rule_id", sa.String(200), primary_key=True),
        sa.Column("group_key", sa.String(1000), primary_key=True),
        sa.Column("since", UTCDateTime, nullable=True),
        sa.Column("hits", Json, nullable=False),
        sa.Column("signal", Json, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("rule_state")
    with op.batch_alter_table("timers") as batch:
        batch.drop_column("tag")
