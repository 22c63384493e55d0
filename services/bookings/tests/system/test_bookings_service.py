"""The bookings service as its neighbours and clients see it: the saga, the lifecycle, who
may do what, and auto-completion, over real Kafka and PostgreSQL."""

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest

from coaching_contracts.commands import (
    CancelBooking,
    CompleteBooking,
    CreateBooking,
    MarkNoShow,
    SubmitReview,
)
from coaching_contracts.topics import BOOKINGS_COMMANDS, TopicKind, TopicSpec
from coaching_kit.topics_admin import ensure_topics

from .driver import (
    COMPLETED,
    CONFIRMED,
    REJECTED,
    REJECTED_BOOKING,
    REQUESTED,
    Booked,
    Driver,
    distinct,
    soon,
)

HOUR, LATER = timedelta(hours=1), timedelta(hours=2)  # LATER: outside the 60 min cut-off
STARTED = -timedelta(minutes=10)


@pytest.fixture(scope="module")
async def bookings_database(scratch_database, run_service) -> AsyncIterator[str]:
    database_url = await scratch_database("bookings")
    service = await run_service(
        "bookings",
        database_url,
        BOOKINGS_CANCELLATION_CUTOFF_MINUTES="60",
        BOOKINGS_AUTO_COMPLETE_INTERVAL_S="0.2",
    )
    yield database_url
    await service.stop()


def _code(record) -> tuple[str | None, str]:
    return record.type, record.json().get("code", "")


# --- the saga -----------------------------------------------------------------------------


async def test_a_request_is_pending_until_the_slot_is_reserved_then_confirmed(driver: Driver):
    student, coach = await driver.users("STUDENT", "COACH")
    slot_id = uuid.uuid4()
    requested = await driver.send(CreateBooking(slot_id=slot_id, student_id=student))
    data = requested.json()
    assert (requested.type, data["status"], data["slotId"]) == (REQUESTED, "PENDING", str(slot_id))
    assert requested.key == data["bookingId"]
    start = soon(LATER)
    await driver.reserve(requested, coach, start, start + HOUR)
    confirmed = await driver.outcome(requested.correlation_id, {CONFIRMED})
    state = confirmed.json()
    assert (state["bookingId"], state["coachId"], state["status"]) == (
        data["bookingId"],
        coach,
        "ACTIVE",
    )
    assert datetime.fromisoformat(state["startTime"]) == start
    assert datetime.fromisoformat(state["endTime"]) == start + HOUR
    assert await driver.status(data["bookingId"]) == "ACTIVE"


async def test_a_refused_reservation_rejects_the_request_with_the_slots_code(driver: Driver):
    (student,) = await driver.users("STUDENT")
    requested = await driver.send(CreateBooking(slot_id=uuid.uuid4(), student_id=student))
    await driver.refuse(requested, "slot_in_past", "the slot started already")
    rejected = await driver.outcome(requested.correlation_id, {REJECTED_BOOKING})
    data = rejected.json()
    assert (data["status"], data["code"], data["message"]) == (
        "REJECTED",
        "slot_in_past",
        "the slot started already",
    )


async def test_the_final_outcome_also_goes_to_the_callers_reply_topic(driver: Driver):
    reply_topic = f"replies.bookings-{uuid.uuid4().hex[:6]}"
    spec = TopicSpec(reply_topic, TopicKind.COMMANDS, "tests")
    await ensure_topics(driver.bus.bootstrap, prefix=driver.bus.prefix, partitions=1, specs=(spec,))
    student, coach = await driver.users("STUDENT", "COACH")
    async with driver.bus.watch(reply_topic) as replies:
        requested = await driver.send(
            CreateBooking(slot_id=uuid.uuid4(), student_id=student),
            extra_headers={"reply_to": driver.bus.prefix + reply_topic, "correlation_id": "req-7"},
        )
        await driver.reserve(requested, coach, soon(LATER), soon(LATER + HOUR))
        (reply,) = await replies.wait_for(
            distinct(lambda s: s.headers.get("correlation_id") == "req-7")
        )
    # Only the final outcome: the requested event, published earlier, never went there.
    assert (reply.type, reply.correlation_id) == (CONFIRMED, requested.correlation_id)
    assert reply.json()["bookingId"] == requested.json()["bookingId"]


async def test_an_unknown_student_cannot_book(driver: Driver):
    answer = await driver.send(CreateBooking(slot_id=uuid.uuid4(), student_id=uuid.uuid4()))
    assert _code(answer) == (REJECTED, "unknown_user")


async def test_a_coach_cannot_book(driver: Driver):
    (coach,) = await driver.users("COACH")
    answer = await driver.send(CreateBooking(slot_id=uuid.uuid4(), student_id=coach))
    assert _code(answer) == (REJECTED, "forbidden")


