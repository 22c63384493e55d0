"""bookings and call_reviews, with kit's tables and the user directory

Revision ID: 0001
Revises:
Create Date: 2026-11-25
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

HOLDS_SLOT = "status IN ('ACTIVE', 'COMPLETED', 'CANCELLED', 'NO_SHOW')"


def upgrade() -> None:
    create_kit_tables()
    create_user_directory()
    op.create_table(
        "bookings",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("slot_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("student_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("coach_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("no_show_by", sa.String(16), nullable=True),
        sa.Column("cancelled_by", sa.String(16), nullable=True),
        sa.Column("cancelled_by_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("cancel_reason", sa.String(500), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rejection_code", sa.String(32), nullable=True),
        sa.Column("rejection_message", sa.Text(), nullable=True),
        sa.Column("correlation_id", sa.String(300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('PENDING', 'ACTIVE', 'REJECTED', 'COMPLETED', 'CANCELLED', 'NO_SHOW')",
            name="ck_bookings_status",
        ),
        sa.CheckConstraint("no_show_by IN ('STUDENT', 'COACH')", name="ck_bookings_no_show_by"),
        sa.CheckConstraint("cancelled_by IN ('STUDENT', 'COACH')", name="ck_bookings_cancelled_by"),
        sa.CheckConstraint(
            f"NOT ({HOLDS_SLOT}) OR (coach_id IS NOT NULL AND start_time IS NOT NULL "
            "AND end_time IS NOT NULL AND end_time > start_time)",
            name="ck_bookings_session_known",
        ),
        sa.CheckConstraint(
            "(status <> 'COMPLETED' OR completed_at IS NOT NULL)"
            " AND (status <> 'NO_SHOW' OR no_show_by IS NOT NULL)"
            " AND (status <> 'CANCELLED' OR (cancelled_by IS NOT NULL AND cancelled_by_id IS NOT NULL))"
            " AND (status <> 'REJECTED' OR rejection_code IS NOT NULL)",
            name="ck_bookings_outcome_recorded",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_bookings"),
    )
    op.create_index(
        "uq_bookings_slot_id_held",
        "bookings",
        ["slot_id"],
        unique=True,
        postgresql_where=sa.text(HOLDS_SLOT),
    )
    op.create_index(
        "ix_bookings_active_end_time",
        "bookings",
        ["end_time"],
        postgresql_where=sa.text("status = 'ACTIVE'"),
    )
    op.create_table(
        "call_reviews",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("booking_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("coach_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("student_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("satisfaction_score", sa.SmallInteger(), nullable=False),
        sa.Column("notes", sa.String(2000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "satisfaction_score BETWEEN 1 AND 5", name="ck_call_reviews_satisfaction_score"
        ),
        sa.ForeignKeyConstraint(
            ["booking_id"], ["bookings.id"], name="fk_call_reviews_booking_id_bookings"
        ),
        sa.UniqueConstraint("booking_id", name="uq_call_reviews_booking_id"),
        sa.PrimaryKeyConstraint("id", name="pk_call_reviews"),
    )


def downgrade() -> None:
    op.drop_table("call_reviews")
    op.drop_table("bookings")
    drop_user_directory()
    drop_kit_tables()
