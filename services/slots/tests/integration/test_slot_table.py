"""The repository over the migrated database: the rules PostgreSQL itself enforces, shown
with real concurrent transactions (the second one blocks on the first, then loses)."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from coaching_kit.db import create_engine
from coaching_kit.testing.databases import freeze_statistics, sequential_scans
from coaching_slots import domain
from coaching_slots.repository import SqlSlotRepository

pytestmark = pytest.mark.stack

NOW = datetime.now(UTC).replace(microsecond=0)
HOUR = timedelta(hours=1)


@pytest.fixture(scope="module")
async def engine(scratch_database) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(await scratch_database("slots"))
    yield engine
    await engine.dispose()


def _slot(coach: uuid.UUID, start: datetime, length: timedelta = HOUR) -> domain.Slot:
    return domain.new_slot(
        slot_id=uuid.uuid4(),
        coach_id=coach,
        start_time=start,
        end_time=start + length,
        now=NOW,
        policies=domain.Policies(),
    )


async def _add(engine: AsyncEngine, slot: domain.Slot) -> None:
    async with engine.begin() as conn:
        await SqlSlotRepository(conn).add(slot)


async def _get(engine: AsyncEngine, slot_id: uuid.UUID) -> domain.Slot | None:
    async with engine.connect() as conn:
        return await SqlSlotRepository(conn).get(slot_id)


async def _until_a_session_waits_for_a_lock(engine: AsyncEngine) -> None:
    """Proof that the second transaction really runs into the first, not after it."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 10
    while True:
        async with engine.connect() as conn:
            if (await conn.execute(query)).scalar_one():
                return
        assert time.monotonic() < deadline, "the second transaction never waited"
        await asyncio.sleep(0.02)


async def _race(engine: AsyncEngine, first, second):
    """Run `first` in an open transaction, start `second` in another, wait until it blocks
    on the first, commit the first; returns what `second` returned or raised."""
    async with engine.begin() as conn:
        await first(SqlSlotRepository(conn))

        async def run_second():
            async with engine.begin() as other:
                return await second(SqlSlotRepository(other))

        racing = asyncio.create_task(run_second())
        await _until_a_session_waits_for_a_lock(engine)
    return (await asyncio.gather(racing, return_exceptions=True))[0]


async def test_of_two_concurrent_overlapping_slots_the_database_keeps_only_the_first(engine):
    coach = uuid.uuid4()
    first, second = _slot(coach, NOW + HOUR), _slot(coach, NOW + HOUR + timedelta(minutes=30))
    outcome = await _race(engine, lambda r: r.add(first), lambda r: r.add(second))
    assert isinstance(outcome, domain.SlotOverlapError)
    assert outcome.code == "conflict"
    assert await _get(engine, first.id) is not None
    assert await _get(engine, second.id) is None


async def test_a_reused_slot_id_is_a_conflict(engine):
    slot = _slot(uuid.uuid4(), NOW + HOUR)
    await _add(engine, slot)
    with pytest.raises(domain.SlotIdTakenError):
        await _add(engine, replace(slot, coach_id=uuid.uuid4()))


async def test_back_to_back_slots_and_other_coaches_do_not_conflict(engine):
    coach = uuid.uuid4()
    await _add(engine, _slot(coach, NOW + HOUR))
    await _add(engine, _slot(coach, NOW + 2 * HOUR))
    await _add(engine, _slot(coach, NOW + HOUR / 2, HOUR / 2))  # ends as the first starts
    await _add(engine, _slot(uuid.uuid4(), NOW + HOUR))


async def _reserve(slots, slot_id, booking_id, now, bookable_after):
    """One request: a run of one."""
    return (await slots.reserve_first([(slot_id, booking_id)], now, bookable_after)).get(slot_id)


async def test_deleted_and_released_slots_no_longer_hold_their_time(engine):
    coach, later = uuid.uuid4(), NOW + timedelta(minutes=1)
    deleted, booked = _slot(coach, NOW + HOUR), _slot(coach, NOW + 3 * HOUR)
    booking = uuid.uuid4()
    for slot in (deleted, booked):
        await _add(engine, slot)
    async with engine.begin() as conn:
        slots = SqlSlotRepository(conn)
        gone = domain.delete(deleted, slot_id=deleted.id, actor_id=coach, now=later)
        await slots.mark_deleted(gone)
        assert await _reserve(slots, booked.id, booking, later, later)
        assert not await slots.release(booked.id, uuid.uuid4(), later)
        assert await slots.release(booked.id, booking, later)
    await _add(engine, _slot(coach, NOW + HOUR))
    await _add(engine, _slot(coach, NOW + 3 * HOUR))
    released = await _get(engine, booked.id)
    assert released is not None
    assert (released.status, released.booking_id) == (domain.SlotStatus.UNAVAILABLE, booking)


