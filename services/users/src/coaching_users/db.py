"""The users service's tables (its own database; kit adds its own tables)."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, DateTime, Index, String, Table, Text
from sqlalchemy.dialects.postgresql import UUID

from coaching_kit.db import new_metadata

metadata = new_metadata()

users = Table(
    "users",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("email", String(254), nullable=False),  # as registered: case preserved
    # The contract's normalized_email(email) (coaching_contracts.emails), computed in Python:
    # SQL has no NFKC case folding. What uniqueness is judged on.
    Column("email_normalized", Text, nullable=False),
    Column("first_name", String(100), nullable=False),
    Column("last_name", String(100), nullable=False),
    Column("phone_number", String(32), nullable=True),
    Column("role", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("role IN ('COACH', 'STUDENT')", name="role"),
)

# Email is unique in any Unicode case; the database enforces it, so two concurrent
# registrations of one address cannot both succeed.
EMAIL_UNIQUE = "uq_users_email_normalized"
Index(EMAIL_UNIQUE, users.c.email_normalized, unique=True)
