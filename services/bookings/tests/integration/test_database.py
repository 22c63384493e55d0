"""The bookings store over real PostgreSQL: its schema, and the races it must decide."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from coaching_bookings import usecases
from coaching_bookings.db import bookings as bookings_table
from coaching_bookings.db import metadata
from coaching_bookings.domain import bookings, lifecycle
from coaching_bookings.domain.bookings import Booking, BookingStatus, Session
from coaching_bookings.repository import SqlBookingRepository, SqlReviewRepository
from coaching_bookings.subscribers import SqlUnitOfWork
from coaching_contracts.commands import CompleteBooking, MarkNoShow, SubmitReview
from coaching_contracts.events import BookingConfirmed, BookingRejected, SlotReserved
from coaching_kit.db import create_engine
from coaching_kit.jobs import in_transaction
from coaching_kit.rejections import CommandRejectedError
from coaching_kit.testing.databases import freeze_statistics, sequential_scans


@pytest.fixture(scope="module")
async def engine(scratch_database) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(await scratch_database("bookings"))
    yield engine
    await engine.dispose()


async def _in_transaction(engine: AsyncEngine, work: Callable[[SqlUnitOfWork], Awaitable]):
    return await in_transaction(engine, "/tests", "", lambda ctx: work(SqlUnitOfWork(ctx.conn)))


def _pending(slot_id: uuid.UUID | None = None) -> Booking:
    return bookings.request(
        booking_id=uuid.uuid4(),
        slot_id=slot_id or uuid.uuid4(),
        student_id=uuid.uuid4(),
        student_role="STUDENT",
        correlation_id=f"corr-{uuid.uuid4()}",
        now=datetime.now(UTC),
    )


def _reserved(booking: Booking, start: datetime, end: datetime) -> SlotReserved:
    return SlotReserved(
        slot_id=booking.slot_id,
        booking_id=booking.id,
        coach_id=uuid.uuid4(),
        start_time=start,
        end_time=end,
        created_at=start,
        updated_at=start,
    )


async def _active(engine: AsyncEngine, start: datetime, end: datetime) -> Booking:
    booking = _pending()
    now = datetime.now(UTC)
    session = Session(booking.id, booking.slot_id, uuid.uuid4(), start, end)
    confirmed = bookings.confirm(booking, session, slot_holder=None, now=now)
    async with engine.begin() as conn:
        await SqlBookingRepository(conn).add_all([confirmed])
    return confirmed


async def _status(engine: AsyncEngine, booking_id: uuid.UUID) -> BookingStatus:
    async with engine.connect() as conn:
        booking = await SqlBookingRepository(conn).get(booking_id)
    assert booking is not None
    return booking.status


async def test_the_migrated_schema_is_the_one_the_code_declares(engine):
    async with engine.connect() as conn:
        diff = await conn.run_sync(
            lambda c: compare_metadata(MigrationContext.configure(c), metadata)
        )
    assert diff == []


class RacingBookings(SqlBookingRepository):
    """Writes only once every racer has read: both commands judge the same ACTIVE booking."""

    def __init__(self, conn, barrier: asyncio.Barrier) -> None:
        super().__init__(conn)
        self.barrier = barrier

    async def update(self, booking: Booking, *, expected: BookingStatus) -> Booking | None:
        await self.barrier.wait()
        return await super().update(booking, expected=expected)


async def test_two_concurrent_transitions_of_one_booking_let_exactly_one_win(engine):
    now = datetime.now(UTC)
    booking = await _active(engine, now - timedelta(minutes=5), now + timedelta(hours=1))
    barrier = asyncio.Barrier(2)

    async def racing(run):
        async def work(uow: SqlUnitOfWork):
            uow.bookings = RacingBookings(uow.bookings.conn, barrier)
            return await run(uow)

        return await _in_transaction(engine, work)

    complete = CompleteBooking(booking_id=booking.id, actor_id=booking.student_id)
    no_show = MarkNoShow(booking_id=booking.id, actor_id=booking.coach_id, no_show_by="STUDENT")
    outcomes = await asyncio.wait_for(
        asyncio.gather(
            racing(lambda uow: usecases.complete_booking(uow, complete, now)),
            racing(lambda uow: usecases.mark_no_show(uow, no_show, now)),
            return_exceptions=True,
        ),
        timeout=30,
    )
    winners = [o for o in outcomes if not isinstance(o, BaseException)]
    losers = [o for o in outcomes if isinstance(o, CommandRejectedError)]
    assert (len(winners), [loser.code for loser in losers]) == (1, ["conflict"])
    assert await _status(engine, booking.id) == BookingStatus(winners[0].status)


async def test_replicas_completing_at_once_never_take_the_same_booking(engine):
    now = datetime.now(UTC)
    ended = [
        await _active(engine, now - timedelta(hours=2), now - timedelta(minutes=m))
        for m in range(1, 6)
    ]
    ids = {b.id for b in ended}
    async with engine.begin() as first_conn:
        first = await SqlBookingRepository(first_conn).complete_ended(
            ended_by=now, now=now, limit=3
        )
        # The first replica's transaction still holds its rows: the second skips them
        # instead of waiting, and takes the rest.
        async with engine.begin() as second_conn:
            second = await asyncio.wait_for(
                SqlBookingRepository(second_conn).complete_ended(ended_by=now, now=now, limit=10),
                timeout=10,
            )
    taken_first, taken_second = {b.id for b in first}, {b.id for b in second}
    assert len(taken_first) == 3
    assert taken_first.isdisjoint(taken_second)
    assert ids <= taken_first | taken_second
    assert all(b.completed_at == now for b in first + second)


async def test_auto_completion_leaves_sessions_that_have_not_ended(engine):
    now = datetime.now(UTC)
    running = await _active(engine, now - timedelta(minutes=5), now + timedelta(minutes=55))
    policy = lifecycle.Policy()
    while await _in_transaction(
        engine, lambda uow: usecases.complete_ended_bookings(uow, policy, 100, now)
    ):
        pass  # earlier tests' sessions that have ended
    assert await _status(engine, running.id) == BookingStatus.ACTIVE


async def test_the_database_keeps_one_booking_per_slot_and_the_second_is_rejected(engine):
    slot_id = uuid.uuid4()
    first, second = _pending(slot_id), _pending(slot_id)
    async with engine.begin() as conn:  # requests block nothing: both are stored
        for booking in (first, second):
            await SqlBookingRepository(conn).add_all([booking])
    start = datetime.now(UTC) + timedelta(hours=1)
    outcomes = []
    for booking in (first, second):
        reserved = _reserved(booking, start, start + timedelta(hours=1))
        outcomes.append(
            await _in_transaction(
                engine, lambda uow, r=reserved: usecases.confirm_booking(uow, r, datetime.now(UTC))
            )
        )
    assert [type(o) for o in outcomes] == [BookingConfirmed, BookingRejected]
    assert await _status(engine, first.id) == BookingStatus.ACTIVE
    assert await _status(engine, second.id) == BookingStatus.REJECTED
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(bookings_table.c.rejection_code).where(bookings_table.c.id == second.id)
            )
        ).one()
    assert row.rejection_code == "slot_unavailable"


async def test_in_one_run_the_first_booking_of_a_slot_is_confirmed_and_the_other_rejected(
    engine,
):
    slot_id, start = uuid.uuid4(), datetime.now(UTC) + timedelta(hours=1)
    first, second = _pending(slot_id), _pending(slot_id)
    async with engine.begin() as conn:
        repository = SqlBookingRepository(conn)
        assert await repository.add_all([first, second, first]) == {first.id, second.id}
    run = [_reserved(b, start, start + timedelta(hours=1)) for b in (first, second, first)]
    await _in_transaction(
        engine, lambda uow: usecases.confirm_bookings(uow, run, datetime.now(UTC))
    )
    assert await _status(engine, first.id) == BookingStatus.ACTIVE
    assert await _status(engine, second.id) == BookingStatus.REJECTED


class RacingReviews(SqlReviewRepository):
    def __init__(self, conn, barrier: asyncio.Barrier) -> None:
        super().__init__(conn)
        self.barrier = barrier

    async def add(self, review) -> None:
        await self.barrier.wait()
        await super().add(review)


async def test_two_concurrent_reviews_of_one_booking_store_one(engine):
    now = datetime.now(UTC)
    booking = await _active(engine, now - timedelta(hours=2), now - timedelta(hours=1))
    async with engine.begin() as conn:
        done = lifecycle.complete(booking, actor_id=booking.student_id, now=now)
        await SqlBookingRepository(conn).update(done, expected=BookingStatus.ACTIVE)
    barrier = asyncio.Barrier(2)

    async def review(score: int):
        command = SubmitReview(
            booking_id=booking.id, actor_id=booking.student_id, satisfaction_score=score
        )

        async def work(uow: SqlUnitOfWork):
            uow.reviews = RacingReviews(uow.reviews.conn, barrier)
            return await usecases.submit_review(uow, command, uuid.uuid4(), now)

        return await _in_transaction(engine, work)

    outcomes = await asyncio.wait_for(
        asyncio.gather(review(4), review(5), return_exceptions=True), timeout=30
    )
    codes = sorted(getattr(o, "code", "stored") for o in outcomes)
    assert codes == ["conflict", "stored"]


async def test_confirming_reads_bookings_by_key_however_stale_the_statistics(scratch_database):
    """The hot path's confirmation never reads the whole table, even on a connection that has
    run it many times while the table was nearly empty and analysed as such, and whose
    statistics say hardly any booking is PENDING (a new service's first minutes under load)."""
    engine = create_engine(await scratch_database("bookings"), pool_size=1)
    start = datetime.now(UTC) + timedelta(days=1)

    def session(booking: Booking) -> Session:
        return Session(booking.id, booking.slot_id, uuid.uuid4(), start, start + timedelta(hours=1))

    try:
        few = [_pending() for _ in range(5)]
        async with engine.begin() as conn:
            await SqlBookingRepository(conn).add_all(few)
            await SqlBookingRepository(conn).confirm_all(list(map(session, few)), start)
            await freeze_statistics(conn, "bookings")  # none of them PENDING
        for booking in few * 2:  # more runs than PostgreSQL's five before a generic plan
            async with engine.begin() as conn:
                await SqlBookingRepository(conn).confirm_all([session(booking)], datetime.now(UTC))
        many = [_pending() for _ in range(20_000)]
        async with engine.begin() as conn:
            await SqlBookingRepository(conn).add_all(many)
        async with engine.begin() as conn:
            repository = SqlBookingRepository(conn)
            scans_before = await sequential_scans(conn, "bookings")
            for first in range(0, 500, 50):
                batch = [session(booking) for booking in many[first : first + 50]]
                assert len(await repository.confirm_all(batch, datetime.now(UTC))) == 50
            assert await sequential_scans(conn, "bookings") == scans_before
    finally:
        await engine.dispose()
