"""Domain values -> contract events."""

from __future__ import annotations

from coaching_contracts.events import UserRegistered
from coaching_users.domain import User


def user_registered(user: User) -> UserRegistered:
    return UserRegistered(
        user_id=user.id,
        email=user.email,
        first_name=user.first_name,
        last_name=user.last_name,
        phone_number=user.phone_number,
        role=user.role.value,
        created_at=user.created_at,
        updated_at=user.updated_at,
    )
