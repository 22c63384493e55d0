"""The operator's tools on a running stats service: `rebuild` replays the history into a
fresh table and swaps it in live; `check` compares the live rows with the history."""

import asyncio

import asyncpg

from coaching_kit.bus import distinct
from coaching_kit.relay import asyncpg_dsn

from ..stories import FULL_STORY_STATS, Story, full_story


async def _sql(stats, query: str, *args):
    conn = await asyncpg.connect(asyncpg_dsn(stats.database_url))
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def _table(stats) -> dict:
    rows = await _sql(stats, "SELECT * FROM coach_stats")
    return {row["coach_id"]: dict(row) for row in rows}


async def test_a_rebuild_after_a_story_equals_the_live_projection(stats):
    story = full_story()
    await stats.publish(story.published)
    await stats.settled()
    live = await _table(stats)
    inbox = await _sql(stats, "SELECT consumer, message_id FROM inbox ORDER BY 1, 2")

    code, output = await stats.cli("rebuild")
    assert code == 0, output
    assert "0 rows changed by the swap" in output, output
    assert await _table(stats) == live
    assert await _sql(stats, "SELECT consumer, message_id FROM inbox ORDER BY 1, 2") == inbox
    code, output = await stats.cli("check")
    assert (code, "every row matches" in output) == (0, True), output

    # The live consumers carry on in the swapped-in table.
    story.slot()
    await stats.publish(story.published[-1:])
    await stats.settled()
    assert (await stats.stats(story.coach_id))["totalSlots"] == FULL_STORY_STATS["totalSlots"] + 1


async def test_events_arriving_during_a_rebuild_are_counted_exactly_once(stats):
    story = Story()
    story.register("COACH")
    await stats.publish(story.published)
    rebuild = asyncio.create_task(stats.cli("rebuild"))
    created = 0
    # Traffic for the whole rebuild, the swap included: each event is applied either by
    # the rebuild's catch-up or by the live consumer afterwards, never by both.
    while not rebuild.done() or created < 50:
        story.slot()
        await stats.publish(story.published[-1:])
        created += 1
    code, output = await rebuild
    assert code == 0, output
    await stats.settled()
    assert (await stats.stats(story.coach_id))["totalSlots"] == created
    code, output = await stats.cli("check")
    assert code == 0, output


async def test_check_finds_a_tampered_row_and_a_rebuild_repairs_and_republishes_it(stats):
    story = full_story()
    await stats.publish(story.published)
    await stats.settled()
    coach = story.coach_id
    await _sql(stats, "UPDATE coach_stats SET total_calls = 99 WHERE coach_id = $1", coach)

    code, output = await stats.cli("check")
    assert code == 1, output
    assert f"coach {coach}: total_calls live=99 expected=5" in output
    assert "1 coaches differ" in output

    code, output = await stats.cli("rebuild")
    assert code == 0, output
    assert "1 rows changed by the swap" in output, output
    assert (await stats.stats(coach))["totalCalls"] == 5

    def republished(s):  # the rebuild's own snapshot: not caused by a consumed event
        return s.key == str(coach) and "ce_causationid" not in s.headers

    (snapshot,) = await stats.snapshots.wait_for(distinct(republished))
    assert snapshot.json() == await stats.stats(coach)
    code, output = await stats.cli("check")
    assert code == 0, output
