"""The inbox: signals accepted durably, routed into incidents right after.

Additive only (a new table), so processes of the previous release keep running
beside the new one during a rolling upgrade; they never queue signals here.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

from escalade.storage.schema import Json

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("id", sa.String(200), nullable=False, unique=True),
        sa.Column("body", Json, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("inbox")
