"""The ce_type registry: every message type once, named by the rule, on the right topic."""

from __future__ import annotations

import re

import pytest

from coaching_contracts import (
    ALL_MESSAGES,
    COMMANDS,
    EVENTS,
    REJECTIONS,
    BookingRejected,
    CommandRejected,
    CreateBooking,
    CreateSlot,
    DeleteSlot,
    SlotReservationRejected,
    command_types_for_topic,
    event_types_for_topic,
    model_for,
    outcomes_of,
    topics,
)
from coaching_contracts.topics import TopicKind

TYPE_RULE = re.compile(r"^coaching\.[a-z]+(-[a-z]+)*\.[a-z]+(-[a-z]+)*\.v1$")
KIND_OF_TOPIC = {spec.name: spec.kind for spec in topics.ALL_TOPICS}


def test_every_type_is_unique_across_commands_and_events() -> None:
    assert len(ALL_MESSAGES) == len(COMMANDS) + len(EVENTS)
    assert len({model.TYPE for model in ALL_MESSAGES.values()}) == len(ALL_MESSAGES)


@pytest.mark.parametrize("ce_type", sorted(ALL_MESSAGES))
def test_type_follows_coaching_entity_verb_v1(ce_type: str) -> None:
    assert TYPE_RULE.match(ce_type)
    assert ce_type == ALL_MESSAGES[ce_type].TYPE


@pytest.mark.parametrize("model", COMMANDS.values(), ids=list(COMMANDS))
def test_commands_ride_a_commands_topic(model: type) -> None:
    assert KIND_OF_TOPIC[model.TOPIC] is TopicKind.COMMANDS


@pytest.mark.parametrize("model", EVENTS.values(), ids=list(EVENTS))
def test_events_ride_an_events_topic_except_command_rejected(model: type) -> None:
    if model is CommandRejected:
        assert model.TOPIC is None
    else:
        assert KIND_OF_TOPIC[model.TOPIC] in {TopicKind.EVENTS, TopicKind.SNAPSHOTS}


@pytest.mark.parametrize("model", ALL_MESSAGES.values(), ids=list(ALL_MESSAGES))
def test_key_names_a_field_and_events_always_have_one(model: type) -> None:
    assert model.KEY in model.model_fields
    if model.TYPE in EVENTS and model is not CommandRejected:
        assert model.model_fields[model.KEY].is_required()


@pytest.mark.parametrize("model", ALL_MESSAGES.values(), ids=list(ALL_MESSAGES))
def test_every_field_has_a_description_for_asyncapi(model: type) -> None:
    assert not [name for name, field in model.model_fields.items() if not field.description]


def test_command_types_for_topic_are_that_topics_commands_only() -> None:
    slots = command_types_for_topic(topics.SLOTS_COMMANDS)

    assert dict(slots) == {CreateSlot.TYPE: CreateSlot, DeleteSlot.TYPE: DeleteSlot}
    assert command_types_for_topic(topics.SLOTS_EVENTS) == {}


def test_every_command_is_served_by_exactly_one_topic() -> None:
    served = [
        ce_type for spec in topics.ALL_TOPICS for ce_type in command_types_for_topic(spec.name)
    ]

    assert sorted(served) == sorted(COMMANDS)


def test_command_rejected_appears_on_the_events_topic_of_services_taking_commands() -> None:
    for commands_topic in (topics.USERS_COMMANDS, topics.SLOTS_COMMANDS, topics.BOOKINGS_COMMANDS):
        events_topic = topics.events_topic_for(commands_topic)
        assert CommandRejected.TYPE in event_types_for_topic(events_topic)

    assert CommandRejected.TYPE not in event_types_for_topic(topics.STATS_EVENTS)


def test_event_types_for_topic_are_that_topics_events() -> None:
    found = event_types_for_topic(topics.USERS_EVENTS)

    assert sorted(found) == ["coaching.command.rejected.v1", "coaching.user.registered.v1"]


def test_model_for_an_unknown_type_is_none() -> None:
    assert model_for("coaching.slot.create.v1") is CreateSlot
    assert model_for("coaching.slot.create.v2") is None


def test_registry_cannot_be_changed_at_runtime() -> None:
    with pytest.raises(TypeError):
        COMMANDS["coaching.evil.do.v1"] = CreateSlot


@pytest.mark.parametrize("model", COMMANDS.values(), ids=list(COMMANDS))
def test_every_command_declares_outcomes_published_where_its_service_answers(model: type) -> None:
    answered_on = event_types_for_topic(topics.events_topic_for(model.TOPIC))

    assert model.OUTCOMES
    for outcome in model.OUTCOMES:
        assert EVENTS[outcome.TYPE] is outcome
        assert outcome.TYPE in answered_on
        assert outcome is not CommandRejected  # it ends any command: the registry adds it


@pytest.mark.parametrize("ce_type", sorted(COMMANDS))
def test_a_commands_outcomes_are_its_own_then_command_rejected(ce_type: str) -> None:
    found = outcomes_of(ce_type)

    assert found == (*(m.TYPE for m in COMMANDS[ce_type].OUTCOMES), CommandRejected.TYPE)


def test_a_booking_request_ends_confirmed_or_rejected_not_requested() -> None:
    assert outcomes_of(CreateBooking.TYPE) == (
        "coaching.booking.confirmed.v1",
        "coaching.booking.rejected.v1",
        "coaching.command.rejected.v1",
    )


def test_a_command_of_unknown_type_can_only_be_rejected() -> None:
    assert outcomes_of("coaching.slot.move.v1") == (CommandRejected.TYPE,)


def test_events_are_not_commands_and_have_no_outcomes() -> None:
    assert all(not model.OUTCOMES for model in EVENTS.values())


def test_rejections_are_the_events_carrying_a_rejection_code() -> None:
    assert {CommandRejected.TYPE, BookingRejected.TYPE, SlotReservationRejected.TYPE} == REJECTIONS
