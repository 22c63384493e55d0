"""The gateway's tables (its own database; kit adds outbox, inbox, relay_lease).

Three groups: the commands it sent and their outcomes; the read model folded from the event
topics (users, slots, bookings, reviews, coach_stats); and what it pushes to people (each
user's feed, read by server-sent events, and webhook endpoints with their deliveries).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from coaching_kit.db import new_metadata

metadata = new_metadata()

_Time = DateTime(timezone=True)

commands = Table(
    "commands",
    metadata,
    # The command's ce_id: derived from the sender and its Idempotency-Key, so a retried
    # request is the same command (sending.py).
    Column("command_id", String(300), primary_key=True),
    # Who may follow it at /v1/commands/{id}: its sender, or the user a registration sent
    # without a token registers.
    Column("principal", UUID(as_uuid=True), nullable=False),
    Column("idempotency_key", String(255), nullable=True),
    # sha256 of method, path and body: the same key with another request is refused.
    Column("fingerprint", String(64), nullable=False),
    Column("type", String(200), nullable=False),
    Column("status", String(16), nullable=False, server_default="pending"),
    # The ce_types that end this command (registry.outcomes_of), fixed when it is sent.
    Column("final_types", ARRAY(Text), nullable=False),
    Column("outcome_type", String(200), nullable=True),
    Column("outcome", JSONB, nullable=True),
    Column("created_at", _Time, nullable=False, server_default=func.now()),
    Column("finished_at", _Time, nullable=True),
    CheckConstraint("status IN ('pending', 'succeeded', 'rejected')", name="status"),
)

users = Table(
    "users",
    metadata,
    Column("user_id", UUID(as_uuid=True), primary_key=True),
    Column("email", String(254), nullable=False),
    Column("first_name", String(100), nullable=False),
    Column("last_name", String(100), nullable=False),
    Column("phone_number", String(32), nullable=True),
    Column("role", String(16), nullable=False),
    Column("created_at", _Time, nullable=False),
    Column("updated_at", _Time, nullable=False),
)

slots = Table(
    "slots",
    metadata,
    Column("slot_id", UUID(as_uuid=True), primary_key=True),
    Column("coach_id", UUID(as_uuid=True), nullable=False),
    Column("start_time", _Time, nullable=False),
    Column("end_time", _Time, nullable=False),
    Column("status", String(16), nullable=False),
    Column("booking_id", UUID(as_uuid=True), nullable=True),
    Column("deleted", Boolean, nullable=False, server_default="false"),
    Column("created_at", _Time, nullable=False),
    Column("updated_at", _Time, nullable=False),
)
# A coach's slots by start time (what students browse), a page at a time.
Index("ix_slots_coach_start", slots.c.coach_id, slots.c.start_time, slots.c.slot_id)

bookings = Table(
    "bookings",
    metadata,
    Column("booking_id", UUID(as_uuid=True), primary_key=True),
    Column("slot_id", UUID(as_uuid=True), nullable=False),
    Column("student_id", UUID(as_uuid=True), nullable=False),
    # Known from booking.confirmed on; a pending or rejected request has no coach yet.
    Column("coach_id", UUID(as_uuid=True), nullable=True),
    Column("start_time", _Time, nullable=True),
    Column("end_time", _Time, nullable=True),
    Column("status", String(16), nullable=False),
    Column("code", String(64), nullable=True),
    Column("message", Text, nullable=True),
    Column("cancelled_by", String(16), nullable=True),
    Column("cancelled_by_id", UUID(as_uuid=True), nullable=True),
    Column("reason", Text, nullable=True),
    Column("completed_at", _Time, nullable=True),
    Column("no_show_by", String(16), nullable=True),
    Column("created_at", _Time, nullable=False),
    Column("updated_at", _Time, nullable=False),
)
Index("ix_bookings_student", bookings.c.student_id, bookings.c.booking_id)
Index("ix_bookings_coach", bookings.c.coach_id, bookings.c.booking_id)

reviews = Table(
    "reviews",
    metadata,
    Column("booking_id", UUID(as_uuid=True), primary_key=True),
    Column("review_id", UUID(as_uuid=True), nullable=False),
    Column("coach_id", UUID(as_uuid=True), nullable=False),
    Column("student_id", UUID(as_uuid=True), nullable=False),
    Column("satisfaction_score", Integer, nullable=False),
    Column("notes", Text, nullable=True),
    Column("created_at", _Time, nullable=False),
    Column("updated_at", _Time, nullable=False),
)

coach_stats = Table(
    "coach_stats",
    metadata,
    Column("coach_id", UUID(as_uuid=True), primary_key=True),
    Column("snapshot", JSONB, nullable=False),  # the coach-stats.updated event's JSON
    Column("last_updated", _Time, nullable=False),
)

# Each user's feed: the events about them, numbered 1, 2, 3... per user. The number is taken
# from feed_heads with a row lock held until commit, so a user's entries commit in number
# order and a reader resuming after N can never miss an entry that commits later.
feed_heads = Table(
    "feed_heads",
    metadata,
    Column("user_id", UUID(as_uuid=True), primary_key=True),
    Column("seq", BigInteger, nullable=False),
)

feed = Table(
    "feed",
    metadata,
    Column("user_id", UUID(as_uuid=True), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("event_id", String(300), nullable=False),  # the event's ce_id
    Column("type", String(200), nullable=False),
    Column("body", LargeBinary, nullable=False),  # the JSON sent to SSE and webhooks
    Column("created_at", _Time, nullable=False, server_default=func.now()),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("webhook_id", UUID(as_uuid=True), primary_key=True),
    Column("owner", UUID(as_uuid=True), nullable=False),
    Column("url", Text, nullable=False),
    Column("secret", Text, nullable=False),  # whsec_<base64>: needed to sign each delivery
    Column("event_types", ARRAY(Text), nullable=False, server_default="{}"),  # {}: all
    Column("enabled", Boolean, nullable=False, server_default="true"),
    Column("disabled_reason", Text, nullable=True),
    Column("created_at", _Time, nullable=False, server_default=func.now()),
    Column("updated_at", _Time, nullable=False, server_default=func.now()),
)
Index("ix_webhooks_owner", webhooks.c.owner)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("delivery_id", BigInteger, Identity(always=True), primary_key=True),
    Column(
        "webhook_id",
        UUID(as_uuid=True),
        ForeignKey("webhooks.webhook_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("message_id", String(300), nullable=False),  # webhook-id: the event's ce_id
    # Deliveries of one key (a booking) go out one at a time, in id order.
    Column("ordering_key", String(300), nullable=False),
    Column("event_type", String(200), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", _Time, nullable=False, server_default=func.now()),
    Column("lease_until", _Time, nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", _Time, nullable=False, server_default=func.now()),
    Column("finished_at", _Time, nullable=True),
    CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
)
# The dispatcher's scan, and the per-key order check; both only over what is pending.
Index(
    "ix_webhook_deliveries_due",
    webhook_deliveries.c.next_attempt_at,
    postgresql_where=text("status = 'pending'"),
)
Index(
    "ix_webhook_deliveries_key",
    webhook_deliveries.c.webhook_id,
    webhook_deliveries.c.ordering_key,
    webhook_deliveries.c.delivery_id,
    postgresql_where=text("status = 'pending'"),
)
Index(
    "ix_webhook_deliveries_webhook",
    webhook_deliveries.c.webhook_id,
    webhook_deliveries.c.delivery_id,
)
