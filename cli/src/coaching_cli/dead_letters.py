"""What a `.dlq` topic holds, read to its end once: dead letters, and the markers that
`coachctl dlq replay` appends after each replay it sent.

A dead letter is the original record plus the dlq_* headers of the consumer that gave up on
it (coaching_kit.dead_letters). A marker is an empty record with a `dlq_replayed` header naming
the dead letter that was replayed; it is bookkeeping, never a dead letter itself.

A dead letter counts as replayed when it has a marker, or when another dead letter of the
same original record (`dlq_origin`) has one: a replay goes to the original topic, so every
consumer of that topic gets it, not only the one that gave up. Several consumers of an event
topic can dead-letter the same record; replaying it once serves them all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from coaching_cli.kafka import Record
from coaching_contracts.asyncapi.headers import DLQ_CONSUMER, DLQ_ORIGIN, DLQ_REASON, DLQ_TIME
from coaching_contracts.asyncapi.headers import DLQ_REPLAYED as REPLAYED

# Only a handler that kept failing can succeed once the bug is fixed; every other reason is
# about the record itself, which a replay sends again unchanged.
DEFAULT_REASONS = frozenset({"handler_error"})


def position(record: Record) -> str:
    """Where a record is, as dlq_origin and dlq_replayed name it: topic/partition@offset."""
    return f"{record.topic}/{record.partition}@{record.offset}"


def header(record: Record, name: str) -> str | None:
    values = [value for key, value in record.headers if key == name]
    return values[-1].decode(errors="replace") if values else None


@dataclass(frozen=True)
class Replay:
    """The marker that made a dead letter count as replayed."""

    at: str  # partition@offset of the dead letter the marker names
    time: str | None  # the marker's dlq_time


@dataclass(frozen=True)
class Letter:
    record: Record
    replay: Replay | None = None

    @property
    def at(self) -> str:
        return f"{self.record.partition}@{self.record.offset}"

    @property
    def reason(self) -> str | None:
        return header(self.record, DLQ_REASON)

    @property
    def consumer(self) -> str | None:
        return header(self.record, DLQ_CONSUMER)

    @property
    def origin(self) -> tuple[str, str]:
        """The original record this dead letter stands for (its own position if unnamed)."""
        return self.record.topic, header(self.record, DLQ_ORIGIN) or position(self.record)


@dataclass(frozen=True)
class Contents:
    letters: list[Letter]
    markers: list[Record]


def read_contents(records: Iterable[Record]) -> Contents:
    records = list(records)
    markers = [record for record in records if header(record, REPLAYED) is not None]
    marked: dict[str | None, Record] = {}
    for marker in markers:
        marked.setdefault(header(marker, REPLAYED), marker)
    letters = [Letter(record) for record in records if header(record, REPLAYED) is None]
    replays: dict[tuple[str, str], Replay] = {}
    for letter in letters:
        if (marker := marked.get(position(letter.record))) is not None:
            replays.setdefault(letter.origin, Replay(letter.at, header(marker, DLQ_TIME)))
    return Contents([Letter(x.record, replays.get(x.origin)) for x in letters], markers)


@dataclass(frozen=True)
class Selection:
    """Which dead letters a command is about. Empty consumers: any; reasons None: any."""

    consumers: frozenset[str] = frozenset()
    reasons: frozenset[str] | None = DEFAULT_REASONS

    def admits(self, letter: Letter) -> bool:
        if self.consumers and letter.consumer not in self.consumers:
            return False
        return self.reasons is None or letter.reason in self.reasons

    def describe(self) -> str:
        reasons = "any reason" if self.reasons is None else ", ".join(sorted(self.reasons))
        by = f" by {', '.join(sorted(self.consumers))}" if self.consumers else ""
        return reasons + by


@dataclass
class Plan:
    """A selection split by what a replay does with each dead letter."""

    send: list[Letter] = field(default_factory=list)  # one per original record
    replayed: list[Letter] = field(default_factory=list)  # it or its original: done before
    same_origin: list[Letter] = field(default_factory=list)  # covered by one in `send`


def plan(letters: Iterable[Letter]) -> Plan:
    result, origins = Plan(), set()
    for letter in letters:
        if letter.replay is not None:
            result.replayed.append(letter)
        elif letter.origin in origins:
            result.same_origin.append(letter)
        else:
            origins.add(letter.origin)
            result.send.append(letter)
    return result
