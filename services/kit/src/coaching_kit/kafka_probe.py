"""Whether a Kafka cluster answers: one metadata request through an admin client, the question
FastStream's `ping()` asks. A service asks it while it waits for its broker at start; the
local stack asks it while the broker it launched boots."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError


async def probe_kafka(
    bootstrap_servers: str,
    *,
    timeout_s: float | None = None,
    client_kwargs: Mapping[str, Any] | None = None,
) -> KafkaError | OSError | None:
    """None when the cluster answers; else why not: refused, timed out (an OSError too), our
    login refused, or a broker still starting. `timeout_s` bounds each request (aiokafka's
    default is 40 s); `client_kwargs`: authentication (kafka_auth.py)."""
    kwargs = dict(client_kwargs or {})
    if timeout_s is not None:
        kwargs["request_timeout_ms"] = int(timeout_s * 1000)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **kwargs)
    try:
        await admin.start()
        await admin.describe_cluster()
    except (KafkaError, OSError) as exc:
        return exc
    finally:
        await admin.close()
    return None
