"""Reading a CreateTopics answer: the request can succeed while the broker refuses topics."""

from __future__ import annotations

import pytest
from aiokafka.errors import InvalidReplicationFactorError, TopicAlreadyExistsError

from coaching_kit.topics_admin import TopicCreationError, created_topics


def test_a_topic_the_broker_refused_fails_with_its_reason() -> None:
    answer = [
        ("users.events", 0, None),
        (
            "users.commands",
            InvalidReplicationFactorError.errno,
            "Replication factor: 3 larger than available brokers: 1.",
        ),
    ]

    with pytest.raises(TopicCreationError) as refused:
        created_topics(answer)

    assert "users.commands: InvalidReplicationFactorError Replication factor: 3" in str(
        refused.value
    )
    assert "users.events" not in str(refused.value)


def test_a_topic_a_concurrent_caller_created_first_is_no_failure() -> None:
    answer = [
        ("users.events", 0, None),
        ("users.commands", TopicAlreadyExistsError.errno, "exists"),
    ]

    assert created_topics(answer) == ["users.events"]


def test_the_first_version_of_the_answer_carries_no_message() -> None:
    assert created_topics([("users.events", 0)]) == ["users.events"]
    with pytest.raises(TopicCreationError) as refused:
        created_topics([("users.commands", InvalidReplicationFactorError.errno)])
    assert str(refused.value).endswith("users.commands: InvalidReplicationFactorError")
