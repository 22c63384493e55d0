"""Book a slot from your own backend with FastStream, and hear the outcome on your reply topic.

The command goes to `bookings.commands` with the headers `command_headers` builds: its
CloudEvents headers plus FastStream's `reply_to` and `correlation_id`. The bookings service
publishes the booking's final outcome (`booking.confirmed`, `booking.rejected` or
`command.rejected`) on `bookings.events`, and, because of `reply_to`, on the reply topic too.
One subscriber on the reply topic hands each reply to the request waiting for its
`correlation_id`. (Not `broker.request()`: FastStream's Kafka producer refuses it outside
its test client.)

    python docs/examples/book_a_slot.py --slot <slot-id> --student <student-id>

prints the outcome as one line of JSON; exit status 0 confirmed, 1 rejected, 3 no outcome
within --timeout (the booking may still be under way: see docs/integrating.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import uuid
from dataclasses import dataclass, field
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from coaching_contracts.commands import CreateBooking
from coaching_contracts.envelope import HEADER_TYPE, command_headers
from coaching_contracts.events import BookingConfirmed

# This backend's own reply topic. It must start with the platform's reply prefix
# (`replies.`) and exist before the first command names it: the platform never creates one.
REPLY_TOPIC = "replies.booking-api"
SOURCE = "/booking-api"


@dataclass(frozen=True)
class Outcome:
    type: str  # the outcome's ce_type
    data: dict[str, Any]  # its JSON value, camelCase


@dataclass
class Replies:
    """Requests waiting for their final outcome, by the `correlation_id` they sent."""

    waiting: dict[str, asyncio.Future[Outcome]] = field(default_factory=dict)

    def expect(self, correlation_id: str) -> asyncio.Future[Outcome]:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self.waiting[correlation_id] = future
        return future

    async def on_reply(self, message: KafkaMessage) -> None:
        """The reply topic's subscriber. A reply nobody waits for (its request gave up, or
        it was sent to an earlier run) is dropped."""
        future = self.waiting.pop(message.correlation_id, None)
        if future is not None and not future.done():
            future.set_result(Outcome(message.headers[HEADER_TYPE], json.loads(message.body)))


async def book(
    broker: KafkaBroker,
    replies: Replies,
    *,
    slot_id: uuid.UUID,
    student_id: uuid.UUID,
    prefix: str,
    reply_to: str,
    timeout: float,
) -> Outcome:
    """Ask for the slot and wait for the final outcome; TimeoutError when none came in time.
    `prefix`: the platform's topic prefix (COACHING_TOPIC_PREFIX), if it has one."""
    # Naming the booking's id lets the caller know it at once, and it keys the record.
    command = CreateBooking(booking_id=uuid.uuid4(), slot_id=slot_id, student_id=student_id)
    # The ce_id is the idempotency key (a retry would send the same one) and the correlation
    # the reply comes back with.
    ce_id = str(uuid.uuid4())
    outcome = replies.expect(ce_id)
    try:
        await broker.publish(
            command.to_json(),
            topic=prefix + CreateBooking.TOPIC,
            key=str(command.booking_id).encode(),
            headers=command_headers(command, source=SOURCE, command_id=ce_id, reply_to=reply_to),
        )
        return await asyncio.wait_for(outcome, timeout)
    finally:
        replies.waiting.pop(ce_id, None)


def connect(bootstrap: str, reply_to: str, replies: Replies) -> KafkaBroker:
    # enable_idempotence (and so acks=all): a send the client retries is written once. Logs
    # go through the standard logging module (to stderr here), leaving stdout to the result.
    broker = KafkaBroker(
        bootstrap,
        enable_idempotence=True,
        client_id="booking-api",
        logger=logging.getLogger("booking-api"),
    )
    # No consumer group: each replica of this backend reads its own reply topic whole. From
    # the earliest offset, so that no reply can slip past before the first fetch; an old
    # reply matches no waiting request and is dropped.
    broker.subscriber(reply_to, auto_offset_reset="earliest")(replies.on_reply)
    return broker


async def main() -> int:
    args = _arguments()
    logging.basicConfig(level=logging.INFO)
    replies = Replies()
    # With COACHING_TOPIC_PREFIX set, every topic name of the platform starts with it.
    reply_to = args.prefix + args.reply_topic
    broker = connect(args.bootstrap, reply_to, replies)
    await broker.start()
    try:
        outcome = await book(
            broker,
            replies,
            slot_id=args.slot,
            student_id=args.student,
            prefix=args.prefix,
            reply_to=reply_to,
            timeout=args.timeout,
        )
    except TimeoutError:
        print(json.dumps({"type": None, "data": None}))
        return 3
    finally:
        await broker.stop()
    print(json.dumps({"type": outcome.type, "data": outcome.data}))
    return 0 if outcome.type == BookingConfirmed.TYPE else 1


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Book a slot and print its final outcome.")
    parser.add_argument("--slot", type=uuid.UUID, required=True)
    parser.add_argument("--student", type=uuid.UUID, required=True)
    parser.add_argument(
        "--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    )
    parser.add_argument("--prefix", default=os.environ.get("COACHING_TOPIC_PREFIX", ""))
    parser.add_argument("--reply-topic", default=REPLY_TOPIC)
    parser.add_argument("--timeout", type=float, default=30.0)
    return parser.parse_args()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
