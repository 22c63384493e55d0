"""Registering users: the rules, through the use case with an in-memory unit of work."""

import uuid
from datetime import UTC, datetime

import pytest

from coaching_contracts.commands import RegisterUser
from coaching_users import domain, usecases

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


class FakeUsers:
    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, domain.User] = {}

    async def add(self, user: domain.User) -> None:
        if any(
            domain.canonical_email(u.email) == domain.canonical_email(user.email)
            for u in self.rows.values()
        ):
            raise domain.EmailTakenError(f"{user.email} is already registered")
        if user.id in self.rows:
            raise domain.UserIdTakenError(f"user {user.id} already exists")
        self.rows[user.id] = user

    async def get(self, user_id: uuid.UUID) -> domain.User | None:
        return self.rows.get(user_id)


class FakeUnitOfWork:
    def __init__(self) -> None:
        self.users = FakeUsers()


def _command(**overrides) -> RegisterUser:
    fields = {
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "role": "COACH",
    }
    return RegisterUser(**{**fields, **overrides})


async def test_a_coach_registers_and_the_event_carries_the_full_user():
    uow, user_id = FakeUnitOfWork(), uuid.uuid4()
    event = await usecases.register_user(uow, _command(phone_number=" +1 555 "), user_id, NOW)
    assert event.user_id == user_id
    assert (event.email, event.role, event.phone_number) == ("ada@example.com", "COACH", "+1 555")
    assert event.created_at == event.updated_at == NOW
    assert uow.users.rows[user_id].first_name == "Ada"


async def test_the_same_email_in_another_case_is_a_conflict():
    uow = FakeUnitOfWork()
    await usecases.register_user(uow, _command(), uuid.uuid4(), NOW)
    with pytest.raises(domain.EmailTakenError) as caught:
        await usecases.register_user(uow, _command(email="ADA@Example.COM"), uuid.uuid4(), NOW)
    assert caught.value.code == "conflict"


async def test_a_taken_user_id_is_a_conflict():
    uow, user_id = FakeUnitOfWork(), uuid.uuid4()
    await usecases.register_user(uow, _command(), user_id, NOW)
    with pytest.raises(domain.UserIdTakenError):
        await usecases.register_user(uow, _command(email="other@example.com"), user_id, NOW)


@pytest.mark.parametrize(
    "email", ["no-at-sign.example.com", "two@@example.com", "a@nodot", "sp ace@x.io"]
)
def test_malformed_emails_are_invalid(email):
    with pytest.raises(domain.InvalidUserError) as caught:
        domain.register(
            user_id=uuid.uuid4(),
            email=email,
            first_name="A",
            last_name="B",
            phone_number=None,
            role="STUDENT",
            now=NOW,
        )
    assert caught.value.code == "invalid"


def test_blank_names_and_unknown_roles_are_invalid():
    base = {"user_id": uuid.uuid4(), "email": "a@b.io", "phone_number": None, "now": NOW}
    with pytest.raises(domain.InvalidUserError):
        domain.register(first_name="  ", last_name="B", role="COACH", **base)
    with pytest.raises(domain.InvalidUserError):
        domain.register(first_name="A", last_name="B", role="ADMIN", **base)


def test_email_uniqueness_ignores_case_and_surrounding_space():
    assert domain.canonical_email("  Ada@Example.com ") == domain.canonical_email("ada@example.COM")
