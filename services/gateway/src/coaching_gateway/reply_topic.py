"""The gateway's reply topic: where the services send the outcomes of its commands.

Every command the gateway publishes names this topic in `reply_to` (sending.py), so its
outcome comes back on it as soon as the service commits it (kit's replies.py), whichever
replica's consumer it reaches (subscribers.py). A reply never creates a topic, so the
gateway creates its own, with its dead-letter twin, before it starts consuming: `serve`
calls `ensure` and waits for Kafka to answer first, as the consumers would.
"""

from __future__ import annotations

import logging

from coaching_contracts.topics import TopicKind, TopicSpec, dlq
from coaching_gateway.config import GatewaySettings
from coaching_kit.retry import Backoff
from coaching_kit.topics_admin import TopicCreationError, ensure_topics

log = logging.getLogger(__name__)


def specs(settings: GatewaySettings) -> tuple[TopicSpec, ...]:
    # Replies are looked at once and only while a request waits: the commands' retention
    # (7 days) is plenty, and nothing depends on keeping them.
    return (
        TopicSpec(settings.reply_topic, TopicKind.COMMANDS, settings.service_name),
        TopicSpec(dlq(settings.reply_topic), TopicKind.DEAD_LETTERS, settings.service_name),
    )


async def ensure(settings: GatewaySettings) -> None:
    """Create the reply topic if missing, retrying until Kafka answers; a broker that
    refuses the topic (too few brokers for the replication factor) fails the start."""
    backoff = Backoff(settings.retry_initial_backoff_s, settings.retry_max_backoff_s)
    while True:
        try:
            await ensure_topics(
                settings.kafka_bootstrap_servers,
                prefix=settings.topic_prefix,
                replication_factor=settings.reply_topic_replication,
                specs=specs(settings),
                client_kwargs=settings.kafka_auth.client_kwargs(),
            )
            return
        except TopicCreationError:
            raise
        except Exception as exc:
            log.warning("waiting for Kafka to create the reply topic: %r", exc)
            await backoff.wait()
