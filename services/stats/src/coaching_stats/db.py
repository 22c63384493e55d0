"""The stats service's table (its own database; kit adds its own tables)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Integer, Table
from sqlalchemy.dialects.postgresql import UUID

from coaching_kit.db import new_metadata

metadata = new_metadata()


def _counter(name: str) -> Column[int]:
    return Column(name, Integer, nullable=False, server_default="0")


coach_stats = Table(
    "coach_stats",
    metadata,
    Column("coach_id", UUID(as_uuid=True), primary_key=True),
    _counter("total_slots"),
    _counter("total_calls"),
    _counter("completed_slots"),
    _counter("cancelled_calls"),
    _counter("no_shows_by_student"),
    _counter("no_shows_by_coach"),
    _counter("review_count"),
    # A sum of scores (1..5 each) outgrows int4 only past 400 million reviews; cheap to rule out.
    Column("rating_sum", BigInteger, nullable=False, server_default="0"),
    Column("last_updated", DateTime(timezone=True), nullable=False),
)
