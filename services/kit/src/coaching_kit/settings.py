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
    """Common knobs, as docs/operations.md "Configuration" describes them."""

    # Errors name the setting, never echo the input: it holds passwords.
    model_config = SettingsConfigDict(extra="ignore", hide_input_in_errors=True)
    service_name: ClassVar[str]

    database_url: str = ""
    kafka_bootstrap_servers: str = ""
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr = SecretStr("")
    kafka_ssl_cafile: str = ""
    kafka_ssl_certfile: str = ""
    kafka_ssl_keyfile: str = ""
    topic_prefix: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    db_pool_size: int = 10
    consume_batch_max_records: int = 200
    consume_poll_timeout_ms: int = 1000
    consume_fetch_max_wait_ms: int = 100
    consume_max_backoff_s: float = 30.0
    outbox_batch_size: int = 500
    outbox_poll_interval_s: float = 1.0
    outbox_retention_hours: float = 72.0
    retry_initial_backoff_s: float = 0.1
    retry_max_backoff_s: float = 5.0
    handler_max_attempts: int = 5
    # Kafka ACLs grant services write access to the topics under it: a `reply_to` elsewhere is
    # answered `invalid` on the events topic only.
    reply_topic_prefix: str = "replies."
    stall_after_s: float = 30.0
    log_level: str = "INFO"

    @model_validator(mode="before")
    @classmethod
    def _fill_connections(cls, values: Any) -> Any:
        if isinstance(values, dict):
            if not values.get("database_url"):
                values["database_url"] = service_database_url(cls.service_name)
            for name, fallback in _SHARED.items():
                if not values.get(name) and os.environ.get(fallback):
                    values[name] = os.environ[fallback]
            values["kafka_bootstrap_servers"] = (
                values.get("kafka_bootstrap_servers") or DEFAULT_KAFKA
            )
        return values

    @model_validator(mode="after")
    def _check(self) -> ServiceSettings:
        """Kafka security settings that cannot work together fail here, at start (KafkaAuth),
        and so do TLS options in the database URL: they would reach only one of the two ways
        the service connects (docs/deploying.md "PostgreSQL over TLS")."""
        self.kafka_auth  # noqa: B018
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


# Every `<SERVICE>_KAFKA_...` falls back to the un-prefixed `KAFKA_...` when unset, the topic
# prefix to COACHING_TOPIC_PREFIX.
_SHARED = {name: name.upper() for name in ServiceSettings.model_fields if name.startswith("kafka_")}
_SHARED["topic_prefix"] = "COACHING_TOPIC_PREFIX"
