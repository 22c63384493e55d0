"""The gateway over the real platform: users, slots, bookings and stats, each its own process
on its own database, and the gateway in front, in this run's topics.

Module-scoped: each module starts its processes, in topics of their own (a namespace of the
module's: consumer groups of the session's namespace would resume where these left off, and
the other packages' tests read whole topics), and stops them when it ends. A module may
override `gateway_env` and `gateway_replicas`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from coaching_kit.bus import Bus
from coaching_kit.testing.groups import until_group_settled
from coaching_kit.testing.process import ServiceProcess
from coaching_kit.testing.running import fresh_namespace

from .client import SECRET, Gateway

SERVICES = ("users", "slots", "bookings", "stats")
GATEWAY_ENV = {
    "GATEWAY_JWT_SECRET": SECRET,
    "GATEWAY_WAIT_S": "30",
    # The webhook receivers of the tests listen on this machine, over plain http.
    "GATEWAY_WEBHOOK_ALLOW_PRIVATE": "1",
    "GATEWAY_WEBHOOK_BACKOFF_INITIAL_S": "0.2",
    "GATEWAY_WEBHOOK_BACKOFF_MAX_S": "1",
    "GATEWAY_WEBHOOK_LEASE_S": "3",
    "GATEWAY_WEBHOOK_MAX_ATTEMPTS": "3",
    "GATEWAY_SSE_PING_S": "1",
}


@dataclass
class Running:
    gateway: Gateway
    processes: dict[str, ServiceProcess]
    replicas: list[ServiceProcess]
    gateway_database: str
    bus: Bus  # the module's own namespace


@pytest.fixture(scope="module")
def gateway_env() -> dict[str, str]:
    return GATEWAY_ENV


@pytest.fixture(scope="module")
def gateway_replicas() -> int:
    return 1


@pytest.fixture(scope="module")
async def platform(
    stack, scratch_database, run_service, gateway_env, gateway_replicas
) -> AsyncIterator[Running]:
    topic_prefix = await fresh_namespace(stack.kafka_bootstrap, "gateway-")
    namespace = {"COACHING_TOPIC_PREFIX": topic_prefix}
    processes = {}
    for name in SERVICES:
        processes[name] = await run_service(name, await scratch_database(name), **namespace)
    gateway_database = await scratch_database("gateway")
    replicas = [
        await run_service("gateway", gateway_database, **namespace, **gateway_env)
        for _ in range(gateway_replicas)
    ]
    processes["gateway"] = replicas[0]
    # /ready comes before Kafka hands the consumers their partitions.
    for name in SERVICES:
        await until_group_settled(stack.kafka_bootstrap, topic_prefix + name, members=1)
    await until_group_settled(stack.kafka_bootstrap, topic_prefix + "gateway", gateway_replicas)
    gateway = Gateway(f"http://127.0.0.1:{replicas[0].port}")
    bus = Bus(stack.kafka_bootstrap, topic_prefix)
    await bus.start()
    yield Running(gateway, processes, replicas, gateway_database, bus)
    await bus.stop()
    await gateway.close()
    for process in [*processes.values(), *replicas[1:]]:
        await process.stop()


@pytest.fixture(scope="module")
def gateway(platform: Running) -> Gateway:
    return platform.gateway


@pytest.fixture(scope="module")
def bus(platform: Running) -> Bus:
    """The module's namespace, in place of the session's."""
    return platform.bus
