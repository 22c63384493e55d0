"""`coachctl topics create` over real Kafka, each run in a namespace of its own: the topics
get the cluster's replication factor unless told one, which the broker then judges."""

from __future__ import annotations

import uuid

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from coaching_contracts.topics import USERS_EVENTS


async def _cluster(bootstrap: str) -> tuple[int, int]:
    """The brokers, and the replication factor a broker gives a topic by default."""
    client = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await client.start()
    try:
        brokers = (await client.describe_cluster())["brokers"]
        name = "default.replication.factor"
        resource = ConfigResource(
            ConfigResourceType.BROKER, str(brokers[0]["node_id"]), {name: None}
        )
        [response] = await client.describe_configs([resource])
    finally:
        await client.close()
    [entry] = response.to_object()["resources"][0]["config_entries"]
    return len(brokers), int(entry["config_value"])


def _namespace() -> str:
    return f"cli-topics-{uuid.uuid4().hex[:8]}."


async def test_topics_get_the_clusters_replication_factor_unless_told_one(quiet_namespace):
    ctl = quiet_namespace
    brokers, default = await _cluster(ctl.bootstrap)
    namespace = _namespace()

    created = await ctl("--prefix", namespace, "topics", "create", "--partitions", "1")
    assert created.code == 0, created
    assert f"created with {default} replica(s) per partition (the cluster's default)" in created.out
    described = await ctl("topics", "describe", USERS_EVENTS, "--json", "--prefix", namespace)
    (topic,) = described.json()
    assert (topic["replicationFactor"], len(topic["partitions"])) == (default, 1), topic

    # One replica more than there are brokers: the broker refuses, and says why.
    told = await ctl(
        "--prefix", _namespace(), "topics", "create", "--replication-factor", str(brokers + 1)
    )
    assert told.code == 1, told
    assert "InvalidReplicationFactor" in told.err, told
