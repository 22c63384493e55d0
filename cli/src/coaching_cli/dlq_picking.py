"""Which dead letters a `dlq` command means: its filters (checked before anything is read),
a position as `dlq list` shows it, and the contents of the `.dlq` topics they are read from;
and what a replay says and asks about them.
"""

from __future__ import annotations

import sys
from collections import Counter

import typer

from coaching_cli.config import Config
from coaching_cli.dead_letters import Contents, Letter, Selection, read_contents
from coaching_cli.dlq_view import count
from coaching_cli.kafka import Record, read_all
from coaching_cli.render import out
from coaching_cli.running import INVALID, fail, run
from coaching_contracts.topics import ALL_TOPICS, SERVICES, TopicKind, dlq


def base_topics() -> list[str]:
    return [spec.name for spec in ALL_TOPICS if spec.kind is not TopicKind.DEAD_LETTERS]


def split(values: list[str] | None) -> frozenset[str]:
    return frozenset(p.strip() for value in values or [] for p in value.split(",") if p.strip())


def selection_of(
    consumers: list[str] | None,
    reasons: list[str] | None,
    any_reason: bool,
    default: frozenset[str] | None,
) -> Selection:
    """The filters given, checked before anything is read. Reasons are not checked against a
    list: services add new ones, and an old coachctl must still be able to pick them."""
    names = split(consumers)
    if unknown := sorted(names - set(SERVICES)):
        fail(f"--consumer: no service {', '.join(unknown)} (one of {', '.join(SERVICES)})", INVALID)
    chosen = split(reasons)
    if chosen and any_reason:
        fail("give --reason or --any-reason, not both", INVALID)
    if any_reason:
        return Selection(names, None)
    return Selection(names, chosen or default)


def interactive() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def choose(contents: Contents, offset: str | None, selection: Selection) -> list[Letter]:
    """--all: what the filters select. --offset: that dead letter, which must pass them too,
    so that replaying a record that cannot succeed as it is always takes a --reason."""
    if offset is None:
        return [letter for letter in contents.letters if selection.admits(letter)]
    letter = select(contents, offset)
    if not selection.admits(letter):
        fail(
            f"{letter.at} is {letter.reason} by {letter.consumer}, not {selection.describe()}:"
            f" give --reason {letter.reason} (or --any-reason) to replay it",
            INVALID,
        )
    return [letter]


def notes(replayed: list[Letter], same: list[Letter], excluded: int, all_: bool) -> str:
    lines = []
    if replayed:
        lines.append(f"{count(len(replayed))} already replayed, skipped")
    if same:
        lines.append(f"{count(len(same))} of the same original records, replayed once")
    if all_ and excluded:
        lines.append(f"{count(excluded)} left out by the filters")
    return "".join(f"\n  {line}" for line in lines)


def confirm(letters: list[Letter], target: str) -> None:
    kinds = Counter((letter.reason, letter.consumer) for letter in letters)
    for (reason, consumer), n in sorted(kinds.items(), key=str):
        out.print(f"  {count(n)}: {reason} by {consumer}", highlight=False)
    typer.confirm(f"Replay {count(len(letters))} to {target}?", abort=True)


def contents_of(config: Config, topics: list[str]) -> Contents:
    return read_contents(run(read_all(config, [config.topic(dlq(t)) for t in topics])))


def select(contents: Contents, at: str) -> Letter:
    partition, _, offset = at.rpartition("@")
    if not offset.isdigit() or not (partition.isdigit() or partition == ""):
        fail(f"not a position: {at!r}; use partition@offset as `dlq list` shows", INVALID)

    def here(record: Record) -> bool:
        return bool(record.offset == int(offset) and partition in ("", str(record.partition)))

    matches = [letter for letter in contents.letters if here(letter.record)]
    if len(matches) != 1:
        found = "no dead letter" if not matches else "several dead letters (name the partition)"
        marker = " (a replay marker is there)" if any(map(here, contents.markers)) else ""
        fail(f"{found} at {at}{marker}")
    return matches[0]
