"""Creating the contract's missing topics, with the config the contract needs; `prefix`
namespaces every topic (a shared cluster, or one test session's private set).

A CreateTopics request can succeed while some of its topics fail: the broker answers with one
error code per topic (too few brokers for the replication factor, a config it rejects, a name
it refuses), and aiokafka returns that answer instead of raising. Those codes are read here,
or a refused topic would surface much later as a consumer that never gets an assignment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from coaching_contracts.topics import ALL_TOPICS, DEFAULT_PARTITIONS, TopicSpec


class TopicCreationError(RuntimeError):
    """The broker refused some topics; the message names each with the broker's reason."""


async def ensure_topics(
    bootstrap_servers: str,
    *,
    prefix: str = "",
    partitions: int = DEFAULT_PARTITIONS,
    replication_factor: int = 1,
    specs: tuple[TopicSpec, ...] = ALL_TOPICS,
    client_kwargs: Mapping[str, Any] | None = None,
) -> list[str]:
    """Create the missing topics; returns the names it created. Raises TopicCreationError
    when the broker refuses any. `client_kwargs`: authentication (kafka_auth.py)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **(client_kwargs or {}))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(prefix + spec.name, partitions, replication_factor, topic_configs=spec.config)
            for spec in specs
            if prefix + spec.name not in existing
        ]
        if not missing:
            return []
        response = await admin.create_topics(missing)
    finally:
        await admin.close()
    return created_topics(response.topic_errors)


def created_topics(topic_errors: Iterable[tuple[Any, ...]]) -> list[str]:
    """The topics a CreateTopics response says were created; raises on any it refused.

    "Already exists" is no failure: a concurrent caller (another `up`, another test worker)
    created it between our listing and our request, and it is there, as we wanted. Entries
    are (topic, error_code) in version 0 of the response, (topic, error_code, message) after.
    """
    created, failures = [], []
    for topic, code, *message in topic_errors:
        if code == 0:
            created.append(topic)
        elif code != TopicAlreadyExistsError.errno:
            detail = (message[0] if message else None) or ""
            failures.append(f"{topic}: {for_code(code).__name__} {detail}".rstrip())
    if failures:
        raise TopicCreationError("the broker refused to create topics:\n" + "\n".join(failures))
    return created
