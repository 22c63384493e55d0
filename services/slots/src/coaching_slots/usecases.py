"""Use cases of the slots service: one async function per command or consumed event."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Protocol, TypeGuard

from coaching_contracts.commands import CreateSlot, DeleteSlot
from coaching_contracts.events import (
    BookingCancelled,
    BookingRequested,
    SlotCreated,
    SlotDeleted,
    SlotReservationRejected,
    SlotReserved,
)
from coaching_slots import domain, messages


class SlotRepository(Protocol):
    async def add(self, slot: domain.Slot) -> None: ...
    async def get(self, slot_id: uuid.UUID, *, for_update: bool = False) -> domain.Slot | None: ...
    async def mark_deleted(self, slot: domain.Slot) -> None: ...
    async def get_all(self, slot_ids: set[uuid.UUID]) -> dict[uuid.UUID, domain.Slot]: ...
    async def reserve_first(
        self, asked: list[tuple[uuid.UUID, uuid.UUID]], now: datetime, bookable_after: datetime
    ) -> dict[uuid.UUID, domain.Slot]: ...
    async def release(self, slot_id: uuid.UUID, booking_id: uuid.UUID, now: datetime) -> bool: ...


class UserDirectory(Protocol):
    async def role_of(self, user_id: uuid.UUID) -> str | None: ...


class UnitOfWork(Protocol):
    """What the use cases need; the consumer owns the transaction around them."""

    @property
    def slots(self) -> SlotRepository: ...

    @property
    def users(self) -> UserDirectory: ...


async def create_slot(
    uow: UnitOfWork, cmd: CreateSlot, slot_id: uuid.UUID, now: datetime, policies: domain.Policies
) -> SlotCreated:
    domain.require_coach(await uow.users.role_of(cmd.coach_id), cmd.coach_id)
    slot = domain.new_slot(
        slot_id=slot_id,
        coach_id=cmd.coach_id,
        start_time=cmd.start_time,
        end_time=cmd.end_time,
        now=now,
        policies=policies,
    )
    await uow.slots.add(slot)
    return messages.slot_created(slot)


async def delete_slot(uow: UnitOfWork, cmd: DeleteSlot, now: datetime) -> SlotDeleted:
    # Locked until commit, so a reservation cannot slip in between this check and the write.
    slot = await uow.slots.get(cmd.slot_id, for_update=True)
    deleted = domain.delete(slot, slot_id=cmd.slot_id, actor_id=cmd.actor_id, now=now)
    await uow.slots.mark_deleted(deleted)
    return messages.slot_deleted(deleted)


async def reserve_slot(
    uow: UnitOfWork, event: BookingRequested, now: datetime, policies: domain.Policies
) -> SlotReserved | SlotReservationRejected:
    """One request: a run of one."""
    (answer,) = await reserve_slots(uow, [event], now, policies)
    return answer


async def reserve_slots(
    uow: UnitOfWork, events: list[BookingRequested], now: datetime, policies: domain.Policies
) -> list[SlotReserved | SlotReservationRejected]:
    """The booking saga's step on this side, for a run of requests in order: hold each slot
    for its booking, or say why not. Of several requests for one free slot the first wins,
    as if they had been handled one after the other."""
    asked = [(event.slot_id, event.booking_id) for event in events]
    held = await uow.slots.reserve_first(asked, now, policies.bookable_after(now))
    # Read after the statement: a request that lost (to a request of this run or to another
    # transaction) is judged on the winner's row.
    missed = {slot for slot, booking in asked if not _holds(held.get(slot), booking)}
    current = await uow.slots.get_all(missed) if missed else {}
    answers: list[SlotReserved | SlotReservationRejected] = []
    for slot_id, booking_id in asked:
        won = held.get(slot_id)
        outcome = (
            won
            if _holds(won, booking_id)
            else domain.reservation_outcome(
                current.get(slot_id), booking_id=booking_id, now=now, policies=policies
            )
        )
        if isinstance(outcome, domain.ReservationRefused):
            answers.append(messages.reservation_rejected(slot_id, booking_id, outcome))
        else:
            answers.append(messages.slot_reserved(outcome, booking_id))
    return answers


def _holds(slot: domain.Slot | None, booking_id: uuid.UUID) -> TypeGuard[domain.Slot]:
    return slot is not None and slot.held_by(booking_id)


async def release_slot(uow: UnitOfWork, event: BookingCancelled, now: datetime) -> None:
    """A cancelled booking's time no longer blocks its coach; the slot stays UNAVAILABLE."""
    await uow.slots.release(event.slot_id, event.booking_id, now)
