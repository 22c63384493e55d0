import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError
from sqlalchemy.exc import IntegrityError, OperationalError

from coaching_kit.retry import Backoff, is_transient


class _SerializationFailure(Exception):
    sqlstate = "40001"


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("SELECT 1", {}, ConnectionRefusedError()),
        ConnectionRefusedError(),
        KafkaConnectionError(),
        asyncpg.CannotConnectNowError("starting up"),
        _SerializationFailure(),
    ],
)
def test_infrastructure_failures_are_transient(error):
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [ValueError("bug"), KeyError("x"), IntegrityError("INSERT", {}, Exception("unique"))],
)
def test_bugs_and_rule_violations_are_not_transient(error):
    assert not is_transient(error)


def test_backoff_grows_to_its_cap_and_resets():
    backoff = Backoff(initial_s=0.1, max_s=1.0)
    delays = [backoff.next_delay() for _ in range(8)]
    assert all(0.05 <= d <= 1.0 for d in delays)
    assert delays[-1] >= 0.5  # at the cap, jitter keeps it within [cap/2, cap]
    backoff.reset()
    assert backoff.next_delay() <= 0.1
