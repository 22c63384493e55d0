"""Replaying the history in memory (rebuild, check) and comparing it with the live rows."""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from coaching_stats import usecases
from coaching_stats.check import Difference, compare
from coaching_stats.history import Counted, Replay
from coaching_stats.projection import Change, CoachStats, Counts, apply

from ..stories import full_story

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


def _counted(story, consumer="stats:events") -> list[Counted]:
    return [Counted(consumer, p.envelope.id, p.event) for p in story.published]


def test_a_replayed_id_counts_once_per_consumer_like_the_inbox():
    story = full_story()
    once, twice = Replay(), Replay()
    for event in _counted(story):
        once.add(event)
    for event in _counted(story) + _counted(story):
        twice.add(event)
    assert twice.stats == once.stats
    assert twice.duplicates == len(story.published)


def test_a_replay_counts_only_what_it_accepts():
    story = full_story()
    events = _counted(story)
    accepted = {(e.consumer, e.message_id) for e in events[:2]}  # the two registrations
    replay = Replay(accept=accepted.__contains__)
    for event in events:
        replay.add(event)
    assert replay.stats[story.coach_id].counts == Counts()
    assert replay.consumed == accepted


def test_take_hands_over_only_what_changed_since_the_last_take():
    story = full_story()
    replay = Replay()
    for event in _counted(story):
        replay.add(event)
    rows, keys = replay.take()
    assert [r.coach_id for r in rows] == [story.coach_id]
    assert len(keys) == len(story.published)
    assert replay.take() == ([], [])


def test_compare_names_each_differing_field_and_each_row_on_one_side_only():
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    right = CoachStats(a, Counts(total_calls=2, review_count=1, rating_sum=5), T0)
    wrong = CoachStats(a, Counts(total_calls=3, review_count=1, rating_sum=5), T0)
    other = CoachStats(b, Counts(), T0)
    differences = compare({a: wrong, b: other}, {a: right, c: CoachStats(c, Counts(), T0)})
    assert Difference(a, "total_calls", 3, 2) in differences
    assert Difference(b, "row", "present", "missing") in differences
    assert Difference(c, "row", "missing", "present") in differences
    assert len(differences) == 3
    assert compare({a: right}, {a: right}) == []


def test_compare_sees_a_different_last_updated():
    a = uuid.uuid4()
    live = CoachStats(a, Counts(), T0 + timedelta(seconds=1))
    assert compare({a: live}, {a: CoachStats(a, Counts(), T0)})[0].field == "last_updated"


class FakeCoachStats:
    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, CoachStats] = {}
        self.calls: list[list[Change]] = []

    async def add_all(self, changes: Sequence[Change]) -> dict[uuid.UUID, CoachStats]:
        assert len({c.coach_id for c in changes}) == len(changes), "one change per coach"
        self.calls.append(list(changes))
        for change in changes:
            self.rows[change.coach_id] = apply(self.rows.get(change.coach_id), change)
        return {c.coach_id: self.rows[c.coach_id] for c in changes}


class FakeUnitOfWork:
    def __init__(self) -> None:
        self.coach_stats = FakeCoachStats()


async def test_counting_a_change_answers_with_the_coach_s_full_snapshot():
    uow, coach = FakeUnitOfWork(), uuid.uuid4()
    await usecases.count_changes(uow, [Change(coach, Counts(review_count=1, rating_sum=4), T0)])
    later = T0 + timedelta(minutes=1)
    snapshots = await usecases.count_changes(
        uow, [Change(coach, Counts(review_count=1, rating_sum=5), later)]
    )
    event = snapshots[coach]
    assert (event.coach_id, event.review_count, event.rating_sum) == (coach, 2, 9)
    assert (event.average_rating, event.last_updated, event.total_slots) == (4.5, later, 0)


async def test_a_run_of_changes_is_one_write_and_one_snapshot_per_coach():
    uow, a, b = FakeUnitOfWork(), uuid.uuid4(), uuid.uuid4()
    later = T0 + timedelta(minutes=1)
    snapshots = await usecases.count_changes(
        uow,
        [
            Change(a, Counts(total_slots=1), later),
            Change(b, Counts(total_calls=1), T0),
            Change(a, Counts(total_slots=1, total_calls=1), T0),  # delivered late: time stays
        ],
    )
    assert len(uow.coach_stats.calls) == 1
    assert (snapshots[a].total_slots, snapshots[a].total_calls) == (2, 1)
    assert snapshots[a].last_updated == later
    assert (snapshots[b].total_calls, set(snapshots)) == (1, {a, b})
