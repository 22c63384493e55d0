"""The slots service's tables (its own database; kit adds its own tables and the user directory)."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, DateTime, Index, String, Table, func, text
from sqlalchemy.dialects.postgresql import UUID, ExcludeConstraint

from coaching_kit.db import new_metadata
from coaching_kit.user_directory import USER_DIRECTORY

metadata = new_metadata(USER_DIRECTORY)

slots = Table(
    "slots",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("coach_id", UUID(as_uuid=True), nullable=False),
    Column("start_time", DateTime(timezone=True), nullable=False),
    Column("end_time", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False),
    Column("booking_id", UUID(as_uuid=True), nullable=True),
    Column("released_at", DateTime(timezone=True), nullable=True),
    Column("deleted_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("end_time > start_time", name="end_after_start"),
    CheckConstraint("status IN ('AVAILABLE', 'UNAVAILABLE')", name="status"),
    # A reservation sets both at once; neither can exist without the other.
    CheckConstraint("(status = 'UNAVAILABLE') = (booking_id IS NOT NULL)", name="booked"),
)

PRIMARY_KEY = "pk_slots"
# A coach cannot hold two overlapping slots that can still become calls. The database
# decides, so two concurrent creates cannot both pass a check made in Python. Half-open
# ranges: a slot may start exactly when the previous one ends.
NO_OVERLAP = "ex_slots_coach_no_overlap"
slots.append_constraint(
    ExcludeConstraint(
        (slots.c.coach_id, "="),
        (func.tstzrange(slots.c.start_time, slots.c.end_time), "&&"),
        name=NO_OVERLAP,
        using="gist",
        where=text("deleted_at IS NULL AND released_at IS NULL"),
    )
)

# A coach's slots in time order (their calendar).
Index("ix_slots_coach_id_start_time", slots.c.coach_id, slots.c.start_time)
