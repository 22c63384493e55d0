"""Times as an operator types them: RFC 3339 / ISO-8601 with an offset, `now`, or a moment
relative to now such as `+2h`, `+90m`, `+1d2h` (handy in a demo, where slots must lie in
the future). Naive times are refused, as the contract refuses them: they name a different
instant on every machine.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_RELATIVE = re.compile(r"\+(?:\d+[smhdw])+")
_PART = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
HELP = "RFC 3339 with an offset (2026-01-01T10:00:00Z), `now`, or relative: +30m, +2h, +1d2h."


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """An aware datetime, or ValueError saying what is accepted."""
    value = text.strip()
    moment = now or datetime.now(UTC)
    if value.lower() == "now":
        return moment
    if _RELATIVE.fullmatch(value):
        return moment + sum(
            (timedelta(**{_UNITS[unit]: int(n)}) for n, unit in _PART.findall(value)),
            timedelta(),
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not a time: {text!r}; use {HELP}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset; add one (e.g. Z or +02:00)")
    return parsed
