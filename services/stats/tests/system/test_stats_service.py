"""The stats service over the real stack: events published as the other services publish
them, stats read over HTTP and from the snapshots on `stats.events`."""

import random
import uuid

from coaching_contracts.events import CoachStatsUpdated
from coaching_contracts.topics import BOOKINGS_EVENTS, SLOTS_EVENTS, USERS_EVENTS
from coaching_kit.bus import distinct
from coaching_kit.testing.plugin import TEST_PARTITIONS

from ..stories import FULL_STORY_CHANGES, FULL_STORY_STATS, Story, full_story, shuffled

UPDATED = CoachStatsUpdated.TYPE


def _figures(stats: dict) -> dict:
    return {k: v for k, v in stats.items() if k != "coachId"}


async def test_a_booking_story_gives_exactly_its_stats_over_http_and_on_stats_events(stats):
    story = full_story()
    await stats.publish(story.published)
    await stats.settled()

    body = await stats.stats(story.coach_id)
    assert {k: body[k] for k in FULL_STORY_STATS} == FULL_STORY_STATS
    assert body["lastUpdated"] == story.last_time.isoformat().replace("+00:00", "Z")
    assert body["coachId"] == str(story.coach_id)

    def mine(s):
        return s.type == UPDATED and s.key == str(story.coach_id)

    # Changes that arrive together share one snapshot; the last one is the whole story.
    *_, final = await stats.snapshots.wait_for(lambda s: mine(s) and s.json() == body)
    assert final.headers["ce_subject"] == str(story.coach_id)
    sent = await stats.snapshots.wait_for(distinct(mine), count=1)
    assert 1 <= len(sent) <= FULL_STORY_CHANGES


async def test_a_student_and_an_unknown_coach_have_no_stats(stats):
    story = Story()
    story.register("STUDENT")
    await stats.publish(story.published)
    await stats.settled()
    for user in (story.student_id, uuid.uuid4()):
        status, body = await stats.get(f"/coaches/{user}/stats")
        assert (status, body["error"]) == (404, "not_found")


async def test_events_delivered_twice_and_shuffled_across_topics_give_the_same_stats(stats):
    in_order, messy = full_story(), full_story()
    redelivered = messy.published + random.Random(3).sample(messy.published, len(messy.published))
    await stats.publish(in_order.published)
    await stats.publish(shuffled(redelivered, random.Random(11)))
    await stats.settled()

    expected = _figures(await stats.stats(in_order.coach_id))
    assert _figures(await stats.stats(messy.coach_id)) == expected
    assert {k: expected[k] for k in FULL_STORY_STATS} == FULL_STORY_STATS


async def test_a_coach_s_slot_counted_before_the_registration_arrives_is_kept(stats):
    story = Story()
    story.slot()
    story.register("COACH")
    await stats.publish(story.published)
    await stats.settled()
    body = await stats.stats(story.coach_id)
    assert (body["totalSlots"], body["averageRating"]) == (1, None)


async def test_the_coach_list_pages_through_every_coach_once_in_id_order(stats):
    stories = [Story() for _ in range(5)]
    for story in stories:
        story.register("COACH")
        await stats.publish(story.published)
    await stats.settled()

    seen, after, pages = [], "", 0
    while True:
        status, page = await stats.get(f"/coaches?limit=2{'&after=' + after if after else ''}")
        assert status == 200, page
        assert len(page["items"]) <= 2
        seen += [item["coachId"] for item in page["items"]]
        pages += 1
        if page["next"] is None:
            break
        after = page["next"]
    assert seen == sorted(seen, key=uuid.UUID)
    assert len(seen) == len(set(seen))
    assert {str(s.coach_id) for s in stories} <= set(seen)
    assert pages == (len(seen) + 1) // 2


async def test_bad_requests_are_answered_with_a_json_error(stats):
    for path in ("/coaches?limit=0", "/coaches?limit=501", "/coaches?after=nope"):
        status, body = await stats.get(path)
        assert (status, body["error"]) == (400, "invalid"), path
    status, body = await stats.get("/coaches/not-a-uuid/stats")
    assert (status, body["error"]) == (400, "invalid")
    status, body = await stats.get(f"/coaches/{uuid.uuid4()}/nothing")
    assert (status, body["error"]) == (404, "not_found")


async def test_lag_covers_every_partition_of_the_consumed_topics(stats):
    lag = await stats.settled()
    topics = {(p["topic"].split(".", 1)[1], p["partition"]) for p in lag["partitions"]}
    assert topics == {
        (topic, partition)
        for topic in (USERS_EVENTS, SLOTS_EVENTS, BOOKINGS_EVENTS)
        for partition in range(TEST_PARTITIONS)
    }
    assert all(p["endOffset"] == p["committedOffset"] for p in lag["partitions"])
    assert lag["group"].endswith("stats")
