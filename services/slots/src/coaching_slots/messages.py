"""Domain values -> contract events. Each slot event carries the slot's full current state."""

from __future__ import annotations

import uuid
from typing import Any

from coaching_contracts.events import (
    SlotCreated,
    SlotDeleted,
    SlotReservationRejected,
    SlotReserved,
)
from coaching_slots.domain import ReservationRefused, Slot


def slot_created(slot: Slot) -> SlotCreated:
    return SlotCreated(**_state(slot))


def slot_deleted(slot: Slot) -> SlotDeleted:
    return SlotDeleted(**_state(slot), status=slot.status.value)


def slot_reserved(slot: Slot, booking_id: uuid.UUID) -> SlotReserved:
    return SlotReserved(**_state(slot), booking_id=booking_id)


def reservation_rejected(
    slot_id: uuid.UUID, booking_id: uuid.UUID, refused: ReservationRefused
) -> SlotReservationRejected:
    return SlotReservationRejected(
        slot_id=slot_id, booking_id=booking_id, code=refused.code, message=refused.message
    )


def _state(slot: Slot) -> dict[str, Any]:
    """The fields every slot event carries; status is each event's own."""
    return {
        "slot_id": slot.id,
        "coach_id": slot.coach_id,
        "start_time": slot.start_time,
        "end_time": slot.end_time,
        "created_at": slot.created_at,
        "updated_at": slot.updated_at,
    }
