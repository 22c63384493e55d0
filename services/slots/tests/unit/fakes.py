"""An in-memory unit of work for the use-case tests."""

import uuid
from dataclasses import replace

from coaching_slots import domain


class FakeSlots:
    """Keeps the database's promises: the primary key, the no-overlap exclusion, and the
    guarded reservation statement."""

    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, domain.Slot] = {}

    async def add(self, slot: domain.Slot) -> None:
        if slot.id in self.rows:
            raise domain.SlotIdTakenError(f"slot {slot.id} already exists")
        if any(_overlap(s, slot) for s in self.rows.values()):
            raise domain.SlotOverlapError("overlap")
        self.rows[slot.id] = slot

    async def get(self, slot_id: uuid.UUID, *, for_update: bool = False) -> domain.Slot | None:
        return self.rows.get(slot_id)

    async def mark_deleted(self, slot: domain.Slot) -> None:
        self.rows[slot.id] = slot

    async def reserve_first(self, asked, now, bookable_after) -> dict:
        """As the SQL statement: per slot only its first request is tried."""
        tried, won = set(), {}
        for slot_id, booking_id in asked:
            if slot_id in tried:
                continue
            tried.add(slot_id)
            slot = self.rows.get(slot_id)
            if (
                slot is None
                or slot.deleted_at is not None
                or slot.status is not domain.SlotStatus.AVAILABLE
                or slot.start_time <= bookable_after
            ):
                continue
            self.rows[slot_id] = won[slot_id] = replace(
                slot, status=domain.SlotStatus.UNAVAILABLE, booking_id=booking_id, updated_at=now
            )
        return won

    async def get_all(self, slot_ids) -> dict:
        return {slot_id: self.rows[slot_id] for slot_id in slot_ids if slot_id in self.rows}

    async def release(self, slot_id, booking_id, now) -> bool:
        slot = self.rows.get(slot_id)
        if slot is None or not slot.held_by(booking_id):
            return False
        self.rows[slot_id] = replace(slot, released_at=now, updated_at=now)
        return True


class FakeUsers:
    def __init__(self) -> None:
        self.roles: dict[uuid.UUID, str] = {}

    async def role_of(self, user_id: uuid.UUID) -> str | None:
        return self.roles.get(user_id)


class FakeUnitOfWork:
    def __init__(self) -> None:
        self.slots = FakeSlots()
        self.users = FakeUsers()

    def user(self, role: str) -> uuid.UUID:
        user_id = uuid.uuid4()
        self.users.roles[user_id] = role
        return user_id


def _overlap(live: domain.Slot, new: domain.Slot) -> bool:
    """The exclusion constraint: same coach, intersecting half-open ranges, and the existing
    slot neither deleted nor released."""
    return (
        live.deleted_at is None
        and live.released_at is None
        and live.coach_id == new.coach_id
        and live.start_time < new.end_time
        and new.start_time < live.end_time
    )
