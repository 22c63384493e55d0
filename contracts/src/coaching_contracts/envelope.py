"""The CloudEvents 1.0 envelope on Kafka, binary content mode: names, rules, and the headers
of a command.

The contract does not depend on a CloudEvents SDK. `coaching_kit.envelope` builds and reads
every message's headers inside the services; `command_headers` builds a command's for
external publishers. This module is what both sides agree on.

A message is one Kafka record:
- value: the message's JSON data (`WireModel.to_json()`), `content-type: application/json`;
- key: the `ce_subject` (`WireModel.subject()`);
- headers, each a UTF-8 string:

  ==================  =========================================================
  ce_specversion      always "1.0"
  ce_id               unique per message; publishers use a UUID. For a command it
                      is the idempotency key: the same ce_id twice has one effect
                      and one outcome.
  ce_source           URI-reference of the producer, e.g. "/coaching/bookings"
  ce_type             the message type, `coaching.<entity>.<verb>.v1` (registry)
  ce_time             RFC 3339 with an offset, when it happened / was sent
  ce_subject          the aggregate id; for an event, equal to its Kafka key
  ce_correlationid    extension: carried unchanged from the originating command
                      through everything it causes; defaults to that command's
                      ce_id. Clients match a command's outcome on it.
  ce_causationid      extension: the ce_id of the direct parent message (absent on
                      an originating command)
  content-type        "application/json"
  reply_to            request/reply (FastStream's header): a topic that also
                      receives the command's final outcome
  correlation_id      request/reply: what that reply carries; the command's
                      ce_id when absent
  traceparent         W3C trace context, optional; tracestate goes with it
  ==================  =========================================================

Rules:
- The Kafka key of an event is its aggregate id (userId, slotId, bookingId; coachId on
  `stats.events`), so one aggregate's events stay in order on one partition.
- Every command has exactly one outcome event, published with `ce_correlationid` equal to
  the command's correlation id and `ce_causationid` equal to the command's ce_id.
- A record without a readable ce_type, with an unknown one, or whose value does not
  validate against its model is dead-lettered to `<topic>.dlq`; if its ce_id is readable
  it also gets a `coaching.command.rejected.v1` with code `invalid`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Final

from coaching_contracts.base import WireModel

SPECVERSION: Final = "1.0"
CONTENT_TYPE_JSON: Final = "application/json"

# Kafka header names of the binary mode ("ce_" + attribute name, per the Kafka binding).
HEADER_SPECVERSION: Final = "ce_specversion"
HEADER_ID: Final = "ce_id"
HEADER_SOURCE: Final = "ce_source"
HEADER_TYPE: Final = "ce_type"
HEADER_TIME: Final = "ce_time"
HEADER_SUBJECT: Final = "ce_subject"
HEADER_CORRELATION_ID: Final = "ce_correlationid"
HEADER_CAUSATION_ID: Final = "ce_causationid"
# The binding maps datacontenttype to the plain `content-type` header, not `ce_`-prefixed.
HEADER_CONTENT_TYPE: Final = "content-type"
# FastStream's request/reply headers, as the services read and write them.
HEADER_REPLY_TO: Final = "reply_to"
HEADER_REPLY_CORRELATION_ID: Final = "correlation_id"
HEADER_TRACEPARENT: Final = "traceparent"
HEADER_TRACESTATE: Final = "tracestate"
# The longest ce_id, ce_correlationid and correlation_id: the consumers store them (inbox,
# saga state), so a longer one is dead-lettered.
MAX_ID_CHARS: Final = 300

# Extension attribute names (CloudEvents allows only lowercase a-z0-9 there).
CORRELATION_ID_ATTRIBUTE: Final = "correlationid"
CAUSATION_ID_ATTRIBUTE: Final = "causationid"

# Headers every message must carry; ce_subject and ce_causationid may be absent.
REQUIRED_HEADERS: Final = (
    HEADER_SPECVERSION,
    HEADER_ID,
    HEADER_SOURCE,
    HEADER_TYPE,
    HEADER_TIME,
    HEADER_CORRELATION_ID,
    HEADER_CONTENT_TYPE,
)


def command_headers(
    command: WireModel, *, source: str, command_id: str | None = None, reply_to: str | None = None
) -> dict[str, str]:
    """The Kafka headers of `command`, as the services read them.

    `command_id` is the `ce_id`, the command's idempotency key: publish a retry under the
    same one; by default it is a new UUID. It is also the correlation, so the outcome carries
    it as `ce_correlationid` and, on `reply_to`, as `correlation_id`. `source` is the
    publisher's URI-reference, e.g. `/booking-api`. Values are text: a client that wants
    bytes (aiokafka) takes `[(name, value.encode()) for name, value in headers.items()]`.
    """
    ce_id = str(uuid.uuid4()) if command_id is None else command_id
    if not 0 < len(ce_id) <= MAX_ID_CHARS:
        raise ValueError(f"command_id must be 1..{MAX_ID_CHARS} characters")
    headers = {
        HEADER_SPECVERSION: SPECVERSION,
        HEADER_ID: ce_id,
        HEADER_SOURCE: source,
        HEADER_TYPE: command.TYPE,
        HEADER_TIME: datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        HEADER_CORRELATION_ID: ce_id,
        HEADER_CONTENT_TYPE: CONTENT_TYPE_JSON,
    }
    subject = command.subject()
    if subject is not None:
        headers[HEADER_SUBJECT] = subject
    if reply_to is not None:
        headers |= {HEADER_REPLY_TO: reply_to, HEADER_REPLY_CORRELATION_ID: ce_id}
    return headers
