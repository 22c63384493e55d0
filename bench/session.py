"""One benchmark run, phase by phase: the baselines (monolith, raw Kafka), then the platform
in its private namespace (set-up, warm-up, idle, unloaded, saturation, open loop, scaling),
then the HTTP gateway in front of it, then the invariant checker; the namespace is removed
whatever happens.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench import headline, kafka_raw, monolith
from bench.e2e import Load, Sizes
from bench.gateway import GatewayPhase
from bench.measure import peak
from bench.meta import database_names, describe, postgres_settings, settings_line
from bench.namespace import Namespace
from bench.procs import MB, Meter
from bench.scaling import label, scale_plan
from coaching_kit.settings import DEFAULT_KAFKA, DEFAULT_SERVER_URL, postgres_address

_STARTED = time.monotonic()


@dataclasses.dataclass(frozen=True)
class Options:
    sizes: Sizes
    monolith_s: float
    connections: int
    kafka_records: int
    replicas: str
    settle_s: float
    results_dir: Path
    gateway_rounds: int = 200  # bookings each way through the gateway and over Kafka; 0: none
    kafka: str = dataclasses.field(
        default_factory=lambda: os.environ.get("KAFKA_BOOTSTRAP_SERVERS", DEFAULT_KAFKA)
    )
    server_url: str = dataclasses.field(
        default_factory=lambda: os.environ.get("DATABASE_URL", DEFAULT_SERVER_URL)
    )


def say(message: str) -> None:
    """Progress on stderr: a full run takes minutes."""
    print(f"[{time.monotonic() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def _meter(options: Options) -> Meter:
    """The shared servers are tracked when they run on this machine."""
    meter = Meter()
    meter.track("harness", os.getpid())
    kafka = urlsplit(f"//{options.kafka.split(',')[0]}")
    servers = (
        ("kafka", (kafka.hostname, kafka.port), False),
        ("postgres", postgres_address(options.server_url), True),
    )
    for name, (host, port), family in servers:
        if host in ("127.0.0.1", "localhost") and port:
            meter.track_listener(name, port, family)
    return meter


def track_services(meter: Meter, ns: Namespace) -> None:
    for service, processes in ns.replicas.items():
        for n, process in enumerate(processes):
            name = service if n == 0 else f"{service}#{n + 1}"
            if name not in meter.tracked and process.proc is not None:
                meter.track(name, process.proc.pid)


async def baselines(options: Options, meter: Meter, ns: Namespace) -> dict[str, Any]:
    say(f"monolith: {options.connections} connections for {options.monolith_s:.0f} s")
    mark = meter.begin()
    mono = await monolith.measure(
        options.server_url,
        connections=options.connections,
        seconds=options.monolith_s,
        contention=options.sizes.contention,
    )
    mono["usage"] = meter.end(mark)
    say(f"kafka: {options.kafka_records:,} records out and back")
    mark = meter.begin()
    kafka = await kafka_raw.measure(options.kafka, ns.prefix, options.kafka_records)
    kafka["usage"] = meter.end(mark)
    return {"monolith": mono, "kafka": kafka}


async def end_to_end(options: Options, load: Load) -> dict[str, Any]:
    sizes = options.sizes
    say(f"set-up: {sizes.coaches} coaches, {sizes.students} students")
    setup_s = await load.set_up()
    say(f"warm-up: {sizes.warmup:,} requests")
    phases = [await load.phase("warm-up", sizes.warmup)]
    say(f"idle: {sizes.idle_s:.0f} s with no traffic")
    idle = await load.idle(sizes.idle_s)
    say(f"unloaded: {sizes.unloaded:,} bookings one at a time")
    phases.append(await load.unloaded(sizes.unloaded))
    burst = sizes.burst_size(peak(phases[0])[1])
    say(f"saturation: a burst of {burst:,} requests")
    saturation = await load.phase("saturation", burst)
    phases.append(saturation)
    confirmed_per_s, commands_per_s = peak(saturation)
    phases += await open_loop(load, sizes, commands_per_s)
    scaled = await scaled_burst(load, load.meter, options.replicas, saturation, burst)
    return {
        "setup": {"users_s": round(setup_s, 1)},
        "idle": idle,
        "phases": phases + ([scaled[0]] if scaled else []),
        "peak": {"confirmed_per_s": confirmed_per_s, "commands_per_s": round(commands_per_s, 1)},
        "scaling": scaled[1] if scaled else None,
    }


async def open_loop(load: Load, sizes: Sizes, peak_per_s: float) -> list[dict[str, Any]]:
    runs = []
    # The half-peak run feeds two of the closing lines, whatever else is asked for.
    for fraction in sorted({*sizes.fractions, headline.HALF_PEAK}):
        rate = fraction * peak_per_s
        say(f"open loop at {fraction:.0%}: {rate:,.0f} requests/s for {sizes.phase_s:.0f} s")
        count = max(2, round(rate * sizes.phase_s))
        runs.append({**await load.phase(f"{fraction:.0%} load", count, rate), "fraction": fraction})
    return runs


async def scaled_burst(
    load: Load, meter: Meter, spec: str, saturation: dict[str, Any], burst: int
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The saturating burst again with more replicas; the phase, and the comparison."""
    plan = scale_plan(spec, saturation)
    if not plan:
        return None
    say(f"scaling: {label(plan)}, a burst of {burst:,} requests")
    await load.ns.scale_to(plan)
    track_services(meter, load.ns)
    phase = await load.phase(f"saturation, {label(plan)}", burst)
    runs = [("1 replica each", saturation), (label(plan), phase)]
    summary = {
        "plan": plan,
        "runs": [{"label": name, "confirmed_per_s": peak(p)[0]} for name, p in runs],
    }
    return phase, summary


