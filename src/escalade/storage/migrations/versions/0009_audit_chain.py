"""Tamper-evident timeline: a hash chain per incident and a head per chain.

Existing entries are chained in the order they were written.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from escalade.domain.audit_chain import GENESIS, entry_hash
from escalade.storage.schema import Json, UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("timeline", sa.Column("seq", sa.Integer, nullable=True))
    op.add_column("timeline", sa.Column("prev_hash", sa.String(64), nullable=True))
    op.add_column("timeline", sa.Column("hash", sa.String(64), nullable=True))
    op.create_table(
        "audit_heads",
        sa.Column("incident_id", sa.String(40), primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    _chain_existing_entries()
    with op.batch_alter_table("timeline") as batch:
        batch.alter_column("seq", existing_type=sa.Integer, nullable=False)
        batch.alter_column("prev_hash", existing_type=sa.String(64), nullable=False)
        batch.alter_column("hash", existing_type=sa.String(64), nullable=False)
    op.create_index("ux_timeline_chain", "timeline", ["incident_id", "seq"], unique=True)


def _chain_existing_entries() -> None:
    conn = op.get_bind()
    timeline = sa.table(
        "timeline",
        sa.column("id", sa.BigInteger),
        sa.column("incident_id", sa.String),
        sa.column("at", UTCDateTime),
        sa.column("kind", sa.String),
        sa.column("actor", sa.String),
        sa.column("data", Json),
        sa.column("seq", sa.Integer),
        sa.column("prev_hash", sa.String),
        sa.column("hash", sa.String),
    )
    heads = sa.table(
        "audit_heads",
        sa.column("incident_id", sa.String),
        sa.column("seq", sa.Integer),
        sa.column("hash", sa.String),
    )
    chains: dict[str, tuple[int, str]] = {}
    rows = conn.execute(sa.select(timeline).order_by(timeline.c.id)).fetchall()
    for r in rows:
        seq, prev = chains.get(r.incident_id, (0, GENESIS))
        seq += 1
        digest = entry_hash(
            prev,
            incident_id=r.incident_id,
            seq=seq,
            at=r.at,
            kind=r.kind,
            actor=r.actor,
            data=r.data,
        )
        conn.execute(
            sa.update(timeline)
            .where(timeline.c.id == r.id)
            .values(seq=seq, prev_hash=prev, hash=digest)
        )
        chains[r.incident_id] = (seq, digest)
    if chains:
        conn.execute(
            heads.insert(),
            [{"incident_id": i, "seq": s, "hash": h} for i, (s, h) in chains.items()],
        )


def downgrade() -> None:
    op.drop_index("ux_timeline_chain", "timeline")
    op.drop_table("audit_heads")
    with op.batch_alter_table("timeline") as batch:
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
        batch.drop_column("seq")
