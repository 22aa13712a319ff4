"""The inbox's bodies as `json` rather than `jsonb` (PostgreSQL).

The inbox holds a signal from its 202 until a worker routes it, minutes at
most; nothing queries inside a body. Converting each body to `jsonb` on the
way in (parsing it into a tree and sorting its keys) was a quarter of
PostgreSQL's time under batched `respond-async` load; `json` checks the text
and keeps it as it is (`docs/benchmarks.md`, seventh round).

A type change, which the upgrade rules allow only where the previous release
runs unchanged against it, and it does (`tests/storage/test_migrations.py`
runs its inbox statements against this schema): its inserts of `jsonb` are
converted on assignment, its reads ask for the text or get the parsed JSON
either way. The change rewrites the inbox under an exclusive lock, which an
inbox that workers keep drained makes brief. SQLite keeps JSON as text
already: nothing to do there.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.alter_column(
        "inbox",
        "body",
        type_=sa.JSON(),
        existing_type=JSONB(),
        existing_nullable=False,
        postgresql_using="body::json",
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.alter_column(
        "inbox",
        "body",
        type_=JSONB(),
        existing_type=sa.JSON(),
        existing_nullable=False,
        postgresql_using="body::jsonb",
    )
