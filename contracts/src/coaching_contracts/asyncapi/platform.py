"""The platform's side of the AsyncAPI document: channels (one per topic) and, for every
service, what it receives and what it sends.

Which event types each service handles is the one thing here the contract cannot see from
its own models; `CONSUMES` states it, and tests/system/test_published_contract.py checks it
against the handlers the services really register.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from coaching_contracts import events as ev
from coaching_contracts import topics
from coaching_contracts.asyncapi.messages import DEAD_LETTER, KAFKA_BINDING_VERSION, message_ref
from coaching_contracts.registry import (
    COMMANDS,
    command_types_for_topic,
    event_types_for_topic,
    outcomes_of,
)
from coaching_contracts.topics import TopicKind, TopicSpec

REPLIES = "replies"
_PREFIX_NOTE = (
    " With `COACHING_TOPIC_PREFIX` set (one deployment sharing a cluster), every topic name "
    "starts with that prefix."
)


def _commands_of(topic: str) -> tuple[str, ...]:
    return tuple(command_types_for_topic(topic))


# Service -> consumed topic -> the message types it handles there; on an events topic it
# skips the rest (tolerant reader), on its commands topic it takes every command.
CONSUMES: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "users": {topics.USERS_COMMANDS: _commands_of(topics.USERS_COMMANDS)},
    "slots": {
        topics.SLOTS_COMMANDS: _commands_of(topics.SLOTS_COMMANDS),
        topics.USERS_EVENTS: (ev.UserRegistered.TYPE,),
        topics.BOOKINGS_EVENTS: (ev.BookingRequested.TYPE, ev.BookingCancelled.TYPE),
    },
    "bookings": {
        topics.BOOKINGS_COMMANDS: _commands_of(topics.BOOKINGS_COMMANDS),
        topics.USERS_EVENTS: (ev.UserRegistered.TYPE,),
        topics.SLOTS_EVENTS: (ev.SlotReserved.TYPE, ev.SlotReservationRejected.TYPE),
    },
    "stats": {
        topics.USERS_EVENTS: (ev.UserRegistered.TYPE,),
        topics.SLOTS_EVENTS: (ev.SlotCreated.TYPE, ev.SlotDeleted.TYPE),
        topics.BOOKINGS_EVENTS: (
            ev.BookingConfirmed.TYPE,
            ev.BookingCancelled.TYPE,
            ev.BookingCompleted.TYPE,
            ev.BookingNoShow.TYPE,
            ev.ReviewSubmitted.TYPE,
        ),
    },
}


def message_types(spec: TopicSpec) -> list[str]:
    """What travels on a topic, by message id."""
    if spec.kind is TopicKind.DEAD_LETTERS:
        return [DEAD_LETTER]
    if spec.kind is TopicKind.COMMANDS:
        return sorted(command_types_for_topic(spec.name))
    return sorted(event_types_for_topic(spec.name))


def channels() -> dict[str, Any]:
    """One channel per topic, its id and address the topic name, and the replies channel."""
    found = {spec.name: _channel(spec) for spec in topics.ALL_TOPICS}
    replies = sorted({outcome for command in COMMANDS for outcome in outcomes_of(command)})
    found[REPLIES] = {
        "address": None,
        "title": "replies",
        "description": (
            "The topic a command named in its `reply_to` header: its final outcome is "
            "published there too, with the command's `correlation_id` header (or its ce_id)."
        ),
        "messages": {name: message_ref(name) for name in replies},
    }
    return found


def _channel(spec: TopicSpec) -> dict[str, Any]:
    return {
        "address": spec.name,
        "title": spec.name,
        "description": _describe(spec) + _PREFIX_NOTE,
        "messages": {name: message_ref(name) for name in message_types(spec)},
        "bindings": {
            "kafka": {
                "partitions": topics.DEFAULT_PARTITIONS,
                "topicConfiguration": _topic_configuration(spec.config),
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _describe(spec: TopicSpec) -> str:
    if spec.kind is TopicKind.COMMANDS:
        outcomes = topics.events_topic_for(spec.name)
        return (
            f"Commands to the {spec.owner} service. Each gets exactly one outcome on "
            f"`{outcomes}`, whose `ce_correlationid` is the command's ce_id."
        )
    if spec.kind is TopicKind.EVENTS:
        return (
            f"Events of the {spec.owner} service, keyed by aggregate id; the full history "
            "(never deleted by age or size)."
        )
    if spec.kind is TopicKind.SNAPSHOTS:
        return (
            "Every coach's latest statistics, keyed by coachId and compacted: read from the "
            "beginning to know every coach's current stats."
        )
    origin = spec.name.removesuffix(topics.DLQ_SUFFIX)
    return (
        f"Dead letters of `{origin}`: records a consumer of it can never handle, written by "
        "that consumer and kept until an operator replays or drops them."
    )


def _topic_configuration(config: Mapping[str, str]) -> dict[str, Any]:
    # The binding types these: integers for sizes and times, a list for the cleanup policy.
    return {
        name: value.split(",") if name == "cleanup.policy" else int(value)
        for name, value in config.items()
    }


def operations() -> dict[str, Any]:
    """For every service: `receive` on what it consumes (with the dead letters it may write
    and, for commands, the replies), `send` on the topics it owns."""
    found: dict[str, Any] = {}
    for service, consumed in CONSUMES.items():
        for topic, handled in consumed.items():
            found[f"{service}.receive.{topic}"] = _receive(service, topic, handled)
            dead = topics.dlq(topic)
            title = f"{service} dead-letters what it can never handle from {topic}"
            found[f"{service}.send.{dead}"] = _send(dead, [DEAD_LETTER], title)
        for spec in topics.ALL_TOPICS:
            if spec.owner == service and spec.kind in (TopicKind.EVENTS, TopicKind.SNAPSHOTS):
                title = f"{service} publishes on {spec.name}"
                found[f"{service}.send.{spec.name}"] = _send(spec.name, message_types(spec), title)
    return found


def _receive(service: str, topic: str, handled: tuple[str, ...]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "action": "receive",
        "title": f"{service} consumes {topic}",
        "channel": {"$ref": f"#/channels/{topic}"},
        "messages": _refs(topic, sorted(handled)),
        "bindings": {
            "kafka": {
                "groupId": {
                    "type": "string",
                    "const": service,
                    "description": "One consumer group per service (prefixed like topics).",
                },
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }
    if command_types_for_topic(topic):
        replies = sorted({outcome for command in handled for outcome in outcomes_of(command)})
        operation["reply"] = {
            "address": {
                "description": "The command's `reply_to` header, when it has one.",
                "location": "$message.header#/reply_to",
            },
            "channel": {"$ref": f"#/channels/{REPLIES}"},
            "messages": _refs(REPLIES, replies),
        }
    return operation


def _send(topic: str, names: list[str], title: str) -> dict[str, Any]:
    return {
        "action": "send",
        "title": title,
        "channel": {"$ref": f"#/channels/{topic}"},
        "messages": _refs(topic, names),
    }


def _refs(channel: str, names: list[str]) -> list[dict[str, str]]:
    return [{"$ref": f"#/channels/{channel}/messages/{name}"} for name in names]
