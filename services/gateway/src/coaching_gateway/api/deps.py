"""What the routes depend on: the gateway's parts, the authenticated caller, the headers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncEngine

from coaching_gateway.api.limits import RateLimiter
from coaching_gateway.config import GatewaySettings
from coaching_gateway.identity import (
    MANAGE_WEBHOOKS,
    IdentityProviderError,
    Principal,
    TokenVerifier,
    UnauthenticatedError,
)
from coaching_gateway.notify import Notifications
from coaching_gateway.problems import ProblemError
from coaching_gateway.sending import CommandSender


@dataclass(frozen=True)
class Parts:
    """The gateway's parts the routes use; built once by app.py."""

    settings: GatewaySettings
    engine: AsyncEngine
    verifier: TokenVerifier
    sender: CommandSender
    notifications: Notifications
    limiter: RateLimiter


def parts(request: Request) -> Parts:
    found: Parts = request.app.state.parts
    return found


Gateway = Annotated[Parts, Depends(parts)]
_bearer = HTTPBearer(auto_error=False, description="A JWT: HS256 or RS256 (docs/gateway.md).")


async def caller(
    request: Request,
    gateway: Gateway,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The authenticated caller, within its rate limit."""
    if credentials is None:
        raise ProblemError("unauthenticated", "a bearer token is required", headers=_CHALLENGE)
    return await _verified(request, gateway, credentials.credentials)


async def caller_if_any(
    request: Request,
    gateway: Gateway,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    """The caller when a token is sent (it must then be valid), else None; an anonymous
    caller's rate limit is its client address's."""
    if credentials is not None:
        return await _verified(request, gateway, credentials.credentials)
    address = request.client.host if request.client else "unknown"
    _within_rate(gateway, ("anonymous", address))
    return None


async def _verified(request: Request, gateway: Parts, token: str) -> Principal:
    try:
        principal = await gateway.verifier.principal(token)
    except UnauthenticatedError as exc:
        raise ProblemError("unauthenticated", str(exc), headers=_INVALID_TOKEN) from exc
    except IdentityProviderError as exc:
        raise ProblemError("unavailable", str(exc), headers={"Retry-After": "5"}) from exc
    _within_rate(gateway, principal.user_id)
    request.state.principal = principal
    return principal


def _within_rate(gateway: Parts, key: object) -> None:
    wait_s = gateway.limiter.take(key)
    if wait_s:
        retry = str(max(1, round(wait_s)))
        raise ProblemError("rate_limited", "too many requests", headers={"Retry-After": retry})


async def webhook_manager(caller: Annotated[Principal, Depends(caller)]) -> Principal:
    """A caller whose token's `scope` includes `webhooks:manage`."""
    if MANAGE_WEBHOOKS not in caller.scopes:
        challenge = f'Bearer error="insufficient_scope", scope="{MANAGE_WEBHOOKS}"'
        raise ProblemError(
            "forbidden",
            f"the token's scope must include {MANAGE_WEBHOOKS}",
            headers={"WWW-Authenticate": challenge},
        )
    return caller


_CHALLENGE = {"WWW-Authenticate": "Bearer"}
_INVALID_TOKEN = {"WWW-Authenticate": 'Bearer error="invalid_token"'}

Caller = Annotated[Principal, Depends(caller)]
CallerIfAny = Annotated[Principal | None, Depends(caller_if_any)]
WebhookManager = Annotated[Principal, Depends(webhook_manager)]
MAX_BIGINT = 2**63 - 1  # ids and positions are PostgreSQL bigints
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Makes a retry of this request the same command (docs/gateway.md).",
    ),
]
Prefer = Annotated[
    str | None,
    Header(description="`wait=N`: wait at most N seconds; `respond-async`: answer 202 at once."),
]
_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*(\d+)", re.IGNORECASE)


def wait_seconds(prefer: str | None, longest: float) -> float:
    """How long to wait for an outcome (RFC 7240 `Prefer`), never longer than `longest`."""
    if not prefer:
        return longest
    if "respond-async" in prefer.lower():
        return 0.0
    found = _WAIT.search(prefer)
    return min(longest, float(found.group(1))) if found else longest
