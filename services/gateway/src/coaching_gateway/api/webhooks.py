"""Webhook endpoints: a caller subscribes a URL to its own feed (feed.py), signed with the
Standard Webhooks scheme, and inspects and replays the deliveries. Every one needs a token
whose `scope` includes `webhooks:manage`."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from coaching_contracts.registry import EVENTS
from coaching_gateway.api.deps import MAX_BIGINT, Gateway, Parts, WebhookManager
from coaching_gateway.identity import Principal
from coaching_gateway.problems import ProblemError, documented
from coaching_gateway.schemas import (
    Delivery,
    NewWebhook,
    Page,
    Replay,
    Webhook,
    WebhookChange,
    WebhookCreated,
)
from coaching_gateway.webhooks import store
from coaching_gateway.webhooks.ssrf import Guard, UnsafeUrlError

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
_RESPONSES = documented(401, 403, 404, 409, 413, 422, 429, 503)


def _webhook(row: dict[str, Any]) -> Webhook:
    return Webhook(
        id=row["webhook_id"],
        url=row["url"],
        types=row["event_types"],
        enabled=row["enabled"],
        disabled_reason=row["disabled_reason"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def _owned(gateway: Parts, caller: Principal, webhook_id: uuid.UUID) -> dict[str, Any]:
    async with gateway.engine.connect() as conn:
        row = await store.get(conn, caller.user_id, webhook_id)
    if row is None:
        raise ProblemError("not_found", "no such webhook")
    return row


@router.post("", status_code=201, response_model=WebhookCreated, responses=_RESPONSES)
async def create_webhook(
    body: NewWebhook, response: Response, gateway: Gateway, caller: WebhookManager
) -> WebhookCreated:
    """Subscribe `url` to the caller's events of `types` (all when empty). The answer holds
    the signing secret, shown only this once."""
    try:
        await Guard(gateway.settings.webhook_allow_private).target(body.url)
    except UnsafeUrlError as exc:
        raise ProblemError("invalid", f"url: {exc}") from exc
    unknown = sorted(set(body.types) - set(EVENTS))
    if unknown:
        raise ProblemError("invalid", f"unknown event types: {', '.join(unknown)}")
    async with gateway.engine.begin() as conn:
        if await store.count(conn, caller.user_id) >= store.MAX_WEBHOOKS_PER_OWNER:
            raise ProblemError("conflict", f"at most {store.MAX_WEBHOOKS_PER_OWNER} webhooks")
        row = await store.create(conn, caller.user_id, body.url, body.types)
    response.headers["Location"] = f"/v1/webhooks/{row['webhook_id']}"
    return WebhookCreated(id=row["webhook_id"], secret=row["secret"])


@router.get("", response_model=Page[Webhook], responses=_RESPONSES)
async def list_webhooks(gateway: Gateway, caller: WebhookManager) -> Page[Webhook]:
    """The caller's endpoints, oldest first: one page (there are at most 10)."""
    async with gateway.engine.connect() as conn:
        rows = await store.owned(conn, caller.user_id)
    return Page[Webhook](items=[_webhook(row) for row in rows], next=None)


@router.get("/{webhook_id}", response_model=Webhook, responses=_RESPONSES)
async def get_webhook(webhook_id: uuid.UUID, gateway: Gateway, caller: WebhookManager) -> Webhook:
    return _webhook(await _owned(gateway, caller, webhook_id))


@router.patch("/{webhook_id}", response_model=Webhook, responses=_RESPONSES)
async def change_webhook(
    webhook_id: uuid.UUID, body: WebhookChange, gateway: Gateway, caller: WebhookManager
) -> Webhook:
    """Enable (after it was disabled for failing) or disable an endpoint. While disabled,
    its deliveries wait; enabled again, they go out in order."""
    async with gateway.engine.begin() as conn:
        row = await store.set_enabled(conn, caller.user_id, webhook_id, body.enabled)
        if row is not None and body.enabled:
            await store.wake_dispatchers(conn)
    if row is None:
        raise ProblemError("not_found", "no such webhook")
    return _webhook(row)


@router.delete("/{webhook_id}", status_code=204, response_class=Response, responses=_RESPONSES)
async def delete_webhook(
    webhook_id: uuid.UUID, gateway: Gateway, caller: WebhookManager
) -> Response:
    """Unsubscribe; the endpoint's deliveries are deleted with it."""
    async with gateway.engine.begin() as conn:
        if not await store.remove(conn, caller.user_id, webhook_id):
            raise ProblemError("not_found", "no such webhook")
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", response_model=Page[Delivery], responses=_RESPONSES)
async def list_deliveries(
    webhook_id: uuid.UUID,
    gateway: Gateway,
    caller: WebhookManager,
    status: Literal["pending", "delivered", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_BIGINT, description="`next` of the previous page.")
    ] = None,
) -> Page[Delivery]:
    """The endpoint's deliveries, newest first."""
    await _owned(gateway, caller, webhook_id)
    async with gateway.engine.connect() as conn:
        rows = await store.deliveries(conn, webhook_id, status, limit, after)
    items = [Delivery.model_validate(row) for row in rows[:limit]]
    more = len(rows) > limit
    return Page[Delivery](items=items, next=str(items[-1].delivery_id) if more else None)


@router.post("/{webhook_id}/replay", response_model=Page[Delivery], responses=_RESPONSES)
async def replay(
    webhook_id: uuid.UUID, gateway: Gateway, caller: WebhookManager, body: Replay | None = None
) -> Page[Delivery]:
    """Send deliveries again, each with its `webhook-id`: every failed one, or the one
    `deliveryId` names (delivered or failed). They go out before the later deliveries of
    their booking still waiting, once the endpoint is enabled."""
    await _owned(gateway, caller, webhook_id)
    delivery_id = body.delivery_id if body is not None else None
    async with gateway.engine.begin() as conn:
        rows = await store.replay(conn, webhook_id, delivery_id)
    if delivery_id is not None and not rows:
        raise ProblemError("not_found", "no such delivery, or it is still pending")
    return Page[Delivery](items=[Delivery.model_validate(row) for row in rows], next=None)
