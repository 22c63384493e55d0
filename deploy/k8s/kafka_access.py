"""Who may do what on Kafka, derived from the code rather than written by hand.

A service reads the topics its `app.py` subscribes to, under its own consumer group. It
writes the events topics it owns (`TopicSpec.owner` in the contract), the dead-letter twin of
every topic it reads (kit dead-letters a record to `<the record's topic>.dlq`), and, when it
answers commands, the callers' reply topics, which must start with `REPLY_PREFIX`.
Nothing else: no service may publish a command, create a topic or read another's commands.

The HTTP gateway (services/gateway), the platform's public edge, is deployed like the
services but trusted differently: it publishes the commands its callers send and reads every
outcome, so its principal is `gateway_principal`, the model for any integrator. One more
principal completes the set: KEDA, which only reads the consumer groups' offsets to scale on
lag.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from coaching_contracts.topics import ALL_TOPICS, TopicKind, dlq

ROOT = Path(__file__).resolve().parents[2]
# Reply topics a command's `reply_to` may name: the service's producer may write only there.
REPLY_PREFIX = "replies."
# Every Kafka principal of the platform is `coaching-<name>`, easy to tell apart on a
# shared cluster.
PRINCIPAL_PREFIX = "coaching-"
GATEWAY_GROUP_PREFIX = "gateway"
# services/gateway names this topic in every command's reply_to (GatewaySettings).
GATEWAY_REPLY_TOPIC = REPLY_PREFIX + "gateway"

READ = ("Read", "Describe")
WRITE = ("Write", "Describe")


@dataclass(frozen=True)
class Grant:
    """One ACL: operations on a topic or consumer group, by exact name or by prefix."""

    resource: str  # "topic" | "group"
    name: str
    operations: tuple[str, ...]
    prefix: bool = False


@dataclass(frozen=True)
class Principal:
    name: str
    about: str
    grants: tuple[Grant, ...]


@dataclass(frozen=True)
class ServiceAccess:
    """What one service does on Kafka and where it listens, as its code says."""

    name: str
    http_port: int
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    answers_commands: bool
    # The public edge: anyone may reach its port, it sends commands on its callers' behalf,
    # and HTTP requests, not a consumer group's lag, are its load.
    edge: bool = False


# Packages under services/ that are not deployed as a service: kit is a library.
NOT_DEPLOYED = frozenset({"kit"})
# The service that is the platform's HTTP edge (docs/gateway.md).
EDGE = "gateway"


def workspace_services() -> list[str]:
    """Every service package of the workspace (`services/<svc>/pyproject.toml`)."""
    found = (ROOT / "services").glob("*/pyproject.toml")
    return sorted(path.parent.name for path in found if path.parent.name not in NOT_DEPLOYED)


def service_access(name: str) -> ServiceAccess:
    """Reads the service's composition root: its handlers are what it consumes."""
    app = importlib.import_module(f"coaching_{name}.app")
    handlers = app.service.handlers
    reads = tuple(handler.topic for handler in handlers)
    owned = tuple(
        spec.name
        for spec in ALL_TOPICS
        if spec.owner == name and spec.kind in (TopicKind.EVENTS, TopicKind.SNAPSHOTS)
    )
    outcomes = {handler.outcome_topic for handler in handlers if handler.outcome_topic}
    if not outcomes <= set(owned):
        raise ValueError(f"{name} answers on {outcomes - set(owned)}, which it does not own")
    # The field's default, not the environment's value: the output must not depend on who runs it.
    port = type(app.settings).model_fields["http_port"].default
    return ServiceAccess(
        name=name,
        http_port=int(port),
        reads=reads,
        writes=owned + tuple(dlq(topic) for topic in reads),
        answers_commands=bool(outcomes),
        edge=name == EDGE,
    )


def service_principal(access: ServiceAccess, prefix: str) -> Principal:
    grants = [Grant("topic", prefix + topic, READ) for topic in access.reads]
    grants += [Grant("topic", prefix + topic, WRITE) for topic in access.writes]
    if access.answers_commands:
        grants.append(Grant("topic", prefix + REPLY_PREFIX, WRITE, prefix=True))
    grants.append(Grant("group", prefix + access.name, ("Read",)))
    return Principal(PRINCIPAL_PREFIX + access.name, f"the {access.name} service", tuple(grants))


def keda_principal(services: Iterable[ServiceAccess], prefix: str) -> Principal:
    """Lag is end offset minus committed offset: describing topics and groups is enough."""
    services = list(services)
    topics = sorted({prefix + topic for access in services for topic in access.reads})
    grants = [Grant("topic", topic, ("Describe",)) for topic in topics]
    grants += [Grant("group", prefix + access.name, ("Describe",)) for access in services]
    return Principal(PRINCIPAL_PREFIX + "keda", "KEDA's lag scaler", tuple(grants))


def gateway_principal(prefix: str) -> Principal:
    """The HTTP gateway (services/gateway), also the model for any integrator: sends commands,
    reads every outcome (through kit's consumer, which dead-letters a record it can never
    read to `<topic>.dlq`), owns its reply topics."""
    grants = [
        Grant("topic", prefix + spec.name, WRITE)
        for spec in ALL_TOPICS
        if spec.kind is TopicKind.COMMANDS
    ]
    read = [
        spec.name for spec in ALL_TOPICS if spec.kind in (TopicKind.EVENTS, TopicKind.SNAPSHOTS)
    ]
    grants += [Grant("topic", prefix + name, READ) for name in read]
    grants += [Grant("topic", prefix + dlq(name), WRITE) for name in read]
    grants.append(Grant("topic", prefix + REPLY_PREFIX, (*READ, "Create"), prefix=True))
    # Its own reply topic's dead letters (the gateway consumes its replies through kit too).
    grants.append(Grant("topic", prefix + dlq(GATEWAY_REPLY_TOPIC), WRITE))
    grants.append(Grant("group", prefix + GATEWAY_GROUP_PREFIX, ("Read",), prefix=True))
    return Principal(PRINCIPAL_PREFIX + EDGE, "the HTTP gateway", tuple(grants))


def scaled_on_lag(services: Iterable[ServiceAccess]) -> list[ServiceAccess]:
    """The services KEDA scales on their consumer group's lag: all but the edge."""
    return [access for access in services if not access.edge]


def all_principals(services: list[ServiceAccess], prefix: str) -> list[Principal]:
    return [
        *(
            gateway_principal(prefix) if access.edge else service_principal(access, prefix)
            for access in services
        ),
        keda_principal(scaled_on_lag(services), prefix),
    ]
