"""Who is calling: a bearer JWT, verified here; its `sub` is the acting user.

The platform's services believe the actor a command names (docs/contract.md, trust model),
so the gateway is where end users are authenticated, and it sets every `actorId`,
`coachId` and `studentId` from the token, never from the request body.

Two kinds of token are accepted, each only with its own key: HS256 with the shared secret
(`GATEWAY_JWT_SECRET`, what `python -m coaching_gateway token` mints for development and
tests), and RS256 with the key the issuer's JWKS document publishes under the token's `kid`
(`GATEWAY_JWKS_URL`). The algorithm list passed to PyJWT is always the one matching the
key, so a token cannot pick its own verification (no `none`, no RSA public key used as an
HMAC secret). `exp` and `sub` are required; `iss` and `aud` when configured. The `scope`
claim (OAuth's space-separated list, or a JSON list) grants extra rights:
`webhooks:manage` for the webhook endpoints.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import jwt

from coaching_gateway.config import GatewaySettings

_REQUIRED_CLAIMS = ["exp", "sub"]
MANAGE_WEBHOOKS = "webhooks:manage"


class Role(StrEnum):
    """`COACH` and `STUDENT` are the platform's roles; `ADMIN` is the gateway's own (it may
    register users while registration is closed, and read any user, booking or command)."""

    COACH = "COACH"
    STUDENT = "STUDENT"
    ADMIN = "ADMIN"


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID
    role: Role
    scopes: frozenset[str] = frozenset()

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


class UnauthenticatedError(Exception):
    """No usable token: answered 401."""


class IdentityProviderError(Exception):
    """The JWKS document could not be fetched: answered 503, the token may be fine."""


class TokenVerifier:
    def __init__(self, settings: GatewaySettings) -> None:
        self._secret = settings.jwt_secret.get_secret_value()
        self._issuer = settings.jwt_issuer or None
        self._audience = settings.jwt_audience or None
        self._leeway = settings.jwt_leeway_s
        # Keys are cached by kid; an unknown kid makes the client fetch the document again
        # (key rotation), at most as often as PyJWT allows.
        self._jwks = (
            jwt.PyJWKClient(settings.jwks_url, cache_keys=True, lifespan=300, timeout=5)
            if settings.jwks_url
            else None
        )

    async def principal(self, token: str) -> Principal:
        key, algorithm = await self._key_for(token)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": _REQUIRED_CLAIMS, "verify_aud": self._audience is not None},
            )
        except jwt.PyJWTError as exc:
            raise UnauthenticatedError(f"invalid token: {exc}") from exc
        return _principal(claims)

    async def _key_for(self, token: str) -> tuple[Any, str]:
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError as exc:
            raise UnauthenticatedError(f"not a JWT: {exc}") from exc
        if algorithm == "HS256" and self._secret:
            return self._secret, algorithm
        if algorithm == "RS256" and self._jwks is not None:
            return await self._jwks_key(token), algorithm
        raise UnauthenticatedError(f"tokens signed with {algorithm!r} are not accepted here")

    async def _jwks_key(self, token: str) -> Any:
        assert self._jwks is not None
        try:
            # PyJWKClient fetches with urllib, blocking: off the event loop.
            signing_key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
        except jwt.PyJWKClientConnectionError as exc:
            raise IdentityProviderError(f"JWKS unavailable: {exc}") from exc
        except jwt.PyJWTError as exc:
            raise UnauthenticatedError(f"no key for this token: {exc}") from exc
        return signing_key.key


def _principal(claims: dict[str, Any]) -> Principal:
    try:
        user_id = uuid.UUID(str(claims["sub"]))
    except ValueError as exc:
        raise UnauthenticatedError("the token's sub is not a user id (a UUID)") from exc
    try:
        role = Role(str(claims.get("role", "")))
    except ValueError as exc:
        raise UnauthenticatedError(f"the token's role must be one of {list(Role)}") from exc
    return Principal(user_id, role, _scopes(claims.get("scope")))


def _scopes(claim: Any) -> frozenset[str]:
    if claim is None:
        return frozenset()
    if isinstance(claim, str):
        return frozenset(claim.split())
    if isinstance(claim, list) and all(isinstance(scope, str) for scope in claim):
        return frozenset(claim)
    raise UnauthenticatedError("the token's scope must be a string or a list of strings")


def mint(
    secret: str,
    user_id: uuid.UUID,
    role: Role,
    *,
    ttl_s: int = 3600,
    scopes: tuple[str, ...] = (),
    issuer: str = "",
    audience: str = "",
) -> str:
    """An HS256 token for `user_id` acting as `role` (development, tests, the demo)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "role": role.value,
        "iat": now,
        "exp": now + ttl_s,
    }
    if scopes:
        claims["scope"] = " ".join(scopes)
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm="HS256")


def local_token(
    settings: GatewaySettings,
    user_id: uuid.UUID,
    role: Role,
    *,
    ttl_s: int = 3600,
    scopes: tuple[str, ...] = (),
) -> str:
    """A token this gateway accepts, signed with its HS256 secret (`coachctl token`,
    `python -m coaching_gateway token`); ValueError when HS256 is off."""
    secret = settings.jwt_secret.get_secret_value()
    if not secret:
        raise ValueError("GATEWAY_JWT_SECRET is empty: this gateway takes no HS256 token")
    return mint(
        secret,
        user_id,
        role,
        ttl_s=ttl_s,
        scopes=scopes,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
