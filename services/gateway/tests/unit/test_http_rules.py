"""The small rules of the HTTP surface: problem statuses, waits, rate limits, backoff."""

from __future__ import annotations

import pytest

from coaching_contracts.values import RejectionCode
from coaching_gateway.api.deps import wait_seconds
from coaching_gateway.api.limits import RateLimiter
from coaching_gateway.config import GatewaySettings
from coaching_gateway.problems import STATUS_OF_CODE, ProblemError
from coaching_gateway.webhooks.dispatcher import retry_delay


def test_every_rejection_code_of_the_contract_has_a_status():
    assert set(RejectionCode) <= set(STATUS_OF_CODE)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("invalid", 422),
        ("slot_in_past", 422),
        ("policy_violation", 422),
        ("forbidden", 403),
        ("not_found", 404),
        ("unknown_user", 404),
        ("conflict", 409),
        ("slot_unavailable", 409),
        ("too_late", 409),
        ("too_early", 409),
    ],
)
def test_each_rejection_code_has_the_status_the_issue_gives_it(code, status):
    assert ProblemError(code).problem.status == status


def test_a_code_added_to_the_contract_later_reads_as_the_upstreams_failure():
    problem = ProblemError("some_code_added_later").problem
    assert (problem.status, problem.type) == (502, "urn:coaching:problem:some_code_added_later")


@pytest.mark.parametrize(
    ("prefer", "expected"),
    [
        (None, 10.0),
        ("wait=3", 3.0),
        ("respond-async", 0.0),
        ("wait=100", 10.0),
        ("handling=lenient", 10.0),
    ],
)
def test_prefer_shortens_the_wait_but_never_lengthens_it(prefer, expected):
    assert wait_seconds(prefer, 10.0) == expected


def test_a_caller_gets_its_burst_then_waits_for_its_rate():
    limiter = RateLimiter(per_s=1.0, burst=3)
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") > 0
    assert limiter.take("b") == 0.0  # another caller has its own bucket


def test_the_default_webhook_retries_span_about_a_day():
    s = GatewaySettings()
    retries = range(1, s.webhook_max_attempts)  # the delays after each failed attempt
    ceilings = [
        min(s.webhook_backoff_max_s, s.webhook_backoff_initial_s * 2 ** (n - 1)) for n in retries
    ]
    shortest, longest = sum(ceilings) / 2, sum(ceilings)  # jitter: the upper half of each
    assert shortest > 12 * 3600
    assert longest < 36 * 3600
    assert (
        shortest
        <= sum(
            retry_delay(n, s.webhook_backoff_initial_s, s.webhook_backoff_max_s) for n in retries
        )
        <= longest
    )


def test_commands_wait_five_seconds_for_their_outcome_by_default():
    assert GatewaySettings().wait_s == 5.0


def test_retries_back_off_exponentially_with_jitter_up_to_the_cap():
    delays = [retry_delay(n, 1.0, 60.0) for n in range(1, 10)]
    assert 0.5 <= delays[0] <= 1.0
    assert 4.0 <= delays[3] <= 8.0
    assert all(30.0 <= d <= 60.0 for d in delays[6:])
    assert len({retry_delay(5, 1.0, 60.0) for _ in range(20)}) > 1  # jittered