async def test_a_booking_id_used_before_is_a_conflict(driver: Driver):
    (student,) = await driver.users("STUDENT")
    booking_id = uuid.uuid4()
    first = await driver.send(
        CreateBooking(booking_id=booking_id, slot_id=uuid.uuid4(), student_id=student)
    )
    again = await driver.send(
        CreateBooking(booking_id=booking_id, slot_id=uuid.uuid4(), student_id=student)
    )
    assert (first.type, first.json()["bookingId"]) == (REQUESTED, str(booking_id))
    assert _code(again) == (REJECTED, "conflict")


async def test_a_repeated_reservation_confirms_once_and_a_late_refusal_changes_nothing(
    driver: Driver,
):
    student, other, coach = await driver.users("STUDENT", "STUDENT", "COACH")
    slot_id = uuid.uuid4()
    requested = await driver.send(CreateBooking(slot_id=slot_id, student_id=student))
    start = soon(LATER)
    for _ in range(2):  # the slots service answers again for a booking that holds its slot
        await driver.reserve(requested, coach, start, start + HOUR)
    await driver.refuse(requested, "slot_unavailable")
    # A later reply on the same slot (same key, same partition) is handled after those.
    second = await driver.send(CreateBooking(slot_id=slot_id, student_id=other))
    await driver.refuse(second, "slot_unavailable")
    await driver.outcome(second.correlation_id, {REJECTED_BOOKING})
    booking_id = requested.json()["bookingId"]
    assert await driver.published(booking_id, CONFIRMED) == 1
    assert await driver.published(booking_id, REJECTED_BOOKING) == 0
    assert await driver.status(booking_id) == "ACTIVE"


async def test_a_second_booking_reserved_for_a_held_slot_is_rejected_slot_unavailable(
    driver: Driver,
):
    booked = await driver.booked(LATER)
    (other,) = await driver.users("STUDENT")
    requested = await driver.send(CreateBooking(slot_id=booked.slot_id, student_id=other))
    start = soon(LATER)
    await driver.reserve(requested, booked.coach, start, start + HOUR)  # a slots-service bug
    rejected = await driver.outcome(requested.correlation_id, {REJECTED_BOOKING})
    assert rejected.json()["code"] == "slot_unavailable"
    assert await driver.status(booked.booking_id) == "ACTIVE"


# --- the lifecycle ------------------------------------------------------------------------


async def test_a_student_cancels_with_a_reason(driver: Driver):
    booked = await driver.booked(LATER)
    cancel = CancelBooking(booking_id=booked.booking_id, actor_id=booked.student, reason="Ill")
    cancelled = await driver.send(cancel)
    data = cancelled.json()
    assert cancelled.type == "coaching.booking.cancelled.v1"
    assert (data["cancelledBy"], data["cancelledById"], data["reason"]) == (
        "STUDENT",
        booked.student,
        "Ill",
    )
    assert (data["coachId"], data["status"]) == (booked.coach, "CANCELLED")


async def test_cancelling_inside_the_cutoff_is_too_late(driver: Driver):
    booked = await driver.booked(timedelta(minutes=30))  # the service runs a 60 min cut-off
    answer = await driver.send(CancelBooking(booking_id=booked.booking_id, actor_id=booked.coach))
    assert _code(answer) == (REJECTED, "too_late")
    assert await driver.status(booked.booking_id) == "ACTIVE"


async def test_completing_or_marking_a_no_show_before_the_start_is_too_early(driver: Driver):
    booked = await driver.booked(LATER)
    complete = CompleteBooking(booking_id=booked.booking_id, actor_id=booked.student)
    no_show = MarkNoShow(booking_id=booked.booking_id, actor_id=booked.coach, no_show_by="STUDENT")
    assert _code(await driver.send(complete)) == (REJECTED, "too_early")
    assert _code(await driver.send(no_show)) == (REJECTED, "too_early")


async def test_a_participant_completes_a_started_session(driver: Driver):
    booked = await driver.booked(STARTED)
    completed = await driver.send(
        CompleteBooking(booking_id=booked.booking_id, actor_id=booked.coach)
    )
    data = completed.json()
    assert (completed.type, data["status"]) == (COMPLETED, "COMPLETED")
    assert datetime.fromisoformat(data["completedAt"]) >= datetime.fromisoformat(data["startTime"])


async def test_a_no_show_records_the_absent_side(driver: Driver):
    booked = await driver.booked(STARTED)
    no_show = MarkNoShow(booking_id=booked.booking_id, actor_id=booked.student, no_show_by="COACH")
    record = await driver.send(no_show)
    assert (record.type, record.json()["noShowBy"]) == ("coaching.booking.no-show.v1", "COACH")


async def test_a_finished_booking_takes_no_further_transition(driver: Driver):
    booked = await driver.booked(STARTED)
    await driver.completed(booked)
    b, student, coach = booked.booking_id, booked.student, booked.coach
    for command in (
        CompleteBooking(booking_id=b, actor_id=coach),
        MarkNoShow(booking_id=b, actor_id=coach, no_show_by="STUDENT"),
        CancelBooking(booking_id=b, actor_id=student),
    ):
        assert _code(await driver.send(command)) == (REJECTED, "conflict")
    assert await driver.status(b) == "COMPLETED"


