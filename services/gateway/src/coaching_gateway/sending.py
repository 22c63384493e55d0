"""Sending a command and waiting for its outcome.

The `commands` row and the command's Kafka record (kit's outbox) commit in one transaction:
a command the gateway accepted is published even if this replica dies right after, by
whichever replica's relay leads; and no command is published without the row its outcome
will be recorded in (outcomes.py). Every command names the gateway's reply topic in
`reply_to` (reply_topic.py), so its outcome comes back there, and also on the events topic
the gateway reads anyway; whichever copy is consumed first ends the wait.

Idempotency: the `Idempotency-Key` becomes the command's `ce_id`, scoped to the caller: the
`ce_id` is a UUIDv5 of the caller (its token's `sub`; `anonymous` for a registration
without a token) and the key. A retry (same caller, key and request) is therefore the same
command: it finds the row, publishes nothing, and waits for the one outcome; the services
drop a duplicate `ce_id` anyway. The same key with a different request is refused
(`idempotency_key_reused`). Why not the key itself: a `ce_id` is the idempotency key across
every publisher of a topic, so a raw client key would let one user's key (chosen, guessed or
merely equal) silence another user's command, or read back its outcome. Without a key each
request is a new command. A create names its new resource's id, derived from the `ce_id` as
the services would (unless the client named it), so a retried create can never make two.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from coaching_contracts.base import WireModel
from coaching_contracts.registry import outcomes_of
from coaching_gateway.db import commands
from coaching_gateway.identity import Principal
from coaching_gateway.outcomes import CommandState, OutcomeWaiter, load
from coaching_gateway.problems import ProblemError
from coaching_kit.envelope import Envelope
from coaching_kit.handlers import DERIVED_ID_NAMESPACE
from coaching_kit.outbox import OutgoingMessage, add_to_outbox
from coaching_kit.tracing import current_headers

# Fixed: the same caller and Idempotency-Key must map to the same ce_id forever.
IDEMPOTENCY_NAMESPACE = uuid.UUID("0b6c6e0e-51b8-4e57-8d0a-5f3b2f4c9a71")
SOURCE = "/coaching/gateway"


@dataclass(frozen=True)
class Ticket:
    """One HTTP request's command: its id and the fingerprint a retry must match."""

    command_id: str
    idempotency_key: str | None
    fingerprint: str

    def derived_id(self, model: type[WireModel]) -> uuid.UUID:
        """The id a create command's resource gets (docs/contract.md, derived ids)."""
        return uuid.uuid5(DERIVED_ID_NAMESPACE, f"{model.TYPE}:{self.command_id}")


class StillPendingError(Exception):
    """No outcome within the wait: answered 202 with the command's location."""

    def __init__(self, state: CommandState) -> None:
        super().__init__(state.command_id)
        self.state = state


ANONYMOUS = "anonymous"


def ticket(
    caller: Principal | None, idempotency_key: str | None, method: str, path: str, body: Any
) -> Ticket:
    if idempotency_key:
        scope = str(caller.user_id) if caller is not None else ANONYMOUS
        command_id = uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{scope}:{idempotency_key}")
    else:
        command_id = uuid.uuid4()
    request = orjson.dumps([method, path, body], option=orjson.OPT_SORT_KEYS)
    return Ticket(str(command_id), idempotency_key, hashlib.sha256(request).hexdigest())


class CommandSender:
    def __init__(
        self, engine: AsyncEngine, waiter: OutcomeWaiter, topic_prefix: str, reply_to: str
    ) -> None:
        self._engine = engine
        self._waiter = waiter
        self._prefix = topic_prefix
        self._reply_to = reply_to

    async def send_and_wait(
        self, ticket: Ticket, owner: uuid.UUID, command: WireModel, wait_s: float
    ) -> CommandState:
        """The finished command; `StillPendingError` when it did not finish within `wait_s`,
        `ProblemError` when the key was used for another request. `owner`: who may follow
        the command at /v1/commands/{id}."""
        await self._send(ticket, owner, command)
        state = await self._waiter.wait(ticket.command_id, wait_s)
        if state.pending:
            raise StillPendingError(state)
        return state

    async def _send(self, ticket: Ticket, owner: uuid.UUID, command: WireModel) -> None:
        row = {
            "command_id": ticket.command_id,
            "principal": owner,
            "idempotency_key": ticket.idempotency_key,
            "fingerprint": ticket.fingerprint,
            "type": command.TYPE,
            "final_types": list(outcomes_of(command.TYPE)),
        }
        statement = (
            insert(commands).values(**row).on_conflict_do_nothing().returning(commands.c.command_id)
        )
        # The outbox's NOTIFY wakes whichever replica's relay leads, on commit.
        async with self._engine.begin() as conn:
            if (await conn.execute(statement)).first() is not None:
                await add_to_outbox(conn, [self._record(ticket.command_id, command)])
                return
            existing = await load(conn, ticket.command_id)
        if existing is None or existing.fingerprint != ticket.fingerprint:
            raise ProblemError(
                "idempotency_key_reused",
                "this Idempotency-Key was used for another request",
                command_id=ticket.command_id,
            )

    def _record(self, command_id: str, command: WireModel) -> OutgoingMessage:
        assert command.TOPIC is not None
        key = command.subject() or command_id
        envelope = Envelope(
            id=command_id,
            type=command.TYPE,
            source=SOURCE,
            time=datetime.now(UTC),
            correlation_id=command_id,
            subject=key,
            reply_to=self._reply_to,
            reply_correlation_id=command_id,
        )
        return OutgoingMessage(
            topic=self._prefix + command.TOPIC,
            key=key,
            payload=command.to_json(),
            headers={**envelope.headers(), **current_headers()},
        )
