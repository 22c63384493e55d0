"""Kafka entry points: each counted event becomes one change to its coach's stats, and the
new snapshot is emitted in the same transaction (so it is published exactly when the change
commits). A run of events (consecutive in a batch) is counted at once: one statement, one
snapshot per coach. Event types not in `projection.CHANGES` count nothing and are skipped by
kit."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncConnection

from coaching_contracts.base import WireModel
from coaching_contracts.topics import BOOKINGS_EVENTS, SLOTS_EVENTS, USERS_EVENTS
from coaching_kit.handlers import EventHandlers, MessageContext, RunAnswer
from coaching_stats import projection, usecases
from coaching_stats.repository import SqlCoachStats

users_event_handlers = EventHandlers(topic=USERS_EVENTS)
slots_event_handlers = EventHandlers(topic=SLOTS_EVENTS)
bookings_event_handlers = EventHandlers(topic=BOOKINGS_EVENTS)
ALL_HANDLERS = [users_event_handlers, slots_event_handlers, bookings_event_handlers]


class SqlUnitOfWork:
    def __init__(self, conn: AsyncConnection) -> None:
        self.coach_stats = SqlCoachStats(conn)


async def on_counted_events(items: list[tuple[MessageContext, WireModel]]) -> list[RunAnswer]:
    """A run of counted events: their changes in one statement, then one snapshot per coach,
    sent as caused by that coach's last event of the run."""
    last_of: dict[uuid.UUID, int] = {}
    changes = []
    for n, (_, event) in enumerate(items):
        change = projection.change_of(event)
        if change is not None:
            changes.append(change)
            last_of[change.coach_id] = n
    answers: list[RunAnswer] = [None] * len(items)
    if changes:
        snapshots = await usecases.count_changes(SqlUnitOfWork(items[0][0].conn), changes)
        for coach, n in last_of.items():
            answers[n] = snapshots[coach]
    return answers


# One list decides what counts, for the live service and the rebuild alike.
for _handlers in ALL_HANDLERS:
    _handlers.on_run(*(m for m in projection.CHANGES if str(m.TOPIC) == _handlers.topic))(
        on_counted_events
    )
