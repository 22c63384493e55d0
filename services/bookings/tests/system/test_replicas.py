"""Two replicas of the bookings service on one database, in one consumer group: what an
operator gets from scaling it out must stay exactly what one replica would do."""

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from coaching_contracts.commands import CompleteBooking, MarkNoShow

from .driver import COMPLETED, REJECTED, Driver, distinct

NO_SHOW = "coaching.booking.no-show.v1"
STATUS_AFTER = {COMPLETED: "COMPLETED", NO_SHOW: "NO_SHOW"}


@pytest.fixture(scope="module")
async def bookings_database(scratch_database, run_service) -> AsyncIterator[str]:
    database_url = await scratch_database("bookings")
    # Small batches, short pauses: both replicas' auto-completion loops take turns often.
    env = {"BOOKINGS_AUTO_COMPLETE_BATCH": "3", "BOOKINGS_AUTO_COMPLETE_INTERVAL_S": "0.1"}
    replicas = [await run_service("bookings", database_url, **env) for _ in range(2)]
    yield database_url
    for replica in replicas:
        await replica.stop()


async def test_two_replicas_complete_each_ended_session_exactly_once(driver: Driver):
    booked = await asyncio.gather(
        *(
            driver.booked(timedelta(seconds=-60), length=timedelta(seconds=62 + n % 3))
            for n in range(20)
        )
    )
    ids = {b.booking_id for b in booked}
    await driver.events.wait_for(
        distinct(lambda s: s.type == COMPLETED and s.key in ids), count=20, timeout=60
    )
    assert [await driver.published(i, COMPLETED) for i in sorted(ids)] == [1] * 20
    assert {await driver.status(i) for i in ids} == {"COMPLETED"}


async def test_complete_and_no_show_at_once_on_one_booking_let_exactly_one_win(driver: Driver):
    booked = await asyncio.gather(*(driver.booked(-timedelta(minutes=5)) for _ in range(10)))
    commands = [
        command
        for b in booked
        for command in (
            CompleteBooking(booking_id=b.booking_id, actor_id=b.student),
            MarkNoShow(booking_id=b.booking_id, actor_id=b.coach, no_show_by="STUDENT"),
        )
    ]
    # Keyed by their own ids, the two commands of a booking land on any partitions, so the
    # two replicas handle them at the same time.
    outcomes = await asyncio.gather(*(driver.send(c) for c in commands))
    for n, b in enumerate(booked):
        results = [
            o.json()["code"] if o.type == REJECTED else o.type for o in outcomes[2 * n : 2 * n + 2]
        ]
        assert results.count("conflict") == 1, results
        (winner,) = [r for r in results if r != "conflict"]
        assert await driver.status(b.booking_id) == STATUS_AFTER[winner]
