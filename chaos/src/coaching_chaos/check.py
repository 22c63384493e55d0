"""`python -m coaching_chaos.check`: verify the invariants after a run, print the report,
exit 1 unless every one holds.

Reads the namespace and databases from the environment, as the services do:
KAFKA_BOOTSTRAP_SERVERS, COACHING_TOPIC_PREFIX, `<SVC>_DATABASE_URL` (else the service's
database on DATABASE_URL's server).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from coaching_chaos.invariants import World, check, settle
from coaching_chaos.report import Report


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m coaching_chaos.check", description=__doc__)
    parser.add_argument(
        "--pending-deadline",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="a booking PENDING longer than this is stuck (default 30)",
    )
    parser.add_argument(
        "--expect-dead-letters",
        action="store_true",
        help="dead letters must be exactly the messages published with chaos_expect: dead_letter",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="re-check for up to this long until every invariant holds (default: check once)",
    )
    return parser


async def _run(args: argparse.Namespace) -> Report:
    world = World.from_env()
    options = {
        "pending_deadline_s": args.pending_deadline,
        "expect_dead_letters": args.expect_dead_letters,
    }
    if args.settle > 0:
        return await settle(world, args.settle, **options)
    return await check(world, **options)


def main(argv: list[str] | None = None) -> int:
    report = asyncio.run(_run(_parser().parse_args(argv)))
    print(report.render())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
