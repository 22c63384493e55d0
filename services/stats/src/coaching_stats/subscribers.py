"""Kafka entry points: each counted event becomes one change to its coach's stats, and the
new snapshot is emitted in the same transaction (so it is published exactly when the change
commits). A run of events (consecutive in a batch) is counted at once: one statement, one
snapshot per coach. Event types not in `projection.CHANGES` count nothing and are skipped by
kit."""

from __future__ import annotations

import uuid

from coaching_contracts.base import WireModel
from coaching_contracts.topics import BOOKINGS_EVENTS, SLOTS_EVENTS, USERS_EVENTS
from coaching_kit.handlers import Answer, MessageContext, MessageHandlers
from coaching_stats import projection, usecases
from coaching_stats.repository import SqlCoachStats

users_events = MessageHandlers(topic=USERS_EVENTS, commands=False)
slots_events = MessageHandlers(topic=SLOTS_EVENTS, commands=False)
bookings_events = MessageHandlers(topic=BOOKINGS_EVENTS, commands=False)
ALL_HANDLERS = [users_events, slots_events, bookings_events]


class SqlUnitOfWork:
    def __init__(self, ctx: MessageContext) -> None:
        self.coach_stats = SqlCoachStats(ctx.conn)


async def on_counted_events(items: list[tuple[MessageContext, WireModel]]) -> list[Answer]:
    """A run of counted events: their changes in one statement, then one snapshot per coach,
    sent as caused by that coach's last event of the run."""
    last_of: dict[uuid.UUID, MessageContext] = {}
    changes = []
    for ctx, event in items:
        change = projection.change_of(event)
        if change is not None:
            changes.append(change)
            last_of.pop(change.coach_id, None)  # the order of snapshots: of last events
            last_of[change.coach_id] = ctx
    if changes:
        snapshots = await usecases.count_changes(SqlUnitOfWork(items[0][0]), changes)
        for coach, ctx in last_of.items():
            ctx.emit(snapshots[coach])
    return [None] * len(items)


# One list decides what counts, for the live service and the rebuild alike.
for _handlers in ALL_HANDLERS:
    _handlers.on_run(*(m for m in projection.CHANGES if str(m.TOPIC) == _handlers.topic))(
        on_counted_events
    )
