"""What the services' own tables say: each function returns one line per violation.

Each service's database is read on its own connection; no snapshot spans two databases, so
a check made while messages are in flight can see a moment of disagreement (a slot already
reserved whose booking is still PENDING). `settle` re-checks until such moments pass.
"""

from __future__ import annotations

import asyncpg

# Statuses in which a booking holds its slot (the bookings service's own definition).
HELD = ["ACTIVE", "COMPLETED", "CANCELLED", "NO_SHOW"]
COUNTERS = (
    "total_slots",
    "total_calls",
    "completed_slots",
    "cancelled_calls",
    "no_shows_by_student",
    "no_shows_by_coach",
    "review_count",
    "rating_sum",
)
Counters = dict[str, dict[str, int]]  # coach id -> counter -> value


async def double_booked_in_bookings(bookings: asyncpg.Connection) -> list[str]:
    rows = await bookings.fetch(
        "SELECT slot_id, array_agg(id::text ORDER BY id) AS ids FROM bookings"
        " WHERE status = ANY($1) GROUP BY slot_id HAVING count(*) > 1",
        HELD,
    )
    return [f"slot {r['slot_id']}: bookings {', '.join(r['ids'])} all hold it" for r in rows]


async def orphaned(slots: asyncpg.Connection, bookings: asyncpg.Connection) -> list[str]:
    """A reserved slot whose booking does not hold it, and a held booking whose slot is not
    reserved for it."""
    reserved = {
        str(r["id"]): str(r["booking_id"])
        for r in await slots.fetch("SELECT id, booking_id FROM slots WHERE status = 'UNAVAILABLE'")
    }
    rows = await bookings.fetch(
        "SELECT id, slot_id, status FROM bookings WHERE id = ANY($1::uuid[]) OR status = ANY($2)",
        list(reserved.values()),
        HELD,
    )
    return orphans(reserved, {str(r["id"]): (str(r["slot_id"]), r["status"]) for r in rows})


def orphans(reserved: dict[str, str], bookings: dict[str, tuple[str, str]]) -> list[str]:
    """`reserved`: slot -> the booking it is UNAVAILABLE for; `bookings`: id -> (slot, status)
    of those bookings and of every booking holding a slot."""
    lines = []
    for slot_id, booking_id in reserved.items():
        held_slot, status = bookings.get(booking_id, (None, "missing"))
        if held_slot != slot_id or status not in HELD:
            lines.append(f"slot {slot_id}: UNAVAILABLE for booking {booking_id} ({status})")
    lines += [
        f"booking {booking_id} ({status}): slot {slot_id} is not reserved for it"
        for booking_id, (slot_id, status) in bookings.items()
        if status in HELD and reserved.get(slot_id) != booking_id
    ]
    return lines


async def stuck(bookings: asyncpg.Connection, deadline_s: float) -> list[str]:
    rows = await bookings.fetch(
        "SELECT id, created_at FROM bookings WHERE status = 'PENDING'"
        " AND created_at < now() - make_interval(secs => $1) ORDER BY created_at",
        float(deadline_s),
    )
    return [f"booking {r['id']}: PENDING since {r['created_at'].isoformat()}" for r in rows]


async def unpublished(service: str, conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch(
        "SELECT id, topic, created_at FROM outbox WHERE published_at IS NULL ORDER BY id"
    )
    return [
        f"{service} outbox row {r['id']} for {r['topic']}, written {r['created_at'].isoformat()}"
        for r in rows
    ]


async def expected_stats(
    users: asyncpg.Connection, slots: asyncpg.Connection, bookings: asyncpg.Connection
) -> Counters:
    """Every coach's counters recomputed from the tables the other services own."""
    coaches = await users.fetch("SELECT id FROM users WHERE role = 'COACH'")
    expected: Counters = {str(r["id"]): dict.fromkeys(COUNTERS, 0) for r in coaches}
    for conn, query, args in (
        (slots, _SLOT_COUNTS, ()),
        (bookings, _BOOKING_COUNTS, (HELD,)),
        (bookings, _REVIEW_COUNTS, ()),
    ):
        for row in await conn.fetch(f"{query} GROUP BY coach_id", *args):
            counters = expected.setdefault(str(row["coach_id"]), dict.fromkeys(COUNTERS, 0))
            counters.update({k: int(v) for k, v in row.items() if k != "coach_id"})
    return expected


_SLOT_COUNTS = "SELECT coach_id, count(*) AS total_slots FROM slots WHERE deleted_at IS NULL"
_BOOKING_COUNTS = """
SELECT coach_id,
       count(*) FILTER (WHERE status = ANY($1)) AS total_calls,
       count(*) FILTER (WHERE status = 'COMPLETED') AS completed_slots,
       count(*) FILTER (WHERE status = 'CANCELLED') AS cancelled_calls,
       count(*) FILTER (WHERE status = 'NO_SHOW' AND no_show_by = 'STUDENT')
           AS no_shows_by_student,
       count(*) FILTER (WHERE status = 'NO_SHOW' AND no_show_by = 'COACH') AS no_shows_by_coach
FROM bookings WHERE coach_id IS NOT NULL"""
_REVIEW_COUNTS = (
    "SELECT coach_id, count(*) AS review_count, sum(satisfaction_score) AS rating_sum"
    " FROM call_reviews"
)


async def live_stats(stats: asyncpg.Connection) -> Counters:
    rows = await stats.fetch("SELECT * FROM coach_stats")
    return {str(r["coach_id"]): {k: int(r[k]) for k in COUNTERS} for r in rows}


def stats_differences(live: Counters, expected: Counters) -> list[str]:
    lines = []
    for coach in sorted(live.keys() | expected.keys()):
        have, want = live.get(coach), expected.get(coach)
        if have is None or want is None:
            where = "no stats row" if have is None else "a stats row but no such coach"
            lines.append(f"coach {coach}: row: {where}")
            continue
        lines += [
            f"coach {coach}: {name}: live={have[name]} expected={want[name]}"
            for name in COUNTERS
            if have[name] != want[name]
        ]
    return lines


def double_reservations(reservations: dict[str, set[str]]) -> list[str]:
    """From slots.events: a slot the slots service ever reserved for two bookings."""
    return [
        f"slot {slot}: reserved for bookings {', '.join(sorted(ids))}"
        for slot, ids in sorted(reservations.items())
        if len(ids) > 1
    ]
