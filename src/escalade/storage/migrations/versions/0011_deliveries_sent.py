"""An index on a channel's delivered messages by time, for per-contact throttles.

A throttled channel (`throttle: {max: 3, per: 15m}`) asks before each message
what reached the contact in the window. Without this index that read every
delivered message ever (30 ms a message with 100,000 of them on SQLite), and
it grew with the outbox's history.

Additive only: old processes run beside it unchanged. On a large PostgreSQL
`deliveries` table, build it first without blocking writes
(`docs/operations.md`): this step then finds it and does nothing.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_deliveries_sent", "deliveries", ["channel", "delivered_at"], if_not_exists=True
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_sent", table_name="deliveries")
