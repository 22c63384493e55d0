"""Settings every service shares; each service subclasses with its own `<SERVICE>_` prefix.

Nothing connects at import time: settings are read when the app is built.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The local stack's server; `DATABASE_URL` names another (an admin URL to any database on it).
DEFAULT_SERVER_URL = "postgresql://coaching:coaching@127.0.0.1:5432/postgres"
DEFAULT_KAFKA = "127.0.0.1:9092"


def service_database_url(service: str, server_url: str | None = None) -> str:
    """The asyncpg URL of a service's own database on the given (or environment's) server."""
    parts = urlsplit(server_url or os.environ.get("DATABASE_URL") or DEFAULT_SERVER_URL)
    return urlunsplit(("postgresql+asyncpg", parts.netloc, f"/coaching_{service}", "", ""))


class ServiceSettings(BaseSettings):
    """Common knobs. `<SERVICE>_KAFKA_BOOTSTRAP_SERVERS` falls back to KAFKA_BOOTSTRAP_SERVERS."""

    model_config = SettingsConfigDict(extra="ignore")
    service_name: ClassVar[str]

    database_url: str = ""
    kafka_bootstrap_servers: str = ""
    # Namespaces every topic and consumer group (shared clusters, isolated test runs);
    # `<SERVICE>_TOPIC_PREFIX` falls back to COACHING_TOPIC_PREFIX.
    topic_prefix: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    db_pool_size: int = 10
    # Outbox relay: how many rows one publish round takes, and the poll that backs up NOTIFY.
    outbox_batch_size: int = 500
    outbox_poll_interval_s: float = 1.0
    # Published outbox rows are kept this long for audit, then purged.
    outbox_retention_hours: float = 72.0
    # Transient failures (database or broker down) retry forever with this capped backoff.
    retry_initial_backoff_s: float = 0.1
    retry_max_backoff_s: float = 5.0
    # An unexpected handler error is retried this often before the message is dead-lettered.
    handler_max_attempts: int = 5
    log_level: str = "INFO"

    @model_validator(mode="before")
    @classmethod
    def _fill_connections(cls, values: Any) -> Any:
        if isinstance(values, dict):
            if not values.get("database_url"):
                values["database_url"] = service_database_url(cls.service_name)
            if not values.get("kafka_bootstrap_servers"):
                values["kafka_bootstrap_servers"] = os.environ.get(
                    "KAFKA_BOOTSTRAP_SERVERS", DEFAULT_KAFKA
                )
            if not values.get("topic_prefix"):
                values["topic_prefix"] = os.environ.get("COACHING_TOPIC_PREFIX", "")
        return values

    @property
    def consumer_group(self) -> str:
        return self.topic_prefix + self.service_name

    @property
    def source(self) -> str:
        """The CloudEvents `source` of everything this service publishes."""
        return f"/coaching/{self.service_name}"
