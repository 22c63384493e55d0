"""The harness's own arithmetic, without the stack: what it calls stats lag, the contention
it generates, the rates it reports and the service it scales."""

import random

import pytest

from bench.measure import Applied, applications, percentiles, steady_rate
from bench.scaling import busiest, scale_plan
from bench.workload import contended, fresh_needed, targets


def test_a_confirmation_is_applied_by_the_first_snapshot_counting_it():
    confirmed = {"coach": [1_000, 1_010, 1_020]}
    snapshots = {"coach": [(900, 0), (1_050, 2), (1_070, 2), (1_090, 3)]}
    assert applications(confirmed, snapshots) == [
        Applied(1_000, 1_050),
        Applied(1_010, 1_050),
        Applied(1_020, 1_090),
    ]


def test_stats_lag_holds_whatever_order_the_confirmations_arrived_in():
    """The stats service may apply a later confirmation first: the k-th by time still maps to
    the first snapshot counting k."""
    confirmed = {"coach": [1_020, 1_000]}
    snapshots = {"coach": [(1_030, 1), (1_040, 2)]}
    assert applications(confirmed, snapshots) == [Applied(1_000, 1_030), Applied(1_020, 1_040)]


def test_a_confirmation_not_yet_counted_has_no_application():
    assert applications({"coach": [1_000]}, {}) == [Applied(1_000, None)]


def test_contended_requests_aim_only_at_slots_asked_for_before():
    rng = random.Random(1)
    fresh = list(range(1_000))
    picks = targets(fresh, 1_000, 0.07, rng)
    repeats = [n for n, pick in enumerate(picks) if pick in picks[:n]]
    assert len(repeats) == contended(1_000, 0.07) == 70
    assert sorted(set(picks)) == fresh[: fresh_needed(1_000, 0.07)]


def test_percentiles_use_the_nearest_rank():
    figures = percentiles(float(n) for n in range(1, 101))
    assert (figures["p50"], figures["p95"], figures["p99"], figures["max"]) == (50, 95, 99, 100)
    assert percentiles([])["p99"] is None


def test_the_steady_rate_leaves_out_the_first_and_last_tenth():
    # 100 events: a slow start and end around 81 events one every 10 ms.
    times = [0.0] * 10 + [1 + n / 100 for n in range(81)] + [5.0] * 9
    assert steady_rate(times) == pytest.approx(100, rel=0.02)


def test_auto_scales_the_service_that_used_the_most_cpu_with_its_replicas_summed():
    usage = {
        "bookings": {"cpu_s": 5.0},
        "bookings#2": {"cpu_s": 4.0},
        "stats": {"cpu_s": 8.0},
        "postgres": {"cpu_s": 20.0},
    }
    assert busiest(usage) == "bookings"
    assert scale_plan("auto", {"usage": usage}) == {"bookings": 2}
    assert scale_plan("off", {"usage": usage}) == {}
    assert scale_plan("stats=3,slots=2", {"usage": usage}) == {"stats": 3, "slots": 2}
