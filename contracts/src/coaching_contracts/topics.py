"""Kafka topics of wire contract v1.

One commands topic and one events topic per owning service keeps every event of one
aggregate in order under its key; each has a `.dlq` twin for messages that can never succeed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# The services owning the topics, in the order of a booking's story: each publishes its
# events topic, and all but stats take commands on their own commands topic.
SERVICES = ("users", "slots", "bookings", "stats")

USERS_COMMANDS = "users.commands"
USERS_EVENTS = "users.events"
SLOTS_COMMANDS = "slots.commands"
SLOTS_EVENTS = "slots.events"
BOOKINGS_COMMANDS = "bookings.commands"
BOOKINGS_EVENTS = "bookings.events"
STATS_EVENTS = "stats.events"

DLQ_SUFFIX = ".dlq"


def dlq(topic: str) -> str:
    """The dead-letter twin of a topic."""
    return topic + DLQ_SUFFIX


class TopicKind(StrEnum):
    COMMANDS = "commands"
    EVENTS = "events"
    SNAPSHOTS = "snapshots"
    DEAD_LETTERS = "dead_letters"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    kind: TopicKind
    owner: str

    @property
    def config(self) -> dict[str, str]:
        """Broker-side topic config that the contract relies on."""
        if self.kind is TopicKind.EVENTS:
            # Event topics are the system's history: the stats projection is rebuilt from
            # them, so they are never deleted by age or size.
            return {"retention.ms": "-1", "retention.bytes": "-1"}
        if self.kind is TopicKind.SNAPSHOTS:
            # Latest snapshot per key is all a new gateway needs to catch up.
            return {"cleanup.policy": "compact"}
        if self.kind is TopicKind.DEAD_LETTERS:
            # Dead letters wait for an operator to inspect and replay them.
            return {"retention.ms": "-1"}
        return {"retention.ms": str(7 * 24 * 3600 * 1000)}


_BASE = (
    TopicSpec(USERS_COMMANDS, TopicKind.COMMANDS, "users"),
    TopicSpec(USERS_EVENTS, TopicKind.EVENTS, "users"),
    TopicSpec(SLOTS_COMMANDS, TopicKind.COMMANDS, "slots"),
    TopicSpec(SLOTS_EVENTS, TopicKind.EVENTS, "slots"),
    TopicSpec(BOOKINGS_COMMANDS, TopicKind.COMMANDS, "bookings"),
    TopicSpec(BOOKINGS_EVENTS, TopicKind.EVENTS, "bookings"),
    TopicSpec(STATS_EVENTS, TopicKind.SNAPSHOTS, "stats"),
)

# Every topic of the contract, each with its dead-letter twin.
ALL_TOPICS: tuple[TopicSpec, ...] = _BASE + tuple(
    TopicSpec(dlq(spec.name), TopicKind.DEAD_LETTERS, spec.owner) for spec in _BASE
)


_OUTCOMES_TOPIC = {
    USERS_COMMANDS: USERS_EVENTS,
    SLOTS_COMMANDS: SLOTS_EVENTS,
    BOOKINGS_COMMANDS: BOOKINGS_EVENTS,
}


def events_topic_for(commands_topic: str) -> str:
    """The events topic of the service that owns `commands_topic`.

    Every outcome of a command goes there, `coaching.command.rejected.v1` included.
    Raises KeyError for a topic that is not a commands topic.
    """
    return _OUTCOMES_TOPIC[commands_topic]


# Several partitions so that a service scales by adding replicas to its consumer group.
DEFAULT_PARTITIONS = 6