async def through_gateway(load: Load, rounds: int) -> dict[str, Any]:
    """The gateway phase (bench/gateway.py), its process in the usage table like the others."""
    say("gateway: starting one, a coach and a student registered through it")
    gateway = GatewayPhase(load)
    await gateway.start()
    track_services(load.meter, load.ns)
    say(f"gateway: {rounds:,} bookings through it and {rounds:,} over Kafka, alternating")
    return await gateway.measure(rounds)


async def bench(options: Options, stamp: str) -> dict[str, Any]:
    started = time.monotonic()
    meter = _meter(options)
    await meter.start()
    ns = Namespace(options.kafka, options.server_url, options.results_dir / "logs" / stamp)
    try:
        await ns.create()
        results: dict[str, Any] = {"meta": describe(options, ns, stamp, meter.pids())}
        results |= await baselines(options, meter, ns)
        results["meta"]["postgres"] = await _both_sides(results["monolith"], ns)
        say(f"postgres: {settings_line(results['meta']['postgres'])}")
        say("platform: starting the four services")
        await ns.start_all()
        track_services(meter, ns)
        async with Load(ns, meter, options.sizes) as load:
            results |= await end_to_end(options, load)
            if options.gateway_rounds:
                results["gateway"] = await through_gateway(load, options.gateway_rounds)
        results["meta"]["databases"] = database_names(ns)
        say(f"invariant checker (settling for up to {options.settle_s:.0f} s)")
        ok, text = await ns.check(options.settle_s)
        results["check"] = {"ok": ok, "report": text}
    finally:
        await ns.remove()
        await meter.stop()
    return _summarised(results, meter, started)


async def _both_sides(mono: dict[str, Any], ns: Namespace) -> dict[str, dict[str, str]]:
    """The PostgreSQL settings the monolith's connection saw, and a platform database's: one
    server, but a database or role could override them, and the comparison is only fair
    when they agree (the header says whether they do)."""
    return {
        "monolith": mono.pop("postgres"),
        "platform": await postgres_settings(ns.databases["bookings"]),
    }


def _summarised(results: dict[str, Any], meter: Meter, started: float) -> dict[str, Any]:
    results["peak_memory_mb"] = {n: round(b / MB, 1) for n, b in meter.overall_peaks.items()}
    e2e, mono = results["peak"]["confirmed_per_s"], results["monolith"]["bookings_per_s"]
    results["ratio"] = round(e2e / mono, 2)
    results["headline"] = headline.figures(results)
    results["meta"]["seconds"] = round(time.monotonic() - started, 1)
    results["meta"]["host"]["load_average_after"] = os.getloadavg()
    return results
