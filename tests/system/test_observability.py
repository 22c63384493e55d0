"""What an operator sees of running services: Prometheus metrics, a trace that follows one
command through every service, and log lines that carry the message's ids."""

import uuid

import httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families

from coaching_contracts.commands import CreateBooking, RegisterUser
from coaching_contracts.events import BookingConfirmed, BookingRequested, SlotReserved
from coaching_contracts.topics import BOOKINGS_COMMANDS, USERS_COMMANDS
from coaching_contracts.values import Role
from coaching_kit.envelope import Envelope

CONFIRMED = BookingConfirmed.TYPE
REGISTER = RegisterUser.TYPE


def _traceparent() -> tuple[str, str]:
    trace_id, span_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    return trace_id, f"00-{trace_id}-{span_id}-01"


async def _metrics(service) -> dict[tuple[str, tuple], float]:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{service.port}/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _value(metrics: dict, name: str, **labels: str) -> float:
    return sum(
        value
        for (sample, sample_labels), value in metrics.items()
        if sample == name and labels.items() <= dict(sample_labels).items()
    )


async def test_a_booking_carries_the_commands_trace_through_every_service(platform):
    coach, student = await platform.register(Role.COACH), await platform.register(Role.STUDENT)
    await platform.until_known("slots", [coach])
    await platform.until_known("bookings", [student])
    slot = await platform.create_slot(coach, 3600, 7200)
    trace_id, traceparent = _traceparent()
    command = CreateBooking(slot_id=slot.json()["slotId"], student_id=student)
    sent = await platform.bus.send_command(
        BOOKINGS_COMMANDS, command, extra_headers={"traceparent": traceparent}
    )
    confirmed = await platform.outcome(sent.id, {CONFIRMED})
    saga = platform.seen.matching(lambda s: s.correlation_id == sent.id)
    assert {s.type for s in saga} >= {BookingRequested.TYPE, SlotReserved.TYPE, CONFIRMED}
    for record in saga:  # one trace, each hop its own span
        version, trace, span, _flags = record.headers["traceparent"].split("-")
        assert (version, trace) == ("00", trace_id)
        assert span != traceparent.split("-")[2]
    assert confirmed.headers["traceparent"] != saga[0].headers["traceparent"]


async def test_metrics_count_what_each_service_handled_by_type_and_outcome(platform):
    services = platform.processes
    email = f"metrics-{uuid.uuid4().hex[:8]}@example.com"
    first = RegisterUser(email=email, first_name="M", last_name="E", role=Role.COACH)
    await platform.answer(USERS_COMMANDS, first)
    again = await platform.answer(USERS_COMMANDS, first)  # same email: rejected, conflict
    assert again.json()["code"] == "conflict"
    broken = Envelope.new(type=REGISTER, source="/tests")
    await platform.bus.send_raw(USERS_COMMANDS, b"{not json", broken.headers().items())
    await platform.outcome(broken.id)
    made_up = Envelope.new(type=f"made-up.{uuid.uuid4().hex}", source="/tests")
    await platform.bus.send_raw(USERS_COMMANDS, b"{}", made_up.headers().items())
    await platform.outcome(made_up.id)

    users = await _metrics(services["users"])
    handled = "coaching_messages_handled_total"
    assert _value(users, handled, type=REGISTER, outcome="applied") >= 1
    assert _value(users, handled, type=REGISTER, outcome="rejected") >= 1
    assert _value(users, handled, type=REGISTER, outcome="dead_lettered") >= 1
    assert _value(users, "coaching_command_rejections_total", code="conflict") >= 1
    assert _value(users, "coaching_dead_letters_total", reason="invalid_json") >= 1
    assert _value(users, "coaching_message_handling_seconds_count", type=REGISTER) >= 2
    assert _value(users, "coaching_outbox_published_total") >= 3
    for gauge in ("consumer_lag_records", "outbox_backlog_rows", "outbox_oldest_age_seconds"):
        assert (f"coaching_{gauge}", (("coaching_service", "users"),)) in users
    # A made-up ce_type is labelled `other`: clients cannot grow the label set.
    assert _value(users, handled, type="other", outcome="dead_lettered") >= 1
    assert not any(dict(labels).get("type", "").startswith("made-up") for _, labels in users)

    bookings = await _metrics(services["bookings"])
    assert ("coaching_auto_completion_lag_seconds", (("coaching_service", "bookings"),)) in bookings


async def test_log_lines_about_a_message_carry_its_ids(platform):
    services = platform.processes
    broken = Envelope.new(type=REGISTER, source="/tests")
    await platform.bus.send_raw(USERS_COMMANDS, b"[]", broken.headers().items())
    await platform.outcome(broken.id)
    lines = [orjson.loads(line) for line in services["users"].log_tail(200).splitlines() if line]
    about = [line for line in lines if line.get("ce_id") == broken.id]
    assert any("dead-lettered" in line["message"] for line in about), lines[-5:]
    assert all(
        line["dlq_origin"].startswith(platform.bus.prefix + USERS_COMMANDS) for line in about
    )
