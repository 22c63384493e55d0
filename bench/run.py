"""`make bench`: the monolith baseline, raw Kafka, the platform end to end, and what the HTTP
gateway adds to a booking, in one run on this machine. Prints a header, the tables, and last
six headline lines (`ratio e2e/monolith: X.XX` first; bench/headline.py defines them);
writes bench/results/.

    .venv/bin/python -m bench.run [--quick] [--replicas auto|off|bookings=2] [--burst N]
                                  [--gateway-rounds N] ...

Needs Kafka and PostgreSQL (`make bench` starts the local stack; KAFKA_BOOTSTRAP_SERVERS and
DATABASE_URL name others). Everything else is private to the run and removed at its end.
Exit 1 when the invariant checker fails afterwards, 2 when the run itself could not finish.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sys
import time
from pathlib import Path

from bench import headline, report
from bench.e2e import Sizes
from bench.meta import ROOT
from bench.scaling import parse as parse_replicas
from bench.session import Options, bench, say
from bench.watch import BenchError

QUICK = Sizes(
    coaches=20,
    students=100,
    warmup=100,
    burst_s=5.0,
    burst_min=300,
    burst_max=3_000,
    fractions=(0.5, 1.0),
    phase_s=5.0,
    unloaded=30,
    idle_s=10.0,
    timeout_s=120.0,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--quick", action="store_true", help="small sizes: about 2 minutes")
    add("--replicas", type=parse_replicas, default="auto", help="auto | off | bookings=2,...")
    add("--burst", type=int, help="saturating burst size (default: about 20 s of load)")
    add("--phase-seconds", type=float, help="length of each open-loop run (default 20)")
    add(
        "--fractions",
        help="open-loop loads as fractions of the peak (default 0.25,0.5,0.75,1; 0.5 always runs)",
    )
    add("--unloaded", type=int, help="bookings sent one at a time (default 200)")
    add("--idle-seconds", type=float, help="the services left with no traffic (default 30)")
    add("--warmup", type=int, help="warm-up burst size (default 500)")
    add("--coaches", type=int, help="coaches registered (default 100)")
    add("--students", type=int, help="students registered (default 400)")
    add("--contention", type=float, help="share of requests for a slot asked for (0.07)")
    add("--monolith-seconds", type=float, help="monolith run (default 15)")
    add("--connections", type=int, default=8, help="monolith connections (default 8)")
    add("--kafka-records", type=int, help="raw Kafka records (default 50,000)")
    add(
        "--gateway-rounds",
        type=int,
        help="bookings through the gateway, and as many over Kafka (default 200; 0 skips it)",
    )
    add("--settle", type=float, default=120.0, help="invariant checker's deadline (120)")
    add("--results-dir", type=Path, default=ROOT / "bench" / "results")
    return parser


def options_from(args: argparse.Namespace) -> Options:
    sizes = QUICK if args.quick else Sizes()
    given = {
        "burst": args.burst,
        "phase_s": args.phase_seconds,
        "warmup": args.warmup,
        "coaches": args.coaches,
        "students": args.students,
        "contention": args.contention,
        "fractions": tuple(float(f) for f in args.fractions.split(",")) if args.fractions else None,
        "unloaded": args.unloaded,
        "idle_s": args.idle_seconds,
    }
    sizes = dataclasses.replace(sizes, **{k: v for k, v in given.items() if v is not None})
    rounds = args.gateway_rounds
    if rounds is None:  # unlike the sizes, 0 is a value: it skips the gateway phase
        rounds = 30 if args.quick else 200
    return Options(
        sizes=sizes,
        monolith_s=args.monolith_seconds or (3.0 if args.quick else 15.0),
        connections=args.connections,
        kafka_records=args.kafka_records or (5_000 if args.quick else 50_000),
        gateway_rounds=rounds,
        replicas=args.replicas,
        settle_s=args.settle,
        results_dir=args.results_dir,
    )


def main(argv: list[str] | None = None) -> int:
    options = options_from(_parser().parse_args(argv))
    logging.basicConfig(level=logging.WARNING)
    # Leader elections on fresh topics make the client log retries that change nothing.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    try:
        results = asyncio.run(bench(options, stamp))
    except BenchError as exc:
        say(f"the run could not finish: {exc}")
        return 2
    report.render(results)
    print(results["check"]["report"])
    for path in report.write(results, options.results_dir, stamp):
        print(f"wrote {path}")
    print("\n".join(headline.lines(results["headline"])), flush=True)
    return 0 if results["check"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
