"""coach_stats table, with kit's tables (outbox, inbox, relay lease, pending replies)

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from coaching_kit.migrations import create_kit_tables, drop_kit_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _counter(name: str, big: bool = False) -> sa.Column:
    return sa.Column(name, sa.BigInteger if big else sa.Integer, nullable=False, server_default="0")


def upgrade() -> None:
    create_kit_tables()
    op.create_table(
        "coach_stats",
        sa.Column("coach_id", postgresql.UUID(as_uuid=True), nullable=False),
        _counter("total_slots"),
        _counter("total_calls"),
        _counter("completed_slots"),
        _counter("cancelled_calls"),
        _counter("no_shows_by_student"),
        _counter("no_shows_by_coach"),
        _counter("review_count"),
        _counter("rating_sum", big=True),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("coach_id", name="pk_coach_stats"),
    )


def downgrade() -> None:
    op.drop_table("coach_stats")
    drop_kit_tables()
