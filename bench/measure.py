"""Turning what was sent and seen into figures: latency percentiles, rates (over a whole
phase, and over its steady window for comparison), and the stats lag.

Clocks: every time is this machine's epoch clock, read by the harness (send, consume) or
stamped by a producer on it (Kafka CreateTime: the harness for commands, each service's
outbox relay for its events), so differences between them are meaningful.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.watch import CONFIRMED, BenchError, Watcher

# A phase's steady window: between its 10% and 90% events, past the start-up and before the
# tail. Reported beside the whole-phase rates, which are the ones used (see _completion).
STEADY = (0.10, 0.90)


def percentiles(values_ms: Iterable[float]) -> dict[str, float | None]:
    """p50/p95/p99/max by the nearest-rank method; None for an empty set."""
    ordered = sorted(values_ms)
    if not ordered:
        return {"p50": None, "p95": None, "p99": None, "max": None, "n": 0}
    rank = {p: ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] for p in (50, 95, 99)}
    return {
        "p50": round(rank[50], 1),
        "p95": round(rank[95], 1),
        "p99": round(rank[99], 1),
        "max": round(ordered[-1], 1),
        "n": len(ordered),
    }


def steady_rate(times_s: Sequence[float]) -> float | None:
    """Events per second between the 10% and 90% events (whole span for a handful)."""
    ordered = sorted(times_s)
    if len(ordered) < 2:
        return None
    last = len(ordered) - 1
    low, high = (round(STEADY[0] * last), round(STEADY[1] * last)) if last >= 19 else (0, last)
    span = ordered[high] - ordered[low]
    return round((high - low) / span, 1) if span > 0 else None


@dataclass(frozen=True)
class Applied:
    """The k-th confirmation of a coach, and the first snapshot counting k calls for them."""

    confirmed_ms: int
    applied_ms: int | None


def applications(
    confirmed: Mapping[str, list[int]], snapshots: Mapping[str, list[tuple[int, int]]]
) -> list[Applied]:
    """Stats lag, defined so that it holds whatever order or batching the stats service
    uses: for each coach, the k-th `booking.confirmed` (by CreateTime) is applied when the
    first snapshot showing totalCalls >= k is published (its CreateTime). That is how stale
    the published count was, never an underestimate of it. `confirmed`: coach -> CreateTimes;
    `snapshots`: coach -> (CreateTime, totalCalls) in offset order."""
    found = []
    for coach, times in confirmed.items():
        published, next_snapshot = snapshots.get(coach, []), 0
        for k, confirmed_ms in enumerate(sorted(times), start=1):
            while next_snapshot < len(published) and published[next_snapshot][1] < k:
                next_snapshot += 1
            applied = published[next_snapshot][0] if next_snapshot < len(published) else None
            found.append(Applied(confirmed_ms, applied))
    return found


def phase_figures(
    commands: Sequence[str],
    sent_at: dict[str, float],
    watcher: Watcher,
    window: tuple[float, float],
) -> dict[str, Any]:
    """Everything one phase measured: its commands and the confirmations made during it."""
    sent = [sent_at[c] for c in commands]
    outcomes = [watcher.outcomes[c].kafka_ms / 1000 for c in commands]
    confirmed = [(sent_at[c], watcher.outcomes[c]) for c in commands if is_confirmed(watcher, c)]
    start_ms, end_ms = window[0] * 1000, window[1] * 1000
    every = applications(watcher.confirmed, watcher.snapshots)
    applied = [a for a in every if start_ms <= a.confirmed_ms <= end_ms]
    applied_s = [a.applied_ms / 1000 for a in applied if a.applied_ms]
    confirmed_s = [o.kafka_ms / 1000 for _, o in confirmed]
    return {
        "commands": len(commands),
        "confirmed": len(confirmed),
        "rejected": len(commands) - len(confirmed),
        "offered_per_s": _rate_over(sent),
        "outcomes_per_s": _completion(min(sent), outcomes),
        "confirmed_per_s": _completion(min(sent), confirmed_s),
        "stats_applied_per_s": _completion(min(sent), applied_s),
        "steady_per_s": {
            "outcomes": steady_rate(outcomes),
            "confirmed": steady_rate(confirmed_s),
            "stats_applied": steady_rate(applied_s),
        },
        "latency_ms": percentiles((o.seen_s - s) * 1000 for s, o in confirmed),
        "latency_kafka_ms": percentiles(o.kafka_ms - s * 1000 for s, o in confirmed),
        "stats_lag_ms": percentiles(a.applied_ms - a.confirmed_ms for a in applied if a.applied_ms),
        "seconds": round(window[1] - window[0], 2),
    }


def _completion(first_sent_s: float, done_s: Sequence[float]) -> float | None:
    """How many got done per second, from the first publish to the last one done. For a
    burst this is the pipeline's throughput: its bottleneck was busy throughout, whatever
    order it took the steps in (which can bunch a burst's outcomes at its end, and make a
    rate over the middle of the outcomes flatter the pipeline)."""
    span = max(done_s) - first_sent_s if done_s else 0
    return round(len(done_s) / span, 1) if span > 0 else None


def is_confirmed(watcher: Watcher, command_id: str) -> bool:
    return watcher.outcomes[command_id].type == CONFIRMED


def peak(figures: dict[str, Any]) -> tuple[float, float]:
    """A burst's sustainable rate, confirmed bookings/s and commands/s: the slower of the
    saga (confirmations) and the stats that must follow it."""
    rates = [r for r in (figures["confirmed_per_s"], figures["stats_applied_per_s"]) if r]
    if not rates or not figures["confirmed"]:
        raise BenchError(f"no confirmed bookings to take a rate of: {figures}")
    confirmed_per_s = min(rates)
    return confirmed_per_s, confirmed_per_s * figures["commands"] / figures["confirmed"]


def _rate_over(times_s: Sequence[float]) -> float | None:
    span = max(times_s) - min(times_s) if times_s else 0
    return round((len(times_s) - 1) / span, 1) if span > 0 else None
