"""`coachctl dlq replay` over the real broker: which dead letters it picks, and that it
replays each original record once however often it is run.

The dead letters are written straight to a `.dlq` topic, with the headers a consumer gives
them, in a namespace no service reads (`quiet_namespace`): everything on the original topic
is then exactly what coachctl replayed. (test_operating_the_platform replays a dead letter
a running service made.)"""

from __future__ import annotations

import os
import pty
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer

from coaching_cli.config import Config
from coaching_cli.kafka import read_all
from coaching_contracts.events import SlotCreated
from coaching_contracts.topics import SLOTS_EVENTS, dlq
from coaching_kit.bus import Seen
from coaching_kit.relay import producer_for

# Read by bookings and by stats: two consumers can dead-letter one record of it.
TOPIC = SLOTS_EVENTS


@dataclass(frozen=True)
class Crafted:
    at: str  # partition@offset on the .dlq topic, as `dlq list` shows it
    source: str  # <dlq topic>/<partition>@<offset>, what its replay's dlq_replayed_from says
    origin: str
    key: str
    value: bytes
    original: dict[str, str]  # the headers of the record before it died


async def craft(coachctl, *letters: tuple[str, str, int]) -> list[Crafted]:
    """Dead letters of TOPIC, each (reason, consumer, offset of the original record); those
    of one original have its key, value and ce_id, as when two consumers gave up on it."""
    producer = producer_for(coachctl.bootstrap)
    await producer.start()
    run = uuid.uuid4()
    try:
        return [await _craft(producer, coachctl.prefix, run, *letter) for letter in letters]
    finally:
        await producer.stop()


async def _craft(
    producer: AIOKafkaProducer,
    prefix: str,
    run: uuid.UUID,
    reason: str,
    consumer: str,
    origin_offset: int,
) -> Crafted:
    key = str(uuid.uuid5(run, f"key {origin_offset}"))
    original = {
        "ce_id": str(uuid.uuid5(run, f"ce_id {origin_offset}")),
        "ce_type": SlotCreated.TYPE,
        "ce_source": "/tests",
        "ce_specversion": "1.0",
    }
    origin = f"{prefix}{TOPIC}/0@{origin_offset}"
    dead = {
        "dlq_reason": reason,
        "dlq_error": f"{reason}: crafted",
        "dlq_origin": origin,
        "dlq_consumer": consumer,
        "dlq_time": datetime.now(UTC).isoformat(),
    }
    value = f'{{"slotId": "{key}"}}'.encode()
    headers = [(k, v.encode()) for k, v in (original | dead).items()]
    sent = await producer.send_and_wait(
        prefix + dlq(TOPIC), value=value, key=key.encode(), headers=headers
    )
    at = f"{sent.partition}@{sent.offset}"
    return Crafted(at, f"{prefix}{dlq(TOPIC)}/{at}", origin, key, value, original)


async def _records(coachctl, topic: str) -> list[Seen]:
    config = Config(bootstrap=coachctl.bootstrap, prefix=coachctl.prefix)
    return [Seen.of(record) for record in await read_all(config, [config.topic(topic)])]


async def replayed_from(coachctl) -> Counter[str]:
    """How often each dead letter was replayed: nothing else writes TOPIC here."""
    return Counter(seen.headers["dlq_replayed_from"] for seen in await _records(coachctl, TOPIC))


async def listed(coachctl, *args: str) -> dict[str, bool]:
    rows = (await coachctl("dlq", "list", TOPIC, *args, "--json")).json()
    return {row["at"]: row["replayed"] for row in rows}


async def test_replay_by_default_sends_only_handler_error_dead_letters(quiet_namespace):
    ctl = quiet_namespace
    failed, invalid, unreadable, failed_too = await craft(
        ctl,
        ("handler_error", "stats", 1),
        ("schema_invalid", "stats", 2),
        ("invalid_json", "bookings", 3),
        ("handler_error", "bookings", 4),
    )
    done = await ctl("dlq", "replay", TOPIC, "--all", "--yes")
    assert done.code == 0, done
    assert "replayed 2 dead letters" in done.out, done
    assert "2 dead letters left out by the filters" in done.out, done

    replays = {seen.headers["dlq_replayed_from"]: seen for seen in await _records(ctl, TOPIC)}
    assert set(replays) == {failed.source, failed_too.source}
    for letter in (failed, failed_too):
        replay = replays[letter.source]
        assert (replay.key, replay.value) == (letter.key, letter.value)
        kept = {k: v for k, v in replay.headers.items() if not k.startswith("dlq_")}
        assert kept == letter.original  # the same ce_id, so inboxes know a replay again
        assert set(replay.headers) - set(kept) == {"dlq_replayed_from", "dlq_replayed_at"}
    assert await listed(ctl) == {
        failed.at: True,
        invalid.at: False,
        unreadable.at: False,
        failed_too.at: True,
    }


