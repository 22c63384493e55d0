"""`make chaos`: sustained mixed load against the whole platform while faults are injected,
then settle and check every invariant. Prints the report; exits 1 unless every count is 0.

    .venv/bin/python -m coaching_chaos.run [--duration 600] [--rate 15] [--short]

It runs on a private stack (own PostgreSQL and Kafka, own ports and data directory under
`.stack-chaos/`), so its crashes never touch the development stack or other tests.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path

from coaching_chaos.arena import ROOT, Arena
from coaching_chaos.faults import FaultInjector
from coaching_chaos.fleet import Fleet
from coaching_chaos.invariants import Report, World, settle
from coaching_chaos.load import LoadGenerator
from coaching_chaos.tracker import OutcomeTracker
from coaching_contracts.topics import (
    ALL_TOPICS,
    BOOKINGS_EVENTS,
    SERVICES,
    SLOTS_EVENTS,
    USERS_COMMANDS,
    USERS_EVENTS,
    TopicKind,
)
from coaching_kit.bus import Bus
from coaching_kit.settings import service_database_url
from coaching_kit.testing.groups import until_group_settled
from coaching_kit.testing.platform import probe_command

COMMANDS_TOPIC = {spec.owner: spec.name for spec in ALL_TOPICS if spec.kind is TopicKind.COMMANDS}


async def bring_up(arena: Arena, fleet: Fleet) -> None:
    await arena.up()
    await fleet.migrate()
    for service in SERVICES:
        await fleet.start(service)
    await fleet.start("bookings")  # two replicas: one is killed while the other carries on
    for service in SERVICES:
        members = len(fleet.replicas[service])
        await until_group_settled(arena.bootstrap, service, members, timeout=120)


def world(arena: Arena) -> World:
    urls = {s: service_database_url(s, arena.server_url) for s in SERVICES}
    return World(bootstrap=arena.bootstrap, topic_prefix="", database_urls=urls)


async def chaos(duration_s: float, rate: float, full: bool, stack_dir: Path) -> tuple[Report, str]:
    arena = Arena(stack_dir)
    log_dir = stack_dir / "service-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    fleet = Fleet(arena, log_dir)
    started = time.monotonic()
    bus = Bus(arena.bootstrap)
    tracker = OutcomeTracker(arena.bootstrap, [USERS_EVENTS, SLOTS_EVENTS, BOOKINGS_EVENTS])
    load = LoadGenerator(bus, tracker, rate)

    async def probe(service: str) -> bool:
        """A command only `service` answers (stats takes none: users answers for it)."""
        topic = COMMANDS_TOPIC.get(service, USERS_COMMANDS)
        return await load.send(topic, probe_command(topic)) is not None

    faults = FaultInjector(arena, fleet, probe)
    try:
        await bring_up(arena, fleet)
        await bus.start()
        await tracker.start()
        await asyncio.gather(load.run(duration_s), faults.run(duration_s, full))
        await load.drain()
        report = await settle(world(arena), timeout_s=180, expect_dead_letters=True)
    finally:
        # Whatever happened, leave nothing running: the next run starts from nothing.
        await tracker.stop()
        await bus.stop()
        await fleet.stop_all()
        await arena.down()
    summary = _summary(load, faults, time.monotonic() - started)
    return report, summary


def _summary(load: LoadGenerator, faults: FaultInjector, elapsed: float) -> str:
    lines = [f"chaos run: {elapsed:.0f} s"]
    lines.append(f"commands sent: {sum(load.stats.sent.values())} " + str(dict(load.stats.sent)))
    lines.append(
        f"outcomes seen by the client: {sum(load.stats.answered.values())} "
        + str(dict(load.stats.answered))
    )
    lines.append(f"unanswered by the client's deadline: {load.stats.unanswered}")
    lines.append(
        "publishes refused while the broker was down (never acknowledged, so not commands): "
        f"{load.stats.publish_failures}"
    )
    lines.append(f"faults injected: {len(faults.records)}")
    for record in faults.records:
        recovery = (
            f"{record.recovery_s:.1f} s" if record.recovery_s is not None else "NOT RECOVERED"
        )
        lines.append(f"  t={record.at_s:>6.1f} s  {record.name:50} recovered in {recovery}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600.0)
    parser.add_argument("--rate", type=float, default=15.0, help="commands per second")
    parser.add_argument("--short", action="store_true", help="one of each fault, not repeated")
    parser.add_argument("--stack-dir", type=Path, default=ROOT / ".stack-chaos")
    args = parser.parse_args()
    # The client's reconnect chatter during the broker outages would bury the report.
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    asyncio.run(Arena(args.stack_dir).reset())  # every run starts from empty servers
    report, summary = asyncio.run(chaos(args.duration, args.rate, not args.short, args.stack_dir))
    print(summary)
    print(report.render())
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
