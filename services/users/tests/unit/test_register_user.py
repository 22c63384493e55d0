"""Registering users: the rules, through the use case with an in-memory unit of work."""

import uuid
from datetime import UTC, datetime

import pytest

from coaching_contracts.commands import RegisterUser
from coaching_contracts.emails import normalized_email
from coaching_users import domain, usecases

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


class FakeUsers:
    def __init__(self) -> None:
        self.rows: dict[uuid.UUID, domain.User] = {}

    async def add(self, user: domain.User) -> None:
        if any(
            normalized_email(u.email) == normalized_email(user.email) for u in self.rows.values()
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
    "email",
    [
        "no-at-sign.example.com",
        "two@@example.com",
        "a@nodot",
        "sp ace@x.io",
        # An address that is no address once normalised:
        "ada@b\N{FULLWIDTH COMMERCIAL AT}x.io",  # a second '@' once normalised
        "\N{ARABIC LIGATURE SALLALLAHOU ALAYHE WASALLAM}@x.io",  # spaces once normalised
        "\N{ARABIC LIGATURE SALLALLAHOU ALAYHE WASALLAM}" * 5 + "@x.io",
        "\N{LATIN SMALL LETTER SHARP S}" * 240 + "@x.io",  # 485 characters once normalised
    ],
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


# Pairs spelled with \N{...}: what each character is matters here, and it is invisible.
ONE_ADDRESS = {
    "ASCII case and surrounding space": ("  Ada@Example.com ", "ada@example.COM"),
    "accented capitals": ("\N{LATIN CAPITAL LETTER E WITH ACUTE}LODIE@x.io", "élodie@x.io"),
    "sharp s and SS": ("STRASSE@example.com", "stra\N{LATIN SMALL LETTER SHARP S}e@example.com"),
    "capital sharp s": ("\N{LATIN CAPITAL LETTER SHARP S}@x.io", "ss@x.io"),
    "final and small sigma": (
        "\N{GREEK SMALL LETTER SIGMA}\N{GREEK SMALL LETTER FINAL SIGMA}@x.gr",
        "\N{GREEK CAPITAL LETTER SIGMA}\N{GREEK CAPITAL LETTER SIGMA}@x.gr",
    ),
    "titlecase digraph": (
        "\N{LATIN CAPITAL LETTER D WITH SMALL LETTER Z WITH CARON}ana@x.io",
        "\N{LATIN SMALL LETTER DZ WITH CARON}ana@x.io",
    ),
    "digraph and its two letters": (
        "\N{LATIN CAPITAL LETTER DZ WITH CARON}ANA@x.io",
        "d\N{LATIN SMALL LETTER Z WITH CARON}ana@x.io",
    ),
    "composed and decomposed": ("\N{LATIN SMALL LETTER E WITH ACUTE}@x.io", "e\u0301@x.io"),
    "fullwidth letters": ("\N{FULLWIDTH LATIN CAPITAL LETTER A}da@x.io", "ada@x.io"),
}
TWO_ADDRESSES = {
    "different letters": ("ada@x.io", "adb@x.io"),
    "accent kept": ("elodie@x.io", "élodie@x.io"),
    # Unicode's default folding, not Turkish: dotted capital I is i + a combining dot.
    "dotted capital I": ("\N{LATIN CAPITAL LETTER I WITH DOT ABOVE}@x.io", "i@x.io"),
}


@pytest.mark.parametrize("pair", ONE_ADDRESS.values(), ids=ONE_ADDRESS.keys())
def test_addresses_equal_in_any_unicode_case_are_one(pair):
    first, second = pair
    assert normalized_email(first) == normalized_email(second)


@pytest.mark.parametrize("pair", TWO_ADDRESSES.values(), ids=TWO_ADDRESSES.keys())
def test_addresses_differing_beyond_case_are_two(pair):
    first, second = pair
    assert normalized_email(first) != normalized_email(second)
