"""The promise, checked after any run: every command has exactly one outcome, nothing
acknowledged is lost or applied twice, no slot is double-booked, bad input is dead-lettered
(only bad input), and the stats equal a recomputation from the source of truth.

`check` reads the topics (history.py) and each service's own tables (tables.py) once;
`settle` re-checks until the system, eventually consistent, agrees or a deadline passes.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from coaching_chaos import tables
from coaching_chaos.history import DEAD_LETTER, EXPECT_HEADER, History, read_history
from coaching_chaos.report import Report
from coaching_contracts.registry import outcomes_of
from coaching_contracts.topics import SERVICES, events_topic_for
from coaching_kit.relay import asyncpg_dsn
from coaching_kit.settings import DEFAULT_KAFKA, service_database_url

__all__ = ["SERVICES", "Report", "World", "check", "settle"]


@dataclass
class World:
    """Where a run happened: the Kafka namespace and each service's database (any of
    users, slots, bookings, stats; invariants needing a missing one are skipped)."""

    bootstrap: str
    topic_prefix: str = ""
    database_urls: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> World:
        return cls(
            bootstrap=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", DEFAULT_KAFKA),
            topic_prefix=os.environ.get("COACHING_TOPIC_PREFIX", ""),
            database_urls={
                svc: os.environ.get(f"{svc.upper()}_DATABASE_URL") or service_database_url(svc)
                for svc in SERVICES
            },
        )


async def check(
    world: World, *, pending_deadline_s: float = 30.0, expect_dead_letters: bool = False
) -> Report:
    report = Report()
    async with _connections(world) as dbs:
        await _check_tables(report, dbs, pending_deadline_s)
    history = await read_history(world.bootstrap, world.topic_prefix)
    _check_commands(report, history)
    _check_dead_letters(report, history, expect_dead_letters)
    report.add("double_booked", tables.double_reservations(history.reservations))
    return report


async def settle(world: World, timeout_s: float = 60.0, **kw: Any) -> Report:
    """Check until ok or `timeout_s` passed; the last report either way."""
    deadline = time.monotonic() + timeout_s
    while True:
        report = await check(world, **kw)
        if report.ok or time.monotonic() >= deadline:
            return report
        await asyncio.sleep(0.5)


@asynccontextmanager
async def _connections(world: World) -> AsyncIterator[dict[str, asyncpg.Connection]]:
    async with AsyncExitStack() as stack:
        dbs = {}
        for service, url in world.database_urls.items():
            conn = await asyncpg.connect(asyncpg_dsn(url))
            stack.push_async_callback(conn.close)
            dbs[service] = conn
        yield dbs


async def _check_tables(
    report: Report, dbs: dict[str, asyncpg.Connection], pending_deadline_s: float
) -> None:
    for service, conn in dbs.items():
        report.add("unpublished", await tables.unpublished(service, conn))
    if bookings := dbs.get("bookings"):
        report.add("double_booked", await tables.double_booked_in_bookings(bookings))
        report.add("stuck", await tables.stuck(bookings, pending_deadline_s))
    if "slots" in dbs and bookings:
        report.add("orphaned", await tables.orphaned(dbs["slots"], bookings))
    if set(SERVICES) <= dbs.keys():
        await _check_stats(report, dbs)
    missing = sorted(set(SERVICES) - dbs.keys())
    if missing:
        report.skipped.append(f"no database for {', '.join(missing)}: table invariants partial")


async def _check_stats(report: Report, dbs: dict[str, asyncpg.Connection]) -> None:
    """Live stats first: the sources read after them are at least as new as the events they
    were folded from, so a difference is either lag (`settle` waits it out) or a real error."""
    live = await tables.live_stats(dbs["stats"])
    expected = await tables.expected_stats(dbs["users"], dbs["slots"], dbs["bookings"])
    report.add("stats_mismatch", tables.stats_differences(live, expected))


def _check_commands(report: Report, history: History) -> None:
    """Each command's distinct final outcomes: those the contract names for its type, on its
    service's events topic, carrying its correlation id."""
    report.commands = len(history.commands)
    for command in history.commands.values():
        finals = outcomes_of(command.type or "")
        by_type = history.events.get((events_topic_for(command.topic), command.correlation_id))
        ids = set().union(*(by_type.get(t, set()) for t in finals)) if by_type else set()
        report.outcomes += len(ids)
        name = f"{command.topic} {command.type} {command.id}"
        if not ids:
            report.add("lost", [f"{name}: no outcome"])
        elif len(ids) > 1:
            report.add("duplicated", [f"{name}: {len(ids)} outcomes {sorted(ids)}"])


def _check_dead_letters(report: Report, history: History, expected: bool) -> None:
    """With an expectation, the dead letters are exactly the marked messages."""
    report.dead_letters = len(history.dead_letters)
    if not expected:
        return
    mark = f"{EXPECT_HEADER}: {DEAD_LETTER.decode()}"
    unmarked = [(dlq, origin) for dlq, origin, marked in history.dead_letters if not marked]
    report.add(
        "unexpected_dead_letters",
        [f"{dlq}: dead letter of {origin} without {mark}" for dlq, origin in unmarked],
    )
    landed = {origin for _, origin, _ in history.dead_letters}
    never = sorted(history.marked - landed)
    report.add("missing_dead_letters", [f"{o}: has {mark}, never dead-lettered" for o in never])
