"""Server-sent events: the caller's feed (feed.py), live, resumable with `Last-Event-ID`.

Each event's `id` is its number in the caller's feed, and its `data` the JSON a webhook gets
(`type`, `timestamp`, `data`). A client that reconnects with the last id it saw (browsers'
EventSource does so by itself) gets every later event, none twice (feed.py argues why).
Without one the stream starts from now; `?after=0` replays the whole feed. Any replica
serves any stream: a feed is in the database, and commits notify every replica.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query
from sqlalchemy import select
from sse_starlette import EventSourceResponse, ServerSentEvent

from coaching_gateway import feed, notify
from coaching_gateway.api.deps import MAX_BIGINT, Caller, Gateway, Parts
from coaching_gateway.db import feed_heads
from coaching_gateway.metrics import SSE_STREAMS
from coaching_gateway.problems import ProblemError, documented

router = APIRouter(prefix="/v1", tags=["events"])


@router.get(
    "/events",
    response_class=EventSourceResponse,
    responses={
        200: {"description": "An endless event stream.", "content": {"text/event-stream": {}}},
        **documented(401, 422, 429, 503),
    },
)
async def events(
    gateway: Gateway,
    caller: Caller,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_BIGINT, description="Start after this event id.")
    ] = None,
) -> EventSourceResponse:
    """The caller's events as they happen: its bookings' (and their reviews'), and a
    coach's own slots'."""
    start = _resume_point(last_event_id, after)
    if start is None:
        start = await _head(gateway, caller.user_id)
    stream = _entries(gateway, caller.user_id, start)
    return EventSourceResponse(stream, ping=gateway.settings.sse_ping_s)


def _resume_point(last_event_id: str | None, after: int | None) -> int | None:
    if last_event_id is None:
        return after
    if not last_event_id.isdigit() or int(last_event_id) > MAX_BIGINT:
        raise ProblemError("invalid", "Last-Event-ID is not an event id of this stream")
    return int(last_event_id)


async def _head(gateway: Parts, user_id: uuid.UUID) -> int:
    async with gateway.engine.connect() as conn:
        head = await conn.scalar(select(feed_heads.c.seq).where(feed_heads.c.user_id == user_id))
    return int(head or 0)


async def _entries(
    gateway: Parts, user_id: uuid.UUID, after: int
) -> AsyncIterator[ServerSentEvent]:
    """Entries after `after`, then each new one as it commits; ends when the client goes."""
    SSE_STREAMS.inc()
    try:
        with gateway.notifications.subscribe(notify.FEED, str(user_id)) as woken:
            while True:
                async with gateway.engine.connect() as conn:
                    entries = await feed.read(conn, user_id, after)
                for entry in entries:
                    yield ServerSentEvent(data=entry.body.decode(), id=str(entry.seq))
                    after = entry.seq
                if not entries:
                    await notify.wait(woken, gateway.settings.sse_poll_interval_s)
    finally:
        SSE_STREAMS.dec()