async def test_replay_and_list_filter_by_consumer_and_reason(quiet_namespace):
    ctl = quiet_namespace
    stats_failed, bookings_failed, stats_invalid, stats_unreadable, bookings_unknown = await craft(
        ctl,
        ("handler_error", "stats", 1),
        ("handler_error", "bookings", 2),
        ("schema_invalid", "stats", 3),
        ("invalid_json", "stats", 4),
        ("unknown_type", "bookings", 5),
    )
    assert set(await listed(ctl, "--consumer", "bookings")) == {
        bookings_failed.at,
        bookings_unknown.at,
    }
    assert set(await listed(ctl, "--reason", "schema_invalid,invalid_json")) == {
        stats_invalid.at,
        stats_unreadable.at,
    }

    by_stats = await ctl("dlq", "replay", TOPIC, "--all", "--yes", "--consumer", "stats")
    assert by_stats.code == 0, by_stats
    assert set(await replayed_from(ctl)) == {stats_failed.source}

    # One dead letter by position is filtered too: its reason has to be asked for.
    refused = await ctl("dlq", "replay", TOPIC, "--offset", stats_invalid.at)
    assert refused.code == 2, refused
    assert "--reason schema_invalid" in refused.err, refused
    assert set(await replayed_from(ctl)) == {stats_failed.source}

    reasons = ("--reason", "schema_invalid", "--reason", "invalid_json")
    chosen = await ctl("dlq", "replay", TOPIC, "--all", "--yes", "--consumer", "stats", *reasons)
    assert chosen.code == 0, chosen
    everyone = ("--consumer", "stats,bookings", "--any-reason")
    rest = await ctl("dlq", "replay", TOPIC, "--all", "--yes", *everyone)
    assert rest.code == 0, rest
    assert "3 dead letters already replayed, skipped" in rest.out, rest
    every_letter = [stats_failed, bookings_failed, stats_invalid, stats_unreadable]
    every_letter.append(bookings_unknown)
    assert await replayed_from(ctl) == Counter(letter.source for letter in every_letter)
    assert await listed(ctl, "--consumer", "bookings", "--reason", "unknown_type") == {
        bookings_unknown.at: True
    }


async def test_a_second_replay_sends_nothing_and_each_original_is_replayed_once(
    quiet_namespace,
):
    ctl = quiet_namespace
    # Stats and bookings both gave up on the original at offset 1: one replay serves both.
    stats_1, other, bookings_1 = await craft(
        ctl,
        ("handler_error", "stats", 1),
        ("handler_error", "stats", 2),
        ("handler_error", "bookings", 1),
    )
    first = await ctl("dlq", "replay", TOPIC, "--all", "--yes")
    assert first.code == 0, first
    assert "replayed 2 dead letters" in first.out, first
    assert "1 dead letter of the same original records, replayed once" in first.out, first

    again = await ctl("dlq", "replay", TOPIC, "--all", "--yes")
    assert again.code == 0, again
    assert "nothing to replay" in again.out, again
    assert "3 dead letters already replayed, skipped" in again.out, again
    one = await ctl("dlq", "replay", TOPIC, "--offset", bookings_1.at)
    assert (one.code, "nothing to replay" in one.out) == (0, True), one

    sent = await replayed_from(ctl)
    assert sent == Counter({stats_1.source: 1, other.source: 1})
    origins = {letter.source: letter.origin for letter in (stats_1, other, bookings_1)}
    assert Counter(origins[source] for source in sent.elements()) == Counter(
        {stats_1.origin: 1, other.origin: 1}
    )
    rows = (await ctl("dlq", "list", TOPIC, "--json")).json()
    assert {row["at"]: row["replay_marked"] for row in rows} == {
        stats_1.at: stats_1.at,
        other.at: other.at,
        bookings_1.at: stats_1.at,
    }


async def test_all_without_yes_refuses_when_no_one_can_answer(quiet_namespace):
    ctl = quiet_namespace
    (letter,) = await craft(ctl, ("handler_error", "stats", 1))
    refused = await ctl("dlq", "replay", TOPIC, "--all")  # standard input: /dev/null
    assert refused.code == 2, refused
    assert "--yes" in refused.err, refused
    assert await replayed_from(ctl) == Counter()
    assert await listed(ctl) == {letter.at: False}


async def test_all_asks_on_a_terminal_and_replays_only_when_told_yes(quiet_namespace):
    ctl = quiet_namespace
    (letter,) = await craft(ctl, ("handler_error", "stats", 1))
    terminal, answers = pty.openpty()  # the terminal's side, and coachctl's standard input
    try:
        os.write(terminal, b"n\n")
        declined = await ctl("dlq", "replay", TOPIC, "--all", stdin=answers)
        assert declined.code == 1, declined
        assert "1 dead letter: handler_error by stats" in declined.out, declined
        assert await replayed_from(ctl) == Counter()
        os.write(terminal, b"y\n")
        accepted = await ctl("dlq", "replay", TOPIC, "--all", stdin=answers)
        assert accepted.code == 0, accepted
    finally:
        os.close(terminal)
        os.close(answers)
    assert await replayed_from(ctl) == Counter({letter.source: 1})


async def test_replay_markers_are_never_listed_or_shown_as_dead_letters(quiet_namespace):
    ctl = quiet_namespace
    letters = await craft(ctl, ("handler_error", "stats", 1), ("handler_error", "bookings", 2))
    assert (await ctl("dlq", "replay", TOPIC, "--all", "--yes")).code == 0

    on_the_topic = await _records(ctl, dlq(TOPIC))
    markers = [seen for seen in on_the_topic if "dlq_replayed" in seen.headers]
    assert sorted(m.headers["dlq_replayed"] for m in markers) == sorted(
        letter.source for letter in letters
    )
    assert all(marker.value == b"" for marker in markers)
    every_topic = (await ctl("dlq", "list", "--json")).json()
    assert sorted(row["at"] for row in every_topic) == sorted(letter.at for letter in letters)
    pretty = await ctl("dlq", "list", TOPIC)
    assert "2 dead letters (2 replayed)" in pretty.out, pretty
    marker = markers[0]
    shown = await ctl("dlq", "show", TOPIC, f"{marker.partition}@{marker.offset}")
    assert shown.code == 1, shown
    assert "replay marker" in shown.err, shown
