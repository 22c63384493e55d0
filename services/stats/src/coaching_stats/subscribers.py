"""Kafka entry points: each counted event becomes one change to its coach's stats, and the
new snapshot is emitted in the same transaction (so it is published exactly when the change
commits). Event types not in `projection.CHANGES` count nothing and are skipped by kit."""

from __future__ import annotations

from coaching_contracts.base import WireModel
from coaching_contracts.topics import BOOKINGS_EVENTS, SLOTS_EVENTS, USERS_EVENTS
from coaching_kit.handlers import MessageContext, MessageHandlers
from coaching_stats import projection, usecases
from coaching_stats.repository import SqlCoachStats

users_events = MessageHandlers(topic=USERS_EVENTS, commands=False)
slots_events = MessageHandlers(topic=SLOTS_EVENTS, commands=False)
bookings_events = MessageHandlers(topic=BOOKINGS_EVENTS, commands=False)
ALL_HANDLERS = [users_events, slots_events, bookings_events]


class SqlUnitOfWork:
    def __init__(self, ctx: MessageContext) -> None:
        self.coach_stats = SqlCoachStats(ctx.conn)


async def on_counted_event(ctx: MessageContext, event: WireModel) -> None:
    """A counted event: its change to the coach's stats, then the new snapshot."""
    change = projection.change_of(event)
    if change is not None:
        ctx.emit(await usecases.count_change(SqlUnitOfWork(ctx), change))


# One list decides what counts, for the live service and the rebuild alike.
_BY_TOPIC = {handlers.topic: handlers for handlers in ALL_HANDLERS}
for _model in projection.CHANGES:
    _BY_TOPIC[str(_model.TOPIC)].on(_model)(on_counted_event)
