"""The projection's arithmetic: each counter, the average, and order independence."""

import itertools
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from coaching_stats import projection
from coaching_stats.messages import coach_stats_updated
from coaching_stats.projection import Change, CoachStats, Counts, apply, change_of
from coaching_stats.subscribers import ALL_HANDLERS

from ..stories import FULL_STORY_CHANGES, FULL_STORY_STATS, Story, full_story

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


def fold(events) -> CoachStats | None:
    stats = None
    for event in events:
        change = change_of(event)
        if change is not None:
            stats = apply(stats, change)
    return stats


def counts_after(build) -> Counts:
    """The counters of a coach whose registration is followed by what `build` adds."""
    story = Story()
    story.register("COACH")
    build(story)
    stats = fold(p.event for p in story.published)
    assert stats is not None
    return stats.counts


def test_a_coach_registering_starts_at_zero_and_a_student_has_no_stats():
    story = Story()
    coach, student = story.register("COACH"), story.register("STUDENT")
    assert change_of(coach) == Change(story.coach_id, Counts(), coach.updated_at)
    assert change_of(student) is None


def test_slots_count_while_they_are_not_deleted():
    def build(story):
        story.slot()
        story.delete(story.slot())

    assert counts_after(build) == Counts(total_slots=1)


def test_a_confirmed_booking_is_a_call_and_its_saga_messages_count_nothing():
    def build(story):
        story.book(story.slot())

    assert counts_after(build) == Counts(total_slots=1, total_calls=1)


def test_completions_cancellations_and_no_shows_each_have_their_counter():
    def build(story):
        calls = [story.book(story.slot()) for _ in range(5)]
        story.complete(calls[0])
        story.cancel(calls[1], by="COACH")
        story.no_show(calls[2], "STUDENT")
        story.no_show(calls[3], "STUDENT")
        story.no_show(calls[4], "COACH")

    assert counts_after(build) == Counts(
        total_slots=5,
        total_calls=5,
        completed_slots=1,
        cancelled_calls=1,
        no_shows_by_student=2,
        no_shows_by_coach=1,
    )


def test_reviews_keep_their_count_and_score_sum():
    def build(story):
        call = story.book(story.slot())
        story.complete(call)
        story.review(call, 4)

    counts = counts_after(build)
    assert (counts.review_count, counts.rating_sum) == (1, 4)


def test_the_average_rating_is_null_without_reviews_and_exact_with_them():
    coach = uuid.uuid4()
    assert CoachStats(coach, Counts(), T0).average_rating is None
    assert CoachStats(coach, Counts(review_count=3, rating_sum=11), T0).average_rating == 11 / 3
    snapshot = coach_stats_updated(CoachStats(coach, Counts(review_count=2, rating_sum=9), T0))
    assert snapshot.average_rating == 4.5


def test_last_updated_is_the_latest_event_time_whatever_the_arrival_order():
    coach = uuid.uuid4()
    late = Change(coach, Counts(total_slots=1), T0 + timedelta(hours=1))
    early = Change(coach, Counts(total_calls=1), T0)
    assert apply(apply(None, late), early).last_updated == T0 + timedelta(hours=1)


def test_the_full_story_gives_the_expected_snapshot():
    story = full_story()
    stats = fold(p.event for p in story.published)
    assert stats is not None
    wire = coach_stats_updated(stats).model_dump(mode="json", by_alias=True)
    assert {k: wire[k] for k in FULL_STORY_STATS} == FULL_STORY_STATS
    assert len(_changes(story)) == FULL_STORY_CHANGES
    assert stats.last_updated == story.last_time


def test_any_order_of_the_changes_gives_the_same_stats():
    changes = _changes(full_story())
    expected = _apply_all(changes)
    rng = random.Random(7)
    for _ in range(200):
        assert _apply_all(rng.sample(changes, len(changes))) == expected
    # And exhaustively over a smaller set, negative changes included.
    for order in itertools.permutations(changes[:7]):
        assert _apply_all(list(order)) == _apply_all(changes[:7])


def _changes(story: Story) -> list[Change]:
    return [c for p in story.published if (c := change_of(p.event)) is not None]


def _apply_all(changes: list[Change]) -> CoachStats | None:
    stats = None
    for change in changes:
        stats = apply(stats, change)
    return stats


@pytest.mark.parametrize("handlers", ALL_HANDLERS, ids=lambda h: h.topic)
def test_the_live_consumers_handle_exactly_the_counted_event_types(handlers):
    """The rebuild counts what `projection.CHANGES` lists; the live service what its
    subscribers register: the two must be the same, or a rebuild would differ from live."""
    counted = {model.TYPE for model in projection.CHANGES if handlers.topic == model.TOPIC}
    assert set(handlers.by_type) == counted
