"""Policy history: every policy that went live, with its diff.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from escalade.storage.schema import Json, UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_versions",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("previous", sa.String(64), nullable=False),
        sa.Column("activated_at", UTCDateTime, nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("sources", Json, nullable=False),
        sa.Column("diff", sa.Text, nullable=False),
        sa.UniqueConstraint("previous", "digest", name="uq_policy_versions_change"),
    )
    op.create_index("ix_policy_versions_digest", "policy_versions", ["digest"])


def downgrade() -> None:
    op.drop_table("policy_versions")
