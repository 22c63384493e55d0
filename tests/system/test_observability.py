"""What an operator sees of running services: Prometheus metrics, a trace that follows one
command through every service, and log lines that carry the message's ids."""

import uuid

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from coaching_contracts.commands import CreateBooking, RegisterUser
from coaching_contracts.topics import BOOKINGS_COMMANDS, USERS_COMMANDS
from coaching_kit.envelope import Envelope
from coaching_kit.testing.groups import until_group_settled

from .driver import ALL_EVENTS, Platform

CONFIRMED = "coaching.booking.confirmed.v1"
REGISTER = RegisterUser.TYPE


@pytest.fixture(scope="module")
async def running(stack, topic_prefix, scratch_database, run_service, bus):
    """users, slots and bookings as processes, and a client of them."""
    services, databases = {}, {}
    for name in ("users", "slots", "bookings"):
        databases[name] = await scratch_database(name)
        services[name] = await run_service(name, databases[name])
    for name in databases:
        await until_group_settled(stack.kafka_bootstrap, topic_prefix + name, members=1)
    async with bus.watch(*ALL_EVENTS) as events:
        yield Platform(bus, events, databases), services
    for service in services.values():
        await service.stop()


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


async def test_a_booking_carries_the_commands_trace_through_every_service(running):
    platform, _ = running
    coach, student = await platform.register("COACH"), await platform.register("STUDENT")
    await platform.until_known("slots", [coach])
    await platform.until_known("bookings", [student])
    slot = await platform.create_slot(coach, 3600, 7200)
    trace_id, traceparent = _traceparent()
    command = CreateBooking(slot_id=slot.json()["slotId"], student_id=student)
    sent = await platform.bus.send_command(
        BOOKINGS_COMMANDS, command, extra_headers={"traceparent": traceparent}
    )
    confirmed = await platform.outcome(sent.id, {CONFIRMED})
    saga = [s for s in platform.events.seen if s.correlation_id == sent.id]
    assert {s.type for s in saga} >= {
        "coaching.booking.requested.v1",
        "coaching.slot.reserved.v1",
        CONFIRMED,
    }
    for record in saga:  # one trace, each hop its own span
        version, trace, span, _flags = record.headers["traceparent"].split("-")
        assert (version, trace) == ("00", trace_id)
        assert span != traceparent.split("-")[2]
    assert confirmed.headers["traceparent"] != saga[0].headers["traceparent"]


async def test_metrics_count_what_each_service_handled_by_type_and_outcome(running):
    platform, services = running
    email = f"metrics-{uuid.uuid4().hex[:8]}@example.com"
    first = RegisterUser(email=email, first_name="M", last_name="E", role="COACH")
    await platform.send(USERS_COMMANDS, first)
    again = await platform.send(USERS_COMMANDS, first)  # same email: rejected, conflict
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
        assert (f"coaching_{gauge}", (("service", "users"),)) in users
    # A made-up ce_type is labelled `other`: clients cannot grow the label set.
    assert _value(users, handled, type="other", outcome="dead_lettered") >= 1
    assert not any(dict(labels).get("type", "").startswith("made-up") for _, labels in users)

    bookings = await _metrics(services["bookings"])
    assert ("coaching_auto_completion_lag_seconds", (("service", "bookings"),)) in bookings


async def test_log_lines_about_a_message_carry_its_ids(running):
    platform, services = running
    broken = Envelope.new(type=REGISTER, source="/tests")
    await platform.bus.send_raw(USERS_COMMANDS, b"[]", broken.headers().items())
    await platform.outcome(broken.id)
    lines = [orjson.loads(line) for line in services["users"].log_tail(200).splitlines() if line]
    about = [line for line in lines if line.get("ce_id") == broken.id]
    assert any("dead-lettered" in line["message"] for line in about), lines[-5:]
    assert all(
        line["dlq_origin"].startswith(platform.bus.prefix + USERS_COMMANDS) for line in about
    )