async def test_of_two_concurrent_reservations_only_the_first_holds_the_slot(engine):
    slot, now = _slot(uuid.uuid4(), NOW + HOUR), datetime.now(UTC)
    await _add(engine, slot)
    first, second = uuid.uuid4(), uuid.uuid4()
    outcome = await _race(
        engine,
        lambda r: _reserve(r, slot.id, first, now, now),
        lambda r: _reserve(r, slot.id, second, now, now),
    )
    assert outcome is None
    held = await _get(engine, slot.id)
    assert held is not None
    assert (held.status, held.booking_id) == (domain.SlotStatus.UNAVAILABLE, first)


async def test_the_guarded_reservation_matches_only_a_live_slot_starting_after_the_notice(
    engine,
):
    now = datetime.now(UTC)
    slot = _slot(uuid.uuid4(), NOW + HOUR)
    await _add(engine, slot)
    async with engine.begin() as conn:
        slots = SqlSlotRepository(conn)
        assert await _reserve(slots, uuid.uuid4(), uuid.uuid4(), now, now) is None
        assert await _reserve(slots, slot.id, uuid.uuid4(), now, slot.start_time) is None
        reserved = await _reserve(slots, slot.id, booking := uuid.uuid4(), now, now)
    assert reserved is not None
    assert (reserved.booking_id, reserved.updated_at, reserved.created_at) == (
        booking,
        now,
        slot.created_at,
    )


async def test_in_one_statement_the_first_request_for_each_slot_is_tried(engine):
    now = datetime.now(UTC)
    a, b = _slot(uuid.uuid4(), NOW + HOUR), _slot(uuid.uuid4(), NOW + HOUR)
    for slot in (a, b):
        await _add(engine, slot)
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with engine.begin() as conn:
        asked = [(b.id, third), (a.id, first), (a.id, second), (uuid.uuid4(), second)]
        won = await SqlSlotRepository(conn).reserve_first(asked, now, now)
    assert {slot: held.booking_id for slot, held in won.items()} == {a.id: first, b.id: third}


async def test_reserving_reads_slots_by_key_however_stale_the_statistics(scratch_database):
    """The hot path's reservation never reads the whole table, even on a connection that has
    run it many times while the table was nearly empty and analysed as such (a new service's
    first minutes under load, before autovacuum catches up)."""
    engine = create_engine(await scratch_database("slots"), pool_size=1)
    try:
        few = [_slot(uuid.uuid4(), NOW + 2 * HOUR) for _ in range(5)]
        for slot in few:
            await _add(engine, slot)
        async with engine.begin() as conn:
            await freeze_statistics(conn, "slots")
        for slot in few * 2:  # more runs than PostgreSQL's five before a generic plan
            async with engine.begin() as conn:
                await SqlSlotRepository(conn).reserve_first([(slot.id, uuid.uuid4())], NOW, NOW)
        async with engine.begin() as conn:
            grown = await conn.execute(text(_MANY_SLOTS), {"now": NOW, "count": 20_000})
            free = [row.id for row in grown]
        async with engine.begin() as conn:
            repository = SqlSlotRepository(conn)
            scans_before = await sequential_scans(conn, "slots")
            for start in range(0, 500, 50):
                asked = [(slot_id, uuid.uuid4()) for slot_id in free[start : start + 50]]
                assert len(await repository.reserve_first(asked, NOW, NOW)) == 50
            assert await sequential_scans(conn, "slots") == scans_before
    finally:
        await engine.dispose()


_MANY_SLOTS = """
    INSERT INTO slots (id, coach_id, start_time, end_time, status, created_at, updated_at)
    SELECT gen_random_uuid(), gen_random_uuid(), CAST(:now AS timestamptz) + interval '1 day',
        CAST(:now AS timestamptz) + interval '1 day 1 hour', 'AVAILABLE', :now, :now
    FROM generate_series(1, :count)
    RETURNING id
"""
