"""The base of every wire message, and the one datetime type the contract allows.

Wire rules that hold for every message of contract v1:
- JSON field names are camelCase; Python code may also use snake_case
  names on input, and serialises camelCase by default.
- Unknown fields are ignored, so a v1 reader keeps working when a v1 writer adds a field
  (the tolerant-reader half of "additive changes only within v1").
- Messages are frozen values: a consumer cannot mutate what it received by accident.
- Times are instants: an offset is required on input, and every time is normalised to UTC.
  They serialise as RFC 3339 with the `Z` suffix, e.g. `2026-01-01T10:00:00Z`, with
  fractional seconds only when they are not zero (`2026-01-01T10:00:00.250000Z`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

RFC3339_EXAMPLE = "2026-01-01T10:00:00Z"


def _reject_epoch_numbers(value: Any) -> Any:
    # Pydantic would read 1767261600 as a UTC time; the contract says RFC 3339 strings, and
    # a number with unknown unit (s or ms?) is exactly the ambiguity that rule avoids.
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise PydanticCustomError(
            "rfc3339_required",
            "Expected an RFC 3339 date-time string with an offset, e.g. {example}, not a number",
            {"example": RFC3339_EXAMPLE},
        )
    return value


def _require_offset_and_normalise(value: datetime) -> datetime:
    # A naive time means a different instant on every machine that reads it.
    if value.tzinfo is None or value.utcoffset() is None:
        raise PydanticCustomError(
            "timezone_required",
            "Naive date-time rejected: add a UTC offset (RFC 3339), e.g. {example}",
            {"example": RFC3339_EXAMPLE},
        )
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # Year 1 at +01:00 is an instant before datetime.min in UTC: out of range, not a crash.
        raise PydanticCustomError(
            "datetime_out_of_range", "Date-time out of range once converted to UTC"
        ) from None


UtcDateTime = Annotated[
    datetime,
    BeforeValidator(_reject_epoch_numbers),
    AfterValidator(_require_offset_and_normalise),
]
"""An aware instant, normalised to UTC; JSON form `2026-01-01T10:00:00Z`."""


def _field_title(name: str, _info: Any) -> str:
    return " ".join(word.capitalize() for word in name.split("_"))


class WireModel(BaseModel):
    """A message of the public contract: a command, an event, or a shared part of one.

    Each concrete message class sets the following (the shared `SlotState` and
    `BookingState` parts set only KEY):
    - `TYPE`: its CloudEvents `ce_type`, `coaching.<entity>.<verb>.v1`;
    - `TOPIC`: the Kafka topic it travels on (None only for `CommandRejected`, which goes on
      the events topic of the service that received the command);
    - `KEY`: the Python name of the field whose value is the Kafka key and `ce_subject`
      (the aggregate id). Every event has one; a command's key is only a recommendation
      for publishers (it keeps one aggregate's commands in order).
    - `OUTCOMES` (commands only): the events that end the command, besides
      `CommandRejected`, which can end any command. One of them answers it, carrying its
      ce_id as `ce_correlationid`; it is also what a `reply_to` topic receives. Clients,
      tests and tools read them from the registry (`registry.outcomes_of`).
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="ignore",
        frozen=True,
        # Events are exported in serialization mode, where a field with a default is still
        # always written; marking it required tells gateways they can rely on it.
        json_schema_serialization_defaults_required=True,
        # Titles from the Python name ("Booking Id"); the alias would give "Bookingid".
        field_title_generator=_field_title,
    )

    TYPE: ClassVar[str]
    TOPIC: ClassVar[str | None] = None
    KEY: ClassVar[str | None] = None
    OUTCOMES: ClassVar[tuple[type[WireModel], ...]] = ()

    def to_json(self) -> bytes:
        """The Kafka value: camelCase JSON, times in RFC 3339 UTC."""
        return self.model_dump_json(by_alias=True).encode()

    def subject(self) -> str | None:
        """The Kafka key and `ce_subject`: the key field's value as text, None if unset."""
        if self.KEY is None:
            return None
        value = getattr(self, self.KEY)
        return None if value is None else str(value)
