"""How long one booking takes with nothing else going on: the `unloaded` phase of
`make bench` on its own. A private platform (its own topics, databases and four service
processes), a short warm-up, then N bookings one at a time, each for a free slot so that all
confirm; latency = command published -> `booking.confirmed` consumed by the harness.

    .venv/bin/python -m bench.booking_latency [--bookings 200]

Needs Kafka and PostgreSQL (`deploy/local/stack.py up`; KAFKA_BOOTSTRAP_SERVERS and
DATABASE_URL name others). Everything it creates is removed at its end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import time
from typing import Any

from bench.e2e import Load, Sizes
from bench.meta import ROOT
from bench.namespace import Namespace
from bench.procs import Meter
from coaching_kit.settings import DEFAULT_KAFKA, DEFAULT_SERVER_URL

SIZES = Sizes(coaches=5, students=20, warmup=20, timeout_s=120.0)


async def measure(bookings: int) -> dict[str, Any]:
    """The unloaded phase's figures (latencies, rates, CPU per process)."""
    ns = Namespace(
        os.environ.get("KAFKA_BOOTSTRAP_SERVERS", DEFAULT_KAFKA),
        os.environ.get("DATABASE_URL", DEFAULT_SERVER_URL),
        ROOT / "bench" / "results" / "logs" / f"booking-latency-{time.strftime('%Y%m%d-%H%M%S')}",
    )
    meter = Meter()
    try:
        await ns.create()
        await ns.start_all()
        for service, processes in ns.replicas.items():
            if processes[0].proc is not None:
                meter.track(service, processes[0].proc.pid)
        async with Load(ns, meter, SIZES) as load:
            await load.set_up()
            await load.phase("warm-up", SIZES.warmup)
            return await load.unloaded(bookings)
    finally:
        await ns.remove()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=200)
    parser.add_argument("--json", action="store_true", help="every figure of the phase")
    args = parser.parse_args()
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    figures = asyncio.run(measure(args.bookings))
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    consumed, produced = figures["latency_ms"], figures["latency_kafka_ms"]
    print(f"bookings {figures['commands']}, confirmed {figures['confirmed']}, one at a time")
    for what, q in (("consumed", consumed), ("produced (CreateTime)", produced)):
        print(
            f"published -> booking.confirmed {what}: p50 {q['p50']} ms, p95 {q['p95']} ms,"
            f" p99 {q['p99']} ms, max {q['max']} ms"
        )


if __name__ == "__main__":
    main()
