"""Registration at the HTTP edge: who may register, decided before any command is sent (so
these run without the platform)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from coaching_gateway import api
from coaching_gateway.api.deps import Parts
from coaching_gateway.api.limits import RateLimiter
from coaching_gateway.config import GatewaySettings
from coaching_gateway.identity import Role, TokenVerifier, mint

SECRET = "unit-test-secret-long-enough-for-hs256-keys"
BODY = {"email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace", "role": "COACH"}


async def _unused(scope, receive, send) -> None:
    raise AssertionError("only /v1 is asked for")


def _client(**settings: object) -> httpx.AsyncClient:
    s = GatewaySettings(jwt_secret=SECRET, **settings)
    # Nothing here reaches the database or Kafka: a request that would is a failure.
    parts = Parts(s, None, TokenVerifier(s), None, None, RateLimiter(100, 100))  # type: ignore[arg-type]
    app = api.build(parts, _unused)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gateway")


@pytest.fixture
async def closed() -> AsyncIterator[httpx.AsyncClient]:
    async with _client(registration_open=False) as client:
        yield client


async def test_registration_switched_off_is_answered_403_registration_closed(closed):
    refused = await closed.post("/v1/users", json=BODY)
    assert (refused.status_code, refused.json()["code"]) == (403, "registration_closed")
    assert refused.headers["content-type"] == "application/problem+json"
    student = mint(SECRET, uuid.uuid4(), Role.STUDENT)
    as_user = await closed.post("/v1/users", json=BODY, headers=_bearer(student))
    assert as_user.json()["code"] == "registration_closed"


async def test_a_token_sent_to_registration_must_be_valid():
    async with _client() as client:
        forged = await client.post("/v1/users", json=BODY, headers=_bearer("not.a.jwt"))
    assert (forged.status_code, forged.json()["code"]) == (401, "unauthenticated")


async def test_only_an_admin_names_the_new_users_id():
    async with _client() as client:
        body = {**BODY, "userId": str(uuid.uuid4())}
        refused = await client.post("/v1/users", json=body)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")


async def test_registration_requires_a_role_of_the_platform():
    async with _client() as client:
        admin = await client.post("/v1/users", json={**BODY, "role": "ADMIN"})
        missing = await client.post(
            "/v1/users", json={k: v for k, v in BODY.items() if k != "role"}
        )
    assert (admin.status_code, missing.status_code) == (422, 422)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
