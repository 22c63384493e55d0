"""Every message type of contract v1, by `ce_type`: what a subscriber dispatches on.

A subscriber reads `ce_type` from the headers, looks the model up here and parses the Kafka
value with it; a type missing here is not part of the contract (dead-letter it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from coaching_contracts import commands, events, topics
from coaching_contracts.base import WireModel


def _by_type(models: Iterable[type[WireModel]]) -> Mapping[str, type[WireModel]]:
    table: dict[str, type[WireModel]] = {}
    for model in models:
        if model.TYPE in table:
            raise ValueError(f"duplicate ce_type {model.TYPE!r}")
        table[model.TYPE] = model
    return MappingProxyType(table)


COMMANDS: Mapping[str, type[WireModel]] = _by_type(
    [
        commands.RegisterUser,
        commands.CreateSlot,
        commands.DeleteSlot,
        commands.CreateBooking,
        commands.CancelBooking,
        commands.CompleteBooking,
        commands.MarkNoShow,
        commands.SubmitReview,
    ]
)

EVENTS: Mapping[str, type[WireModel]] = _by_type(
    [
        events.UserRegistered,
        events.SlotCreated,
        events.SlotDeleted,
        events.SlotReserved,
        events.SlotReservationRejected,
        events.BookingRequested,
        events.BookingConfirmed,
        events.BookingRejected,
        events.BookingCancelled,
        events.BookingCompleted,
        events.BookingNoShow,
        events.ReviewSubmitted,
        events.CoachStatsUpdated,
        events.CommandRejected,
    ]
)

ALL_MESSAGES: Mapping[str, type[WireModel]] = _by_type([*COMMANDS.values(), *EVENTS.values()])

# Events topics that can carry `CommandRejected`: those of services that take commands.
REJECTION_TOPICS: frozenset[str] = frozenset(
    topics.events_topic_for(model.TOPIC) for model in COMMANDS.values() if model.TOPIC
)


def command_types_for_topic(topic: str) -> Mapping[str, type[WireModel]]:
    """The commands a subscriber of `topic` must understand, by ce_type (empty if none)."""
    return MappingProxyType({t: m for t, m in COMMANDS.items() if topic == m.TOPIC})


def event_types_for_topic(topic: str) -> Mapping[str, type[WireModel]]:
    """The events published on `topic`, by ce_type, `CommandRejected` included where it can
    appear (the events topic of a service that takes commands)."""
    found = {t: m for t, m in EVENTS.items() if topic == m.TOPIC}
    if topic in REJECTION_TOPICS:
        found[events.CommandRejected.TYPE] = events.CommandRejected
    return MappingProxyType(found)


def outcomes_of(command_type: str) -> tuple[str, ...]:
    """The ce_types that end a command of this type: its own `OUTCOMES` in the order the
    contract lists them, then `CommandRejected`, which ends any command, one of a type the
    contract does not know too (answered `invalid`)."""
    model = COMMANDS.get(command_type)
    own = model.OUTCOMES if model is not None else ()
    return (*(outcome.TYPE for outcome in own), events.CommandRejected.TYPE)


# The events that say no, each with a `RejectionCode`: a command rejected, a booking request
# refused, the saga's reservation refused.
REJECTIONS: frozenset[str] = frozenset(
    ce_type for ce_type, model in EVENTS.items() if "code" in model.model_fields
)


def model_for(ce_type: str) -> type[WireModel] | None:
    """The model of a ce_type, or None when the type is not part of the contract."""
    return ALL_MESSAGES.get(ce_type)
