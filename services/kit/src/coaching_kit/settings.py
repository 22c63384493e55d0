"""Settings every service shares; each service subclasses with its own `<SERVICE>_` prefix.

Nothing connects at import time: settings are read when the app is built.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit, urlunsplit

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from coaching_kit.kafka_auth import KafkaAuth, SaslMechanism, SecurityProtocol

# The local stack's server; `DATABASE_URL` names another (an admin URL to any database on it).
# No port: asyncpg then takes PostgreSQL's own `PGPORT`, else 5432, so a stack moved to another
# port (`PGPORT=5433 make up`) is found by everything that runs beside it.
DEFAULT_SERVER_URL = "postgresql://coaching:coaching@127.0.0.1/postgres"
DEFAULT_KAFKA = "127.0.0.1:9092"
# Each `<SERVICE>_KAFKA_...` falls back to the un-prefixed `KAFKA_...`, like the servers.
KAFKA_AUTH_SETTINGS = (
    "kafka_security_protocol",
    "kafka_sasl_mechanism",
    "kafka_sasl_username",
    "kafka_sasl_password",
    "kafka_ssl_cafile",
    "kafka_ssl_certfile",
    "kafka_ssl_keyfile",
)


def postgres_address(url: str) -> tuple[str, int]:
    """Host and port of a PostgreSQL URL, as asyncpg reads it: no port means `PGPORT`, else
    5432. For display and process lookup; never the password."""
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or int(os.environ.get("PGPORT") or 5432)


def service_database_url(service: str, server_url: str | None = None) -> str:
    """The asyncpg URL of a service's own database on the given (or environment's) server."""
    parts = urlsplit(server_url or os.environ.get("DATABASE_URL") or DEFAULT_SERVER_URL)
    return urlunsplit(("postgresql+asyncpg", parts.netloc, f"/coaching_{service}", "", ""))


class ServiceSettings(BaseSettings):
    """Common knobs. `<SERVICE>_KAFKA_BOOTSTRAP_SERVERS` falls back to KAFKA_BOOTSTRAP_SERVERS."""

    # Errors name the setting, never echo the input: it holds passwords.
    model_config = SettingsConfigDict(extra="ignore", hide_input_in_errors=True)
    service_name: ClassVar[str]

    database_url: str = ""
    kafka_bootstrap_servers: str = ""
    # Authentication to Kafka (kafka_auth.py; docs/deploying.md "Kafka authentication").
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr = SecretStr("")
    kafka_ssl_cafile: str = ""
    kafka_ssl_certfile: str = ""
    kafka_ssl_keyfile: str = ""
    # Namespaces every topic and consumer group (shared clusters, isolated test runs);
    # `<SERVICE>_TOPIC_PREFIX` falls back to COACHING_TOPIC_PREFIX.
    topic_prefix: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    db_pool_size: int = 10
    # Consumers: up to this many records are handled in one transaction. A poll waits up to
    # consume_poll_timeout_ms for a first record and returns as soon as one arrives; the
    # broker holds a fetch open up to consume_fetch_max_wait_ms (the added latency bound).
    consume_batch_max_records: int = 200
    consume_poll_timeout_ms: int = 1000
    consume_fetch_max_wait_ms: int = 100
    # A failing batch or fetch is retried with backoff up to this long between tries.
    consume_max_backoff_s: float = 30.0
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
    # A command's `reply_to` must name a topic under this prefix (Kafka ACLs grant services
    # write access to it); any other target is answered `invalid` on the events topic only.
    reply_topic_prefix: str = "replies."
    # /ready answers 503 when records wait and the consumer has not ended one for this long.
    stall_after_s: float = 30.0
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
            for name in KAFKA_AUTH_SETTINGS:
                if not values.get(name) and os.environ.get(name.upper()):
                    values[name] = os.environ[name.upper()]
        return values

    @model_validator(mode="after")
    def _check_kafka_auth(self) -> ServiceSettings:
        self.kafka_auth  # noqa: B018  (a combination that cannot work fails here, at start)
        return self

    @model_validator(mode="after")
    def _check_database_tls(self) -> ServiceSettings:
        """TLS options in the URL reach only one of the two ways the service connects: the
        engine passes the URL's query to `asyncpg.connect` as arguments (`sslmode` is not one:
        every connection fails), the outbox relay hands the URL to asyncpg as a DSN (`ssl`
        there becomes a server setting, and TLS stays at asyncpg's default). libpq's
        variables reach both: asyncpg reads them on every connection."""
        query = parse_qs(urlsplit(self.database_url).query)
        if any(name.startswith("ssl") or name == "direct_tls" for name in query):
            prefix = str(self.model_config.get("env_prefix", ""))
            raise ValueError(
                f"{prefix}DATABASE_URL: set PostgreSQL TLS with PGSSLMODE and PGSSLROOTCERT "
                "(PGSSLCERT, PGSSLKEY), not in the URL's query (docs/deploying.md)"
            )
        return self

    @property
    def kafka_auth(self) -> KafkaAuth:
        return KafkaAuth(
            protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            username=self.kafka_sasl_username,
            password=self.kafka_sasl_password.get_secret_value(),
            cafile=self.kafka_ssl_cafile,
            certfile=self.kafka_ssl_certfile,
            keyfile=self.kafka_ssl_keyfile,
        )

    @property
    def consumer_group(self) -> str:
        return self.topic_prefix + self.service_name

    @property
    def reply_prefix(self) -> str:
        """The topics a command's `reply_to` may name: under the deployment's topic prefix."""
        return self.topic_prefix + self.reply_topic_prefix

    @property
    def source(self) -> str:
        """The CloudEvents `source` of everything this service publishes."""
        return f"/coaching/{self.service_name}"
