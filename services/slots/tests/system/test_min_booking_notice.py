"""A deployment that closes booking an hour before the start (its own service and database;
the fixture starts after the previous module's service stopped)."""

import pytest

from .client import REFUSED, RESERVED

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def slots_env() -> dict[str, str]:
    return {"SLOTS_MIN_BOOKING_NOTICE_MINUTES": "60"}


@pytest.fixture(scope="module")
def slots_replicas() -> int:
    return 1  # nothing races here


async def test_inside_the_minimum_notice_a_booking_is_too_late(slots):
    coach = await slots.known_coach()
    soon_slot = await slots.slot(coach, start_in=30 * 60)
    refused = await slots.reserve(soon_slot["slotId"])
    assert (refused.type, refused.json()["code"]) == (REFUSED, "too_late")
    later_slot = await slots.slot(coach, start_in=90 * 60)
    assert (await slots.reserve(later_slot["slotId"])).type == RESERVED
