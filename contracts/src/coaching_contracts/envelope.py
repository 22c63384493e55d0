"""The CloudEvents 1.0 envelope on Kafka, binary content mode: names and rules only.

The contract does not depend on a CloudEvents SDK; `coaching_kit.envelope` builds and reads
the headers. This module is what both sides (and external publishers) agree on.

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

from typing import Final

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
