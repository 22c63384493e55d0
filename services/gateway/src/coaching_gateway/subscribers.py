"""Kafka entry points: every event of the four events topics, and the replies to the
gateway's own commands, all through kit's inbox.

In the one transaction kit opens per batch, each event is applied to the read model
(projection.py), ends the command it answers if this gateway sent it (outcomes.py), and
joins the feeds of the people it is about, with their webhook deliveries (feed.py). So a
client told its command succeeded reads the result, and an event is pushed if and only if
it was applied.

A reply is a copy of an outcome event (same `ce_id`, the command's id as `correlation_id`)
on the gateway's reply topic. It is applied to the read model and ends its command, but
joins no feed: the events topic's copy does that, once. Applying a state twice is harmless
(projection.py keeps the newer), and a command ends once (outcomes.py), so whichever copy
comes first answers the client, and the other changes nothing.
"""

from __future__ import annotations

from coaching_contracts.base import WireModel
from coaching_contracts.registry import EVENTS, event_types_for_topic
from coaching_contracts.topics import BOOKINGS_EVENTS, SLOTS_EVENTS, STATS_EVENTS, USERS_EVENTS
from coaching_gateway import feed, outcomes, projection
from coaching_kit.handlers import Answer, EventHandlers, MessageContext


async def _apply_and_record(ctx: MessageContext, event: WireModel, command_id: str) -> None:
    envelope = ctx.request
    apply = projection.APPLY.get(envelope.type)
    if apply is not None:
        await apply(ctx.conn, event)
    await outcomes.record(ctx.conn, command_id, envelope.type, event.to_json())


async def on_event(ctx: MessageContext, event: WireModel) -> Answer:
    await _apply_and_record(ctx, event, ctx.request.correlation_id)
    await feed.append(ctx.conn, ctx.request, event, projection.audience(event))
    return None


async def on_reply(ctx: MessageContext, event: WireModel) -> Answer:
    envelope = ctx.request
    await _apply_and_record(ctx, event, envelope.reply_correlation_id or envelope.correlation_id)
    return None


def handlers(reply_topic: str) -> list[EventHandlers]:
    """The events topics' handlers and the reply topic's (named without the topic prefix)."""
    events = [
        EventHandlers(topic=topic)
        for topic in (USERS_EVENTS, SLOTS_EVENTS, BOOKINGS_EVENTS, STATS_EVENTS)
    ]
    for topic_handlers in events:
        for model in event_types_for_topic(topic_handlers.topic).values():
            topic_handlers.on(model)(on_event)
    replies = EventHandlers(topic=reply_topic)
    for model in EVENTS.values():
        replies.on(model)(on_reply)
    return [*events, replies]
