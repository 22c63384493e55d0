"""The six lines a run ends with: the figures its issue asks for, each defined once, here.

ratio e2e/monolith            peak confirmed bookings/s / the monolith's bookings/s
cpu ms per booking            CPU of the services, Kafka and PostgreSQL in the saturating
                              burst / bookings it confirmed (the harness left out)
unloaded p50/p99 ms           bookings one at a time: published -> confirmed consumed
half-peak p50/p99 ms          the open-loop run at 50% of the peak, the same latency
stats lag p99 ms at half peak confirmed -> counted in a published snapshot, in that run
idle cpu % per service        each service's CPU with no traffic, % of one core
"""

from __future__ import annotations

from typing import Any

from coaching_contracts.topics import SERVICES

HALF_PEAK = 0.5
_SERVERS = ("kafka", "postgres")
_NOTE_AT = 31  # figures padded so that the notes start in one column (plus the gap)


def platform_cpu_s(usage: dict[str, dict[str, Any]]) -> float:
    """CPU seconds of every service process (replicas included), Kafka and PostgreSQL."""
    return sum(
        float(figures["cpu_s"])
        for name, figures in usage.items()
        if name.split("#")[0] in SERVICES or name in _SERVERS
    )


def figures(results: dict[str, Any]) -> dict[str, Any]:
    """The headline figures, from the results of a whole run."""
    phases = {phase["name"]: phase for phase in results["phases"]}
    saturation, unloaded = phases["saturation"], phases["unloaded"]
    half = next(p for p in results["phases"] if p.get("fraction") == HALF_PEAK)
    usage = saturation["usage"]
    cpu_s = platform_cpu_s(usage)
    return {
        "ratio": results["ratio"],
        "cpu_ms_per_booking": round(1000 * cpu_s / saturation["confirmed"], 2),
        "cpu_counted": sorted(n for n in usage if n != "harness"),
        "unloaded_ms": _p50_p99(unloaded["latency_ms"]),
        "half_peak_ms": _p50_p99(half["latency_ms"]),
        "stats_lag_p99_half_peak_ms": half["stats_lag_ms"]["p99"],
        "idle_s": results["idle"]["seconds"],
        "idle_cpu_pct": {s: results["idle"]["usage"][s]["cpu_pct"] for s in SERVICES},
    }


def _p50_p99(latency: dict[str, Any]) -> dict[str, Any]:
    return {"p50": latency["p50"], "p99": latency["p99"], "n": latency["n"]}


def lines(head: dict[str, Any]) -> list[str]:
    unloaded, half = head["unloaded_ms"], head["half_peak_ms"]
    idle = ", ".join(f"{s} {_n(pct, 1)}" for s, pct in head["idle_cpu_pct"].items())
    return [
        f"ratio e2e/monolith: {_n(head['ratio'], 2)}",
        _noted(
            f"cpu ms per booking: {_n(head['cpu_ms_per_booking'], 2)}",
            "(services + Kafka + PostgreSQL, harness excluded, at saturation)",
        ),
        _noted(
            f"unloaded p50/p99 ms: {_n(unloaded['p50'])} / {_n(unloaded['p99'])}",
            f"({unloaded['n']} bookings one at a time,"
            " command published -> booking.confirmed consumed)",
        ),
        f"half-peak p50/p99 ms: {_n(half['p50'])} / {_n(half['p99'])}",
        f"stats lag p99 ms at half peak: {_n(head['stats_lag_p99_half_peak_ms'])}",
        _noted(f"idle cpu % per service: {idle}", f"({head['idle_s']:g} s, no traffic)"),
    ]


def _noted(figure: str, note: str) -> str:
    return f"{figure:<{_NOTE_AT}}   {note}"


def _n(value: float | None, digits: int = 0) -> str:
    """No thousands separator: the lines are read by scripts as well as people."""
    return "-" if value is None else f"{value:.{digits}f}"
