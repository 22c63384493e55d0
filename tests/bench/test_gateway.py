"""The gateway phase's figures, without the stack: what it reports as the gateway's share."""

from bench.gateway import summary
from bench.report import gateway


def test_what_the_gateway_adds_is_the_difference_of_the_two_paths_percentiles():
    http_ms = [float(n) for n in range(101, 201)]  # 101 .. 200
    kafka_ms = [float(n) for n in range(1, 101)]  # 1 .. 100, in another order below
    figures = summary(http_ms, list(reversed(kafka_ms)))
    assert (figures["http_ms"]["p50"], figures["http_ms"]["p99"]) == (150, 199)
    assert (figures["kafka_ms"]["p50"], figures["kafka_ms"]["p99"]) == (50, 99)
    assert figures["added_ms"] == {"p50": 100, "p95": 100, "p99": 100}


def test_a_slower_tail_over_kafka_shows_as_a_negative_difference_at_that_percentile():
    figures = summary([20.0] * 98 + [30.0, 30.0], [10.0] * 98 + [80.0, 80.0])
    assert figures["added_ms"] == {"p50": 10.0, "p95": 10.0, "p99": -50.0}


def test_without_rounds_there_is_no_difference_and_no_table():
    figures = summary([], [])
    assert figures["added_ms"] == {"p50": None, "p95": None, "p99": None}
    assert figures["http_ms"]["n"] == figures["kafka_ms"]["n"] == 0
    assert gateway({"phases": []}) is None
