"""Times on the wire are instants: an offset is required, and UTC is what comes out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

import pytest
from pydantic import ValidationError

from coaching_contracts import CreateSlot

COACH = uuid4()


def slot(start: object, end: object = "2026-03-01T12:00:00Z") -> CreateSlot:
    return CreateSlot.model_validate({"coachId": COACH, "startTime": start, "endTime": end})


@pytest.mark.parametrize("naive", ["2026-03-01T10:00:00", datetime(2026, 3, 1, 10)])
def test_naive_datetime_is_rejected_with_a_clear_message(naive: object) -> None:
    with pytest.raises(ValidationError, match="Naive date-time rejected: add a UTC offset") as err:
        slot(naive)

    assert err.value.errors()[0]["type"] == "timezone_required"


def test_date_without_time_is_rejected() -> None:
    with pytest.raises(ValidationError, match="startTime"):
        slot("2026-03-01")


@pytest.mark.parametrize("epoch", [1772359200, 1772359200.5])
def test_epoch_numbers_are_rejected(epoch: float) -> None:
    with pytest.raises(ValidationError, match="RFC 3339 date-time string"):
        slot(epoch)


def test_non_utc_offset_is_normalised_to_utc() -> None:
    command = slot("2026-03-01T12:30:00+02:00")

    assert command.start_time == datetime(2026, 3, 1, 10, 30, tzinfo=UTC)
    assert command.start_time.utcoffset() == timedelta(0)


def test_aware_python_datetime_in_another_zone_is_normalised_to_utc() -> None:
    command = slot(datetime(2026, 3, 1, 5, 30, tzinfo=timezone(timedelta(hours=-5))))

    assert command.start_time == datetime(2026, 3, 1, 10, 30, tzinfo=UTC)
    assert command.start_time.tzinfo is UTC


def test_times_serialise_as_rfc3339_with_z() -> None:
    wire = json.loads(slot("2026-03-01T12:30:00+02:00").to_json())

    assert wire["startTime"] == "2026-03-01T10:30:00Z"


def test_fractional_seconds_survive_the_round_trip() -> None:
    command = slot("2026-03-01T10:30:00.250+00:00")

    assert json.loads(command.to_json())["startTime"] == "2026-03-01T10:30:00.250000Z"
    assert CreateSlot.model_validate_json(command.to_json()) == command
