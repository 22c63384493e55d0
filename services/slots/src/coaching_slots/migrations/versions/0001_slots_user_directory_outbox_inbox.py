"""slots table with its no-overlap exclusion, the user directory and kit's tables

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from coaching_kit.migrations import (
    create_kit_tables,
    create_user_directory,
    drop_kit_tables,
    drop_user_directory,
)

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_kit_tables()
    create_user_directory()
    # btree_gist gives GiST the plain equality on uuid that the exclusion below pairs with
    # range overlap. A trusted extension: the database's owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.create_table(
        "slots",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("coach_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("booking_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("end_time > start_time", name=op.f("ck_slots_end_after_start")),
        sa.CheckConstraint("status IN ('AVAILABLE', 'UNAVAILABLE')", name=op.f("ck_slots_status")),
        sa.CheckConstraint(
            "(status = 'UNAVAILABLE') = (booking_id IS NOT NULL)", name=op.f("ck_slots_booked")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slots")),
    )
    # A coach's live slots (not deleted, not released by a cancellation) never overlap;
    # tstzrange is half-open, so back-to-back slots are fine.
    op.execute(
        "ALTER TABLE slots ADD CONSTRAINT ex_slots_coach_no_overlap "
        "EXCLUDE USING gist (coach_id WITH =, tstzrange(start_time, end_time) WITH &&) "
        "WHERE (deleted_at IS NULL AND released_at IS NULL)"
    )
    op.create_index("ix_slots_coach_id_start_time", "slots", ["coach_id", "start_time"])


def downgrade() -> None:
    op.drop_table("slots")
    op.execute("DROP EXTENSION IF EXISTS btree_gist")
    drop_user_directory()
    drop_kit_tables()
