"""The command endpoints: each request becomes one command on Kafka, and is answered with its
outcome once the read model holds it.

Success: 201 (created) or 200 with the resource as its outcome event carries it (the event's
data), and its `Location`; 204 for a deleted slot. Rejection: a problem whose status follows
the rejection code (problems.py). No outcome within the wait: 202 with `Location:
/v1/commands/{id}`; the command goes on, and that resource says when it ends.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from coaching_contracts import events as ev
from coaching_contracts.base import WireModel
from coaching_contracts.commands import CreateSlot, DeleteSlot, RegisterUser
from coaching_gateway import sending
from coaching_gateway.api.deps import (
    Caller,
    CallerIfAny,
    Gateway,
    IdempotencyKey,
    Parts,
    Prefer,
    wait_seconds,
)
from coaching_gateway.identity import Principal
from coaching_gateway.outcomes import CommandState
from coaching_gateway.problems import ProblemError, documented
from coaching_gateway.schemas import CommandStatus, NewSlot, NewUser

router = APIRouter(prefix="/v1", tags=["commands"])
M = TypeVar("M", bound=WireModel)

RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": CommandStatus, "description": "No outcome yet: follow `Location`."},
    **documented(401, 403, 404, 409, 413, 422, 429, 502, 503),
}


@dataclass(frozen=True)
class CommandCall:
    """What every command endpoint takes besides its path, body and caller: the request and
    response, the gateway's parts, and the `Idempotency-Key` and `Prefer` headers."""

    request: Request
    response: Response
    gateway: Parts
    idempotency_key: str | None
    prefer: str | None

    def ticket(self, caller: Principal | None, body: BaseModel | None) -> sending.Ticket:
        """The request's command id and fingerprint (sending.py: idempotency)."""
        content = body.model_dump(mode="json") if body is not None else None
        request = self.request
        return sending.ticket(
            caller, self.idempotency_key, request.method, request.url.path, content
        )

    async def run(
        self, ticket: sending.Ticket, owner: uuid.UUID, command: WireModel
    ) -> CommandState:
        """Send `command` and wait for its outcome; a rejection raises its problem."""
        wait_s = wait_seconds(self.prefer, self.gateway.settings.wait_s)
        state = await self.gateway.sender.send_and_wait(ticket, owner, command, wait_s)
        if state.status == "rejected":
            outcome = state.outcome or {}
            code = str(outcome.get("code") or "internal")
            raise ProblemError(code, str(outcome.get("message", "")), command_id=state.command_id)
        return state

    async def answered(
        self,
        ticket: sending.Ticket,
        owner: uuid.UUID,
        command: WireModel,
        model: type[M],
        location: str,
    ) -> M:
        """`run`, answered with the outcome event's data, which the read model holds by now
        (outcomes.py), and the resource's `Location`."""
        state = await self.run(ticket, owner, command)
        self.response.headers["Location"] = location
        return model.model_validate(state.outcome)


def command_call(
    request: Request,
    response: Response,
    gateway: Gateway,
    idempotency_key: IdempotencyKey = None,
    prefer: Prefer = None,
) -> CommandCall:
    return CommandCall(request, response, gateway, idempotency_key, prefer)


Call = Annotated[CommandCall, Depends(command_call)]


@router.post(
    "/users",
    status_code=201,
    response_model=ev.UserRegistered,
    responses=RESPONSES,
    # The bearer token is optional here: `{}` is OpenAPI's "or none at all".
    openapi_extra={"security": [{}]},
)
async def register_user(body: NewUser, call: Call, caller: CallerIfAny) -> ev.UserRegistered:
    """Register a user: no token needed while registration is open. The answer's `userId`
    is whom to sign the user's tokens for. An ADMIN registers even while registration is
    closed, and may name the `userId` (an identity provider's subject)."""
    admin = caller is not None and caller.is_admin
    if not admin and not call.gateway.settings.registration_open:
        raise ProblemError("registration_closed", "registration is switched off here")
    if body.user_id is not None and not admin:
        raise ProblemError("forbidden", "only an ADMIN names the new user's id")
    sent = call.ticket(caller, body)
    user_id = body.user_id or sent.derived_id(RegisterUser)
    fields = body.model_dump(include={"email", "first_name", "last_name", "phone_number", "role"})
    command = RegisterUser(user_id=user_id, **fields)
    # Without a token, the new user follows its own command (once it has a token).
    owner = caller.user_id if caller is not None else user_id
    return await call.answered(sent, owner, command, ev.UserRegistered, f"/v1/users/{user_id}")


@router.post("/slots", status_code=201, response_model=ev.SlotCreated, responses=RESPONSES)
async def create_slot(body: NewSlot, call: Call, caller: Caller) -> ev.SlotCreated:
    """Offer a slot; the caller is its coach."""
    sent = call.ticket(caller, body)
    slot_id = body.slot_id or sent.derived_id(CreateSlot)
    command = CreateSlot(
        slot_id=slot_id, coach_id=caller.user_id, start_time=body.start_time, end_time=body.end_time
    )
    return await call.answered(
        sent, caller.user_id, command, ev.SlotCreated, f"/v1/slots/{slot_id}"
    )


@router.delete("/slots/{slot_id}", status_code=204, response_class=Response, responses=RESPONSES)
async def delete_slot(slot_id: uuid.UUID, call: Call, caller: Caller) -> Response:
    """Withdraw one of the caller's slots while it is AVAILABLE."""
    command = DeleteSlot(slot_id=slot_id, actor_id=caller.user_id)
    await call.run(call.ticket(caller, None), caller.user_id, command)
    return Response(status_code=204)
