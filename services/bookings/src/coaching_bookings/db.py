"""The bookings service's tables (its own database; kit adds its own and the user directory)."""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import UUID

from coaching_kit.db import new_metadata
from coaching_kit.user_directory import USER_DIRECTORY

metadata = new_metadata(USER_DIRECTORY)

# Statuses in which a booking holds its slot: a slot has at most one booking. PENDING and
# REJECTED requests are the saga's and must not block the slot's one real booking.
HOLDS_SLOT = "status IN ('ACTIVE', 'COMPLETED', 'CANCELLED', 'NO_SHOW')"

bookings = Table(
    "bookings",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("slot_id", UUID(as_uuid=True), nullable=False),
    Column("student_id", UUID(as_uuid=True), nullable=False),
    Column("coach_id", UUID(as_uuid=True), nullable=True),
    Column("start_time", DateTime(timezone=True), nullable=True),
    Column("end_time", DateTime(timezone=True), nullable=True),
    Column("status", String(16), nullable=False),
    Column("no_show_by", String(16), nullable=True),
    Column("cancelled_by", String(16), nullable=True),
    Column("cancelled_by_id", UUID(as_uuid=True), nullable=True),
    Column("cancel_reason", String(500), nullable=True),
    Column("completed_at", DateTime(timezone=True), nullable=True),
    Column("rejection_code", String(32), nullable=True),
    Column("rejection_message", Text, nullable=True),
    # The request's correlation, which auto-completion's events continue.
    Column("correlation_id", String(300), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint(
        "status IN ('PENDING', 'ACTIVE', 'REJECTED', 'COMPLETED', 'CANCELLED', 'NO_SHOW')",
        name="status",
    ),
    CheckConstraint("no_show_by IN ('STUDENT', 'COACH')", name="no_show_by"),
    CheckConstraint("cancelled_by IN ('STUDENT', 'COACH')", name="cancelled_by"),
    # A booking that holds its slot knows the slot's coach and session.
    CheckConstraint(
        f"NOT ({HOLDS_SLOT}) OR (coach_id IS NOT NULL AND start_time IS NOT NULL "
        "AND end_time IS NOT NULL AND end_time > start_time)",
        name="session_known",
    ),
    # Each end state records what ended it.
    CheckConstraint(
        "(status <> 'COMPLETED' OR completed_at IS NOT NULL)"
        " AND (status <> 'NO_SHOW' OR no_show_by IS NOT NULL)"
        " AND (status <> 'CANCELLED' OR (cancelled_by IS NOT NULL AND cancelled_by_id IS NOT NULL))"
        " AND (status <> 'REJECTED' OR rejection_code IS NOT NULL)",
        name="outcome_recorded",
    ),
)

# The database enforces one booking per slot, whatever a replica believes.
SLOT_BOOKED = "uq_bookings_slot_id_held"
Index(SLOT_BOOKED, bookings.c.slot_id, unique=True, postgresql_where=text(HOLDS_SLOT))

# Auto-completion's scan: only ACTIVE bookings, by end time, so the index stays as small as
# the number of upcoming sessions however long the history grows.
Index(
    "ix_bookings_active_end_time", bookings.c.end_time, postgresql_where=text("status = 'ACTIVE'")
)

call_reviews = Table(
    "call_reviews",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("booking_id", UUID(as_uuid=True), ForeignKey("bookings.id"), nullable=False),
    Column("coach_id", UUID(as_uuid=True), nullable=False),
    Column("student_id", UUID(as_uuid=True), nullable=False),
    Column("satisfaction_score", SmallInteger, nullable=False),
    Column("notes", String(2000), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("satisfaction_score BETWEEN 1 AND 5", name="satisfaction_score"),
    # At most one review per booking, decided by the database, race-free.
    UniqueConstraint("booking_id"),
)
