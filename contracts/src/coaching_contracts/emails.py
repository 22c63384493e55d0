"""The platform's one email rule: what an address looks like, and when two addresses are one.

The contract checks the shape of every address on the wire (`values.Email`); the users
service judges uniqueness on `normalized_email`. Standard library only, so that a domain
applies the very same rule without depending on pydantic.
"""

from __future__ import annotations

import re
import unicodedata

MAX_CHARS = 254  # RFC 5321's limit

# A light check only: one @, a dot in the domain, no whitespace or control characters.
# Deliverability is not the contract's business (and email-validator is not a dependency).
_PART = r"[^@\s\x00-\x1f\x7f-\x9f]+"
PATTERN = rf"^{_PART}@{_PART}\.{_PART}$"
_ADDRESS = re.compile(PATTERN)


def is_email(text: str) -> bool:
    """Whether `text`, as given (not trimmed), has the shape of an address."""
    return len(text) <= MAX_CHARS and _ADDRESS.match(text) is not None


def normalized_email(email: str) -> str:
    """The form uniqueness is judged on: two addresses are one when these are equal.

    Unicode case folding, not lower(): it is Unicode's caseless match, and "same but for
    case" must be an equivalence. "straße" and "strasse" both upper-case to "STRASSE", so
    all three are one address (folded "strasse"); likewise the Greek capital, small and
    final sigma. lower() keeps ß apart from ss and the final sigma from the small one, and
    PostgreSQL's lower() under the C locale folds only A-Z. NFKC before folding, so that
    spellings a person reads as one address are one: é as one code point or as e + U+0301,
    fullwidth letters, the digraph U+01C5 (Dž) and D + ž; NFKC again after, since folding
    may denormalise (as in Unicode's NFKC_Casefold). The normalised form need not be an
    address any more (NFKC turns a fullwidth at sign into a second '@'): check it with
    `is_email` before relying on it."""
    folded = unicodedata.normalize("NFKC", email.strip()).casefold()
    return unicodedata.normalize("NFKC", folded)
