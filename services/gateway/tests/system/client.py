"""A client of the gateway as an application would be: people with tokens, over HTTP."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from coaching_gateway.identity import MANAGE_WEBHOOKS, Role, mint

SECRET = "system-test-secret-that-is-long-enough-for-hs256"


@dataclass
class Person:
    user_id: uuid.UUID
    role: Role
    http: httpx.AsyncClient
    token: str = field(repr=False, default="")


class Gateway:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._clients: list[httpx.AsyncClient] = []
        self._anonymous: httpx.AsyncClient | None = None

    def person(
        self,
        role: Role,
        user_id: uuid.UUID | None = None,
        base_url: str = "",
        scopes: tuple[str, ...] = (),
    ) -> Person:
        """Someone holding a token (as `coachctl token` prints one), registered or not."""
        user_id = user_id or uuid.uuid4()
        token = mint(SECRET, user_id, role, scopes=scopes)
        http = httpx.AsyncClient(
            base_url=base_url or self.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        self._clients.append(http)
        return Person(user_id, role, http, token)

    async def close(self) -> None:
        for http in self._clients:
            await http.aclose()

    def anonymous(self) -> httpx.AsyncClient:
        """A client without a token."""
        if self._anonymous is None:
            self._anonymous = httpx.AsyncClient(base_url=self.base_url, timeout=60)
            self._clients.append(self._anonymous)
        return self._anonymous

    async def register(self, role: Role, **fields: str) -> httpx.Response:
        """POST /v1/users without a token."""
        body = {
            "email": f"{role.lower()}-{uuid.uuid4().hex[:10]}@example.com",
            "firstName": "Test",
            "lastName": role.title(),
            "role": role.value,
            **fields,
        }
        return await self.anonymous().post("/v1/users", json=body, headers=_key())

    async def registered(self, role: Role, scopes: tuple[str, ...] = ()) -> Person:
        """A user who registered without a token, then got one for the id it was given."""
        response = await self.register(role)
        assert response.status_code == 201, response.text
        return self.person(role, uuid.UUID(response.json()["userId"]), scopes=scopes)

    async def webhook_manager(self, role: Role) -> Person:
        return await self.registered(role, scopes=(MANAGE_WEBHOOKS,))

    async def command(
        self, person: Person, method: str, path: str, body: Any = None
    ) -> httpx.Response:
        """A command, sent again under a new key while it is refused `unknown_user`: the
        services learn a new user a moment after the gateway does (docs/contract.md)."""
        deadline = time.monotonic() + 30
        while True:
            response = await person.http.request(method, path, json=body, headers=_key())
            if response.status_code != 404 or response.json().get("code") != "unknown_user":
                return response
            assert time.monotonic() < deadline, "the services never learned the user"
            await asyncio.sleep(0.1)

    async def slot(
        self, coach: Person, starts_in: timedelta, length: timedelta = timedelta(hours=1)
    ) -> dict[str, Any]:
        start = datetime.now(UTC) + starts_in
        body = {"startTime": start.isoformat(), "endTime": (start + length).isoformat()}
        response = await self.command(coach, "POST", "/v1/slots", body)
        assert response.status_code == 201, response.text
        return dict(response.json())


def _key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}