@pytest.mark.parametrize(
    "command",
    [
        lambda b, a: CancelBooking(booking_id=b, actor_id=a),
        lambda b, a: CompleteBooking(booking_id=b, actor_id=a),
        lambda b, a: MarkNoShow(booking_id=b, actor_id=a, no_show_by="COACH"),
        lambda b, a: SubmitReview(booking_id=b, actor_id=a, satisfaction_score=3),
    ],
    ids=["cancel", "complete", "no-show", "review"],
)
async def test_a_command_for_a_missing_booking_is_not_found(driver: Driver, command):
    answer = await driver.send(command(uuid.uuid4(), uuid.uuid4()))
    assert _code(answer) == (REJECTED, "not_found")


# --- reviews ------------------------------------------------------------------------------


async def test_the_student_reviews_a_finished_booking_once(driver: Driver):
    booked = await driver.booked(STARTED)
    review = SubmitReview(
        booking_id=booked.booking_id, actor_id=booked.student, satisfaction_score=5, notes="Top"
    )
    assert _code(await driver.send(review)) == (REJECTED, "conflict")  # still ACTIVE
    await driver.completed(booked)
    submitted = await driver.send(review)
    data = submitted.json()
    assert submitted.type == "coaching.review.submitted.v1"
    assert submitted.key == booked.booking_id  # in the booking's order
    assert (data["coachId"], data["studentId"], data["satisfactionScore"], data["notes"]) == (
        booked.coach,
        booked.student,
        5,
        "Top",
    )
    assert _code(await driver.send(review)) == (REJECTED, "conflict")


async def test_a_score_outside_one_to_five_is_invalid(driver: Driver):
    booked = await driver.booked(STARTED)
    await driver.completed(booked)
    fields = {"bookingId": booked.booking_id, "actorId": booked.student, "satisfactionScore": 6}
    sent = await driver.bus.send_command(BOOKINGS_COMMANDS, fields, type=SubmitReview.TYPE)
    assert _code(await driver.outcome(sent.id)) == (REJECTED, "invalid")


# --- who may do what ----------------------------------------------------------------------

ACTORS = ["its student", "its coach", "another coach", "another student", "an unknown user"]


@pytest.fixture(scope="module")
async def strangers(driver: Driver) -> dict[str, str]:
    coach, student = await driver.users("COACH", "STUDENT")
    return {"another coach": coach, "another student": student}


def _actor(booked: Booked, who: str, strangers: dict[str, str]) -> str:
    known = {"its student": booked.student, "its coach": booked.coach, **strangers}
    return known.get(who) or str(uuid.uuid4())


CASES = {
    # action: (the session's start, the command from an actor, the event of a success)
    "cancel": (LATER, lambda b, a: CancelBooking(booking_id=b, actor_id=a), "cancelled"),
    "complete": (STARTED, lambda b, a: CompleteBooking(booking_id=b, actor_id=a), "completed"),
    "mark-no-show": (
        STARTED,
        lambda b, a: MarkNoShow(booking_id=b, actor_id=a, no_show_by="COACH"),
        "no-show",
    ),
    "review": (
        STARTED,
        lambda b, a: SubmitReview(booking_id=b, actor_id=a, satisfaction_score=4),
        "submitted",
    ),
}
ALLOWED = {
    "cancel": {"its student", "its coach"},
    "complete": {"its student", "its coach"},
    "mark-no-show": {"its student", "its coach"},
    "review": {"its student"},
}


@pytest.mark.parametrize("who", ACTORS)
@pytest.mark.parametrize("action", list(CASES))
async def test_authorization_matrix(driver: Driver, strangers, action, who):
    start_in, command, success = CASES[action]
    booked = await driver.booked(start_in)
    if action == "review":
        await driver.completed(booked)
    before = await driver.status(booked.booking_id)
    answer = await driver.send(command(booked.booking_id, _actor(booked, who, strangers)))
    if who in ALLOWED[action]:
        assert answer.type is not None
        assert answer.type.endswith(f".{success}.v1"), answer.json()
    else:
        assert _code(answer) == (REJECTED, "forbidden")
        assert await driver.status(booked.booking_id) == before


# --- auto-completion ----------------------------------------------------------------------


async def test_a_session_that_ended_is_completed_once_by_the_service(driver: Driver):
    booked = await driver.booked(timedelta(seconds=1), length=timedelta(seconds=1.5))
    (completed,) = await driver.events.wait_for(
        distinct(lambda s: s.type == COMPLETED and s.key == booked.booking_id), timeout=30
    )
    data = completed.json()
    assert datetime.fromisoformat(data["completedAt"]) >= datetime.fromisoformat(data["endTime"])
    # No command caused it: it continues the booking's own story for correlating clients.
    assert completed.correlation_id == booked.command_id
    assert await driver.status(booked.booking_id) == "COMPLETED"
    assert await driver.published(booked.booking_id, COMPLETED) == 1
