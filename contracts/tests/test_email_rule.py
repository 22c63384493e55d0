"""The platform's one email rule: the wire checks an address's shape with it, and two
addresses that differ only in Unicode case or compatibility form are one."""

import pytest
from pydantic import TypeAdapter, ValidationError

from coaching_contracts.emails import MAX_CHARS, is_email, normalized_email
from coaching_contracts.values import Email

WIRE = TypeAdapter(Email)
SHAPES = {
    "plain": ("ada@example.com", True),
    "subdomain and plus": ("ada+tag@mail.example.co.uk", True),
    "no at sign": ("ada.example.com", False),
    "two at signs": ("ada@b@example.com", False),
    "no dot in the domain": ("ada@localhost", False),
    "a space": ("ada lovelace@example.com", False),
    "a control character": ("ada\x07@example.com", False),
    "longest allowed": ("a" * (MAX_CHARS - 12) + "@example.com", True),
    "one too long": ("a" * (MAX_CHARS - 11) + "@example.com", False),
}


@pytest.mark.parametrize("case", SHAPES.values(), ids=SHAPES.keys())
def test_the_wire_and_the_rule_agree_on_what_an_address_looks_like(case):
    address, valid = case
    assert is_email(address) is valid
    if valid:
        assert WIRE.validate_python(address) == address
    else:
        with pytest.raises(ValidationError):
            WIRE.validate_python(address)


ONE_ADDRESS = {
    "ASCII case": ("Ada@Example.COM", "ada@example.com"),
    "sharp s": ("STRASSE@example.com", "stra\N{LATIN SMALL LETTER SHARP S}e@example.com"),
    "final sigma": (
        "\N{GREEK SMALL LETTER FINAL SIGMA}@example.com",
        "\N{GREEK SMALL LETTER SIGMA}@example.com",
    ),
    "combining accent": ("e\N{COMBINING ACUTE ACCENT}@example.com", "é@example.com"),
    "fullwidth letters": ("\N{FULLWIDTH LATIN SMALL LETTER A}da@example.com", "ada@example.com"),
    "surrounding spaces": ("  ada@example.com ", "ada@example.com"),
}


@pytest.mark.parametrize("pair", ONE_ADDRESS.values(), ids=ONE_ADDRESS.keys())
def test_addresses_differing_only_in_case_or_form_are_one(pair):
    first, second = pair
    assert normalized_email(first) == normalized_email(second)


def test_addresses_differing_beyond_case_are_two():
    assert normalized_email("elodie@example.com") != normalized_email("élodie@example.com")


def test_a_normalised_address_can_stop_being_one():
    fullwidth_at = "ada\N{FULLWIDTH COMMERCIAL AT}b@example.com"
    assert is_email(fullwidth_at)
    assert not is_email(normalized_email(fullwidth_at))
