"""The closing lines, without the stack: what each figure counts, and how it is printed."""

from bench.headline import figures, lines, platform_cpu_s
from bench.meta import durable, settings_line

SERVICE_CPU = {"users": 0.1, "slots": 1.0, "bookings": 2.0, "bookings#2": 0.5, "stats": 1.2}


def _usage(cpu_s: dict[str, float]) -> dict[str, dict[str, float]]:
    return {
        name: {"cpu_s": s, "cpu_pct": round(s * 10, 1), "peak_mb": 100.0}
        for name, s in cpu_s.items()
    }


def _phase(name: str, p50: float, p99: float, **extra: object) -> dict[str, object]:
    latency = {"p50": p50, "p95": p99, "p99": p99, "max": p99, "n": 200}
    return {
        "name": name,
        "latency_ms": latency,
        "stats_lag_ms": {"p50": 40.0, "p99": 81.4},
        **extra,
    }


def _results() -> dict[str, object]:
    saturation = _usage({**SERVICE_CPU, "kafka": 1.5, "postgres": 0.7, "harness": 9.0})
    return {
        "ratio": 0.083,
        "idle": {
            "seconds": 30.0,
            "usage": _usage({"users": 0.12, "slots": 0.3, "bookings": 0.31, "stats": 0.2}),
        },
        "phases": [
            _phase("warm-up", 900, 1_300),
            _phase("unloaded", 37.6, 52.4),
            _phase("saturation", 4_000, 6_000, confirmed=1_000, usage=saturation),
            _phase("25% load", 100, 200, fraction=0.25),
            _phase("50% load", 1_201.4, 2_443.5, fraction=0.5),
        ],
    }


def test_cpu_per_booking_counts_services_replicas_kafka_and_postgres_but_not_the_harness():
    head = figures(_results())
    assert platform_cpu_s(_results()["phases"][2]["usage"]) == sum(SERVICE_CPU.values()) + 2.2
    assert head["cpu_ms_per_booking"] == round(1000 * 7.0 / 1_000, 2)
    assert "harness" not in head["cpu_counted"]


def test_the_six_lines_read_as_the_issue_asks():
    assert lines(figures(_results())) == [
        "ratio e2e/monolith: 0.08",
        "cpu ms per booking: 7.00          "
        "(services + Kafka + PostgreSQL, harness excluded, at saturation)",
        "unloaded p50/p99 ms: 38 / 52      "
        "(200 bookings one at a time, command published -> booking.confirmed consumed)",
        "half-peak p50/p99 ms: 1201 / 2444",
        "stats lag p99 ms at half peak: 81",
        "idle cpu % per service: users 1.2, slots 3.0, bookings 3.1, stats 2.0"
        "   (30 s, no traffic)",
    ]


def test_only_fsync_full_page_writes_and_a_synchronous_commit_are_durable():
    local = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
    assert not durable(local)
    assert durable({"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"})
    assert not durable({"fsync": "on", "synchronous_commit": "off", "full_page_writes": "on"})
    assert "NOT durable, the same for monolith and platform" in settings_line(
        {"monolith": local, "platform": local}
    )
    assert "DIFFERENT" in settings_line({"monolith": local, "platform": {**local, "fsync": "on"}})
